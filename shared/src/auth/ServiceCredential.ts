/**
 * The credential a service presents when it calls another (the requestor → the processor), as
 * gRPC metadata:
 *
 * - `AUTH_MODE=disabled`: none;
 * - `AUTH_SERVICE_API_KEY` set: `x-api-key` (the processor's `AUTH_API_KEYS_FILE` maps its hash to
 *   e.g. `{"sub": "requestor", "roles": ["service"]}`);
 * - else, with `AUTH_JWT_SECRET`: a token it mints itself (`sub` = the service, `roles` =
 *   `["service"]`, 10 minutes, `iss`/`aud` when configured), minted again a minute before it expires;
 * - else (keys from `AUTH_JWKS_URL` / `AUTH_JWT_PUBLIC_KEY_FILE` only: it cannot sign) the
 *   service refuses to start, naming `AUTH_SERVICE_API_KEY`.
 */
import { Clock, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { type AuthSettings, authConfig } from "./config.ts"
import { mintToken } from "./tokens.ts"

export class ServiceCredentialMissing extends Schema.TaggedError<ServiceCredentialMissing>()(
  "ServiceCredentialMissing",
  { service: Schema.String },
) {
  override get message() {
    return (
      `invalid configuration: AUTH_SERVICE_API_KEY is required: with AUTH_MODE=jwt the ${this.service} must ` +
      "authenticate its calls, and without AUTH_JWT_SECRET it cannot mint a token"
    )
  }
}

export interface ServiceCredentialShape {
  /** Metadata entries to add to every call (empty with `AUTH_MODE=disabled`). */
  readonly headers: Effect.Effect<Readonly<Record<string, string>>>
}

const tokenSeconds = 600
const renewBeforeSeconds = 60

export class ServiceCredential extends Context.Service<ServiceCredential, ServiceCredentialShape>()(
  "dcent/auth/ServiceCredential",
) {
  static readonly make = Effect.fn("ServiceCredential.make")(function* (settings: AuthSettings, service: string) {
    if (settings.mode === "disabled") return ServiceCredential.of({ headers: Effect.succeed({}) })
    if (Option.isSome(settings.serviceApiKey)) {
      const headers = { "x-api-key": Redacted.value(settings.serviceApiKey.value) }
      return ServiceCredential.of({ headers: Effect.succeed(headers) })
    }
    if (Option.isNone(settings.jwtSecret)) return yield* new ServiceCredentialMissing({ service })
    const secret = Redacted.value(settings.jwtSecret.value)
    let current: { readonly token: string; readonly renewAt: number } | undefined
    const headers = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (current === undefined || now >= current.renewAt) {
        const token = yield* Effect.promise(() =>
          mintToken({
            secret,
            sub: service,
            roles: ["service"],
            expiresInSeconds: tokenSeconds,
            issuer: Option.getOrUndefined(settings.issuer),
            audience: Option.getOrUndefined(settings.audience),
            nowMillis: now,
          }),
        )
        current = { token, renewAt: now + (tokenSeconds - renewBeforeSeconds) * 1000 }
      }
      return { authorization: `Bearer ${current.token}` }
    })
    return ServiceCredential.of({ headers })
  })

  static readonly layer = (service: string) =>
    Layer.effect(
      ServiceCredential,
      Effect.flatMap(authConfig, (settings) => ServiceCredential.make(settings, service)),
    )

  /** No credential (tests without authentication). */
  static readonly none = Layer.succeed(ServiceCredential, ServiceCredential.of({ headers: Effect.succeed({}) }))
}
