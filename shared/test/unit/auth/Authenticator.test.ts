/**
 * The authenticator against real jose tokens: HS256 with a secret, RS256 from a public key file,
 * ES256 from a JWKS URL (a local HTTP server), API keys by hash; expiry on the test clock; what a
 * refusal says (and that it never contains the token, key or secret); the configuration check.
 */
import { writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from "jose"
import { Authenticator } from "../../../src/auth/Authenticator.ts"
import { hashApiKey } from "../../../src/auth/apiKeys.ts"
import { type AuthSettings, authConfig, disabledAuth } from "../../../src/auth/config.ts"
import type { Unauthenticated } from "../../../src/auth/errors.ts"
import { mintToken } from "../../../src/auth/tokens.ts"

const secret = "test-secret-0123456789-abcdefghijklmnop"

const settings = (overrides: Partial<AuthSettings>): AuthSettings => ({ ...disabledAuth, mode: "jwt", ...overrides })
const withSecret = settings({ jwtSecret: Option.some(Redacted.make(secret)) })

const mint = (options: {
  sub?: string
  roles?: ReadonlyArray<"buyer" | "seller" | "operator">
  ttl?: number
  issuer?: string
  audience?: string
}) =>
  Effect.flatMap(Clock.currentTimeMillis, (nowMillis) =>
    Effect.promise(() =>
      mintToken({
        secret,
        sub: options.sub ?? "BUYER-001",
        roles: options.roles ?? ["buyer"],
        expiresInSeconds: options.ttl ?? 60,
        issuer: options.issuer,
        audience: options.audience,
        nowMillis,
      }),
    ),
  )

const refusal = <A>(effect: Effect.Effect<A, Unauthenticated>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error(`expected a refusal, got ${JSON.stringify(exit.value)}`)
    const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
    if (reason?._tag !== "Fail") throw new Error("expected a failure")
    return reason.error
  })

describe("Authenticator (HS256)", () => {
  it.effect("accepts a valid token: sub and roles", () =>
    Effect.gen(function* () {
      const auth = yield* Authenticator.make(withSecret)
      const token = yield* mint({ sub: "SELLER-001", roles: ["seller"] })
      const principal = yield* auth.authenticate({ authorization: `Bearer ${token}` })
      expect(principal).toEqual({ sub: "SELLER-001", roles: ["seller"], via: "jwt" })
    }),
  )

  it.effect("refuses an expired token (test clock) as token_expired", () =>
    Effect.gen(function* () {
      const auth = yield* Authenticator.make(withSecret)
      const token = yield* mint({ ttl: 60 })
      yield* TestClock.adjust("61 seconds")
      const error = yield* refusal(auth.authenticate({ authorization: `Bearer ${token}` }))
      expect(error.reason).toBe("token_expired")
      expect(error.message).not.toContain(token)
    }),
  )

  it.effect("refuses a token without exp, with alg none, badly signed, malformed; none is missing_credentials", () =>
    Effect.gen(function* () {
      const auth = yield* Authenticator.make(withSecret)
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const noExp = yield* Effect.promise(() =>
        new SignJWT({ roles: ["buyer"] })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("BUYER-001")
          .setIssuedAt(now)
          .sign(new TextEncoder().encode(secret)),
      )
      const none = new UnsecuredJWT({ roles: ["operator"] })
        .setSubject("BUYER-001")
        .setExpirationTime(now + 60)
        .encode()
      const otherSecret = yield* Effect.promise(() =>
        new SignJWT({ roles: ["buyer"] })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("BUYER-001")
          .setExpirationTime(now + 60)
          .sign(new TextEncoder().encode("another-secret-another-secret-000")),
      )
      for (const token of [noExp, none, otherSecret, "not.a.jwt"]) {
        const error = yield* refusal(auth.authenticate({ authorization: `Bearer ${token}` }))
        expect(error.reason, token).toBe("invalid_token")
        expect(error.message).not.toContain(secret)
      }
      expect((yield* refusal(auth.authenticate({}))).reason).toBe("missing_credentials")
      expect((yield* refusal(auth.authenticate({ authorization: "Basic Zm9vOmJhcg==" }))).reason).toBe("invalid_token")
    }),
  )

  it.effect("checks iss and aud when configured", () =>
    Effect.gen(function* () {
      const auth = yield* Authenticator.make(
        settings({
          jwtSecret: Option.some(Redacted.make(secret)),
          issuer: Option.some("https://issuer.example"),
          audience: Option.some("dcent"),
        }),
      )
      const good = yield* mint({ issuer: "https://issuer.example", audience: "dcent" })
      expect((yield* auth.authenticate({ authorization: `Bearer ${good}` })).sub).toBe("BUYER-001")
      for (const token of [
        yield* mint({ issuer: "https://other.example", audience: "dcent" }),
        yield* mint({ issuer: "https://issuer.example", audience: "other" }),
        yield* mint({}),
      ]) {
        expect((yield* refusal(auth.authenticate({ authorization: `Bearer ${token}` }))).reason).toBe("invalid_token")
      }
    }),
  )

  it.effect("requires roles to be an array; unknown roles are dropped", () =>
    Effect.gen(function* () {
      const auth = yield* Authenticator.make(withSecret)
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const sign = (roles: unknown) =>
        Effect.promise(() =>
          new SignJWT({ roles })
            .setProtectedHeader({ alg: "HS256" })
            .setSubject("BUYER-001")
            .setExpirationTime(now + 60)
            .sign(new TextEncoder().encode(secret)),
        )
      expect((yield* refusal(auth.authenticate({ authorization: `Bearer ${yield* sign("operator")}` }))).reason).toBe(
        "invalid_token",
      )
      const principal = yield* auth.authenticate({ authorization: `Bearer ${yield* sign(["buyer", "admin"])}` })
      expect(principal.roles).toEqual(["buyer"])
    }),
  )
})

