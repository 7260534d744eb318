/**
 * Turns a request's credentials into a `Principal`, or fails with `Unauthenticated`.
 *
 * - `Authorization: Bearer <JWT>` (REST) / metadata `authorization` (gRPC), verified with
 *   `jose`: HS256 with `AUTH_JWT_SECRET`; RS256/ES256 with the keys of `AUTH_JWKS_URL` (jose's
 *   remote key set: cached, re-fetched on an unknown `kid`, at most every 30 s) or the key of
 *   `AUTH_JWT_PUBLIC_KEY_FILE`. Only those algorithms are accepted (`alg: none` never is), `exp`
 *   and `sub` are required, `iss`/`aud` checked when `AUTH_JWT_ISSUER`/`AUTH_JWT_AUDIENCE` are
 *   set; "now" is the Effect `Clock`. `roles` must be an array (unknown roles are dropped).
 * - `X-API-Key` / metadata `x-api-key`: looked up by its SHA-256 in `AUTH_API_KEYS_FILE`.
 *   A bearer token, when present, wins.
 * - `AUTH_MODE=disabled`: every request is `unrestricted` (one warning at start-up).
 */
import { createPublicKey } from "node:crypto"
import { readFile } from "node:fs/promises"
import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import {
  type CryptoKey,
  createRemoteJWKSet,
  importSPKI,
  type JWSHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose"
import { type ApiKeyTable, hashApiKey, loadApiKeys } from "./apiKeys.ts"
import { type AuthMode, type AuthSettings, authConfig } from "./config.ts"
import { PublicKeyFileError, Unauthenticated, UnauthenticatedReasons } from "./errors.ts"
import { isRole, type Principal, unrestricted } from "./Principal.ts"

/** What a request presented (raw header/metadata values). */
export interface Credentials {
  /** `Authorization` */
  readonly authorization?: string | undefined
  /** `X-API-Key` */
  readonly apiKey?: string | undefined
}

export interface AuthenticatorShape {
  readonly mode: AuthMode
  readonly authenticate: (credentials: Credentials) => Effect.Effect<Principal, Unauthenticated>
}

const bearerPattern = /^Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i

const unauthenticated = (reason: Unauthenticated["reason"], detail: string) => new Unauthenticated({ reason, detail })

/** jose's error codes → what the caller is told (fixed texts: nothing of the token is echoed). */
const fromJoseError = (error: unknown): Unauthenticated => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return unauthenticated(UnauthenticatedReasons.Expired, "the token has expired")
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (error as { claim?: unknown }).claim
      return unauthenticated(
        UnauthenticatedReasons.InvalidToken,
        typeof claim === "string"
          ? `the token's "${claim}" claim is missing or not accepted`
          : "a claim is not accepted",
      )
    }
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return unauthenticated(UnauthenticatedReasons.InvalidToken, "the token's algorithm is not accepted")
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return unauthenticated(UnauthenticatedReasons.InvalidToken, "the token's signature does not verify")
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return unauthenticated(UnauthenticatedReasons.InvalidToken, "no key of AUTH_JWKS_URL matches the token")
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
      return unauthenticated(UnauthenticatedReasons.InvalidToken, "the signing keys (AUTH_JWKS_URL) are unavailable")
    default:
      return unauthenticated(UnauthenticatedReasons.InvalidToken, "the token is malformed or cannot be verified")
  }
}

const principalOf = (payload: JWTPayload): Principal | Unauthenticated => {
  const sub = payload.sub
  if (typeof sub !== "string" || sub.trim() === "" || sub.length > 128) {
    return unauthenticated(UnauthenticatedReasons.InvalidToken, 'the token\'s "sub" claim is missing or empty')
  }
  const roles = payload.roles
  if (!Array.isArray(roles)) {
    return unauthenticated(UnauthenticatedReasons.InvalidToken, 'the token\'s "roles" claim must be an array')
  }
  return { sub, roles: roles.filter(isRole), via: "jwt" }
}

/** The RS256/ES256 public key of a PEM file, with its algorithm. */
const loadPublicKey = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const pem = await readFile(path, "utf8")
      const type = createPublicKey(pem).asymmetricKeyType
      const alg = type === "rsa" ? "RS256" : type === "ec" ? "ES256" : undefined
      if (alg === undefined)
        throw new Error(`a ${type ?? "unknown"} key; expected an RSA (RS256) or EC P-256 (ES256) public key`)
      return { alg, key: await importSPKI(pem, alg) }
    },
    catch: (cause) =>
      new PublicKeyFileError({ path, problem: cause instanceof Error ? cause.message : "cannot be read" }),
  })