describe("Authenticator (RS256 key file, ES256 JWKS)", () => {
  it.live("verifies RS256 with AUTH_JWT_PUBLIC_KEY_FILE and refuses HS256 tokens then", () =>
    Effect.gen(function* () {
      const { publicKey, privateKey } = yield* Effect.promise(() => generateKeyPair("RS256"))
      const file = join(tmpdir(), `dcent-auth-test-${process.pid}.pem`)
      writeFileSync(file, yield* Effect.promise(() => exportSPKI(publicKey)))
      const auth = yield* Authenticator.make(settings({ publicKeyFile: Option.some(file) }))
      const token = yield* Effect.promise(() =>
        new SignJWT({ roles: ["operator"] })
          .setProtectedHeader({ alg: "RS256" })
          .setSubject("ops")
          .setExpirationTime("1 minute")
          .sign(privateKey),
      )
      expect(yield* auth.authenticate({ authorization: `Bearer ${token}` })).toEqual({
        sub: "ops",
        roles: ["operator"],
        via: "jwt",
      })
      const hs = yield* mint({})
      expect((yield* refusal(auth.authenticate({ authorization: `Bearer ${hs}` }))).reason).toBe("invalid_token")
    }),
  )

  it.live("verifies ES256 with keys from AUTH_JWKS_URL (fetched, cached)", () =>
    Effect.gen(function* () {
      const { publicKey, privateKey } = yield* Effect.promise(() => generateKeyPair("ES256"))
      const jwk = { ...(yield* Effect.promise(() => exportJWK(publicKey))), kid: "k1", alg: "ES256", use: "sig" }
      let fetches = 0
      const server = yield* Effect.acquireRelease(
        Effect.promise(
          () =>
            new Promise<Server>((resolve) => {
              const s = createServer((_req, res) => {
                fetches++
                res.setHeader("content-type", "application/json")
                res.end(JSON.stringify({ keys: [jwk] }))
              })
              s.listen(0, "127.0.0.1", () => resolve(s))
            }),
        ),
        (s) => Effect.promise(() => new Promise<void>((resolve) => s.close(() => resolve()))),
      )
      const port = (server.address() as AddressInfo).port
      const auth = yield* Authenticator.make(
        settings({ jwksUrl: Option.some(new URL(`http://127.0.0.1:${port}/jwks.json`)) }),
      )
      const sign = (kid: string) =>
        Effect.promise(() =>
          new SignJWT({ roles: ["seller"] })
            .setProtectedHeader({ alg: "ES256", kid })
            .setSubject("SELLER-002")
            .setExpirationTime("1 minute")
            .sign(privateKey),
        )
      const token = yield* sign("k1")
      expect((yield* auth.authenticate({ authorization: `Bearer ${token}` })).sub).toBe("SELLER-002")
      expect((yield* auth.authenticate({ authorization: `Bearer ${token}` })).sub).toBe("SELLER-002")
      expect(fetches).toBe(1)
      expect((yield* refusal(auth.authenticate({ authorization: `Bearer ${yield* sign("unknown")}` }))).reason).toBe(
        "invalid_token",
      )
    }).pipe(Effect.scoped),
  )
})

describe("Authenticator (API keys)", () => {
  it.effect("maps a key by its hash to its principal; an unknown key is invalid_api_key; a bearer token wins", () =>
    Effect.gen(function* () {
      const key = "k-0123456789abcdef0123456789abcdef"
      const file = join(tmpdir(), `dcent-api-keys-${process.pid}.json`)
      writeFileSync(file, JSON.stringify([{ sha256: hashApiKey(key), sub: "requestor", roles: ["service"] }]))
      const auth = yield* Authenticator.make(
        settings({ jwtSecret: Option.some(Redacted.make(secret)), apiKeysFile: Option.some(file) }),
      )
      expect(yield* auth.authenticate({ apiKey: key })).toEqual({
        sub: "requestor",
        roles: ["service"],
        via: "api_key",
      })
      const error = yield* refusal(auth.authenticate({ apiKey: "wrong" }))
      expect(error.reason).toBe("invalid_api_key")
      const token = yield* mint({ sub: "BUYER-009" })
      expect((yield* auth.authenticate({ authorization: `Bearer ${token}`, apiKey: key })).sub).toBe("BUYER-009")
    }),
  )

  it.effect("refuses to start on a malformed keys file, naming the variable", () =>
    Effect.gen(function* () {
      const file = join(tmpdir(), `dcent-api-keys-bad-${process.pid}.json`)
      writeFileSync(file, JSON.stringify([{ key: "plain" }]))
      const exit = yield* Effect.exit(
        Authenticator.make(settings({ jwtSecret: Option.some(Redacted.make(secret)), apiKeysFile: Option.some(file) })),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(
        String(Exit.isFailure(exit) ? exit.cause.reasons.map((r) => (r._tag === "Fail" ? r.error.message : "")) : ""),
      ).toContain("AUTH_API_KEYS_FILE")
    }),
  )
})

describe("authConfig", () => {
  const parse = (env: Record<string, string>) => Effect.runSyncExit(authConfig.parse(ConfigProvider.fromEnv({ env })))

  it("defaults to jwt and refuses to start without a way to verify tokens, naming the variables", () => {
    const exit = parse({})
    expect(Exit.isFailure(exit)).toBe(true)
    const text = Exit.isFailure(exit)
      ? String(exit.cause.reasons.map((r) => (r._tag === "Fail" ? r.error.message : "")))
      : ""
    expect(text).toContain("AUTH_JWT_SECRET")
    expect(text).toContain("AUTH_JWKS_URL")
    expect(text).toContain("AUTH_JWT_PUBLIC_KEY_FILE")
  })

  it("accepts disabled, and jwt with a secret (kept redacted)", () => {
    const disabled = parse({ AUTH_MODE: "disabled" })
    expect(Exit.isSuccess(disabled) && disabled.value.mode).toBe("disabled")
    const jwt = parse({ AUTH_JWT_SECRET: secret })
    expect(Exit.isSuccess(jwt) && jwt.value.mode).toBe("jwt")
    expect(JSON.stringify(Exit.isSuccess(jwt) ? jwt.value : {})).not.toContain(secret)
    expect(Exit.isFailure(parse({ AUTH_MODE: "none" }))).toBe(true)
  })

  it.effect("disabled: everyone is unrestricted", () =>
    Effect.gen(function* () {
      const auth = yield* Authenticator.make(disabledAuth)
      expect((yield* auth.authenticate({})).via).toBe("disabled")
    }),
  )
})