export class Authenticator extends Context.Service<Authenticator, AuthenticatorShape>()("dcent/auth/Authenticator") {
  static readonly make = Effect.fn("Authenticator.make")(function* (settings: AuthSettings) {
    if (settings.mode === "disabled") {
      yield* Effect.logWarning(
        "AUTH_MODE=disabled: no authentication, every request may act as anyone — keep the services on 127.0.0.1",
      )
      return Authenticator.of({ mode: "disabled", authenticate: () => Effect.succeed(unrestricted) })
    }
    const secret = Option.map(settings.jwtSecret, (value) => new TextEncoder().encode(Redacted.value(value)))
    const jwks = Option.map(settings.jwksUrl, (url) =>
      createRemoteJWKSet(url, { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 }),
    )
    const publicKey = Option.isSome(settings.publicKeyFile)
      ? Option.some(yield* loadPublicKey(settings.publicKeyFile.value))
      : Option.none<{ readonly alg: string; readonly key: CryptoKey }>()
    const apiKeys: ApiKeyTable = Option.isSome(settings.apiKeysFile)
      ? yield* loadApiKeys(settings.apiKeysFile.value)
      : new Map()

    const algorithms = [
      ...(Option.isSome(secret) ? ["HS256"] : []),
      ...(Option.isSome(jwks) ? ["RS256", "ES256"] : Option.isSome(publicKey) ? [publicKey.value.alg] : []),
    ]
    const getKey: JWTVerifyGetKey = async (header: JWSHeaderParameters, token) => {
      if (header.alg === "HS256" && Option.isSome(secret)) return secret.value
      if (
        Option.isSome(publicKey) &&
        header.alg === publicKey.value.alg &&
        (header.kid === undefined || Option.isNone(jwks))
      )
        return publicKey.value.key
      if (Option.isSome(jwks)) return jwks.value(header, token)
      throw Object.assign(new Error("algorithm not accepted"), { code: "ERR_JOSE_ALG_NOT_ALLOWED" })
    }
    const verifyOptions = {
      algorithms,
      requiredClaims: ["exp", "sub"],
      ...(Option.isSome(settings.issuer) ? { issuer: settings.issuer.value } : {}),
      ...(Option.isSome(settings.audience) ? { audience: settings.audience.value } : {}),
    }

    const verifyToken = (token: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const { payload } = yield* Effect.tryPromise({
          try: () => jwtVerify(token, getKey, { ...verifyOptions, currentDate: new Date(now) }),
          catch: fromJoseError,
        })
        const principal = principalOf(payload)
        return principal instanceof Unauthenticated ? yield* principal : principal
      })

    const byApiKey = (key: string) => {
      const principal = apiKeys.get(hashApiKey(key))
      return principal === undefined
        ? Effect.fail(unauthenticated(UnauthenticatedReasons.InvalidApiKey, "the API key is not known"))
        : Effect.succeed(principal)
    }

    const authenticate = (credentials: Credentials): Effect.Effect<Principal, Unauthenticated> => {
      const authorization = credentials.authorization?.trim() ?? ""
      const apiKey = credentials.apiKey?.trim() ?? ""
      if (authorization !== "") {
        const bearer = bearerPattern.exec(authorization)
        if (bearer?.[1] !== undefined) return verifyToken(bearer[1])
        if (apiKey === "") {
          return Effect.fail(
            unauthenticated(UnauthenticatedReasons.InvalidToken, "expected Authorization: Bearer <token>"),
          )
        }
      }
      if (apiKey !== "") return byApiKey(apiKey)
      return Effect.fail(
        unauthenticated(UnauthenticatedReasons.Missing, "send Authorization: Bearer <token> or X-API-Key"),
      )
    }

    yield* Effect.logInfo("authentication on").pipe(
      Effect.annotateLogs({
        algorithms: algorithms.join(","),
        apiKeys: apiKeys.size,
        issuer: Option.getOrElse(settings.issuer, () => "(any)"),
        audience: Option.getOrElse(settings.audience, () => "(any)"),
      }),
    )
    return Authenticator.of({ mode: "jwt", authenticate })
  })

  /** From the environment (`authConfig`). */
  static readonly layer = Layer.effect(Authenticator, Effect.flatMap(authConfig, Authenticator.make))

  /** `AUTH_MODE=disabled` without the start-up warning (tests). */
  static readonly layerDisabled = Layer.succeed(
    Authenticator,
    Authenticator.of({ mode: "disabled", authenticate: () => Effect.succeed(unrestricted) }),
  )

  /**
   * For tests: `tokens` maps a bearer token (or an API key) to its principal; anything else is
   * `invalid_token`, nothing is `missing_credentials`.
   */
  static readonly layerTest = (tokens: Readonly<Record<string, Principal>>) =>
    Layer.succeed(
      Authenticator,
      Authenticator.of({
        mode: "jwt",
        authenticate: (credentials) => {
          const token = bearerPattern.exec(credentials.authorization ?? "")?.[1] ?? credentials.apiKey
          if (token === undefined || token === "") {
            return Effect.fail(unauthenticated(UnauthenticatedReasons.Missing, "no credentials"))
          }
          const principal = tokens[token]
          return principal === undefined
            ? Effect.fail(unauthenticated(UnauthenticatedReasons.InvalidToken, "unknown test token"))
            : Effect.succeed(principal)
        },
      }),
    )
}
