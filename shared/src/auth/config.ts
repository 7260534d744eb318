/**
 * Authentication settings, read from the environment by both services (README, "Security"):
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AUTH_MODE` | `jwt` (default) or `disabled` (every request allowed; a warning at start-up) |
 * | `AUTH_JWT_SECRET` | HS256 secret |
 * | `AUTH_JWKS_URL` | RS256/ES256 keys from a JWKS endpoint (cached, refreshed on an unknown `kid`) |
 * | `AUTH_JWT_PUBLIC_KEY_FILE` | an RS256 or ES256 public key (PEM) |
 * | `AUTH_JWT_ISSUER` / `AUTH_JWT_AUDIENCE` | when set, `iss` / `aud` must match |
 * | `AUTH_API_KEYS_FILE` | JSON list of `{sha256, sub, roles}`: hashed API keys (`X-API-Key`) |
 * | `AUTH_SERVICE_API_KEY` | the key the requestor presents to the processor (else it mints a token with `AUTH_JWT_SECRET`) |
 *
 * With `AUTH_MODE=jwt` a service that has no way to verify a token (none of `AUTH_JWT_SECRET`,
 * `AUTH_JWKS_URL`, `AUTH_JWT_PUBLIC_KEY_FILE`) refuses to start, naming them.
 */
import { Config, ConfigProvider, Effect, Option, Redacted } from "effect"

export type AuthMode = "jwt" | "disabled"

export interface AuthSettings {
  readonly mode: AuthMode
  readonly jwtSecret: Option.Option<Redacted.Redacted<string>>
  readonly jwksUrl: Option.Option<URL>
  readonly publicKeyFile: Option.Option<string>
  readonly issuer: Option.Option<string>
  readonly audience: Option.Option<string>
  readonly apiKeysFile: Option.Option<string>
  /** The key this service presents when it calls the other (`AUTH_SERVICE_API_KEY`). */
  readonly serviceApiKey: Option.Option<Redacted.Redacted<string>>
}

const optionalString = (name: string) => Config.option(Config.NonEmptyString(name))

const configError = (message: string) => new Config.ConfigError(new ConfigProvider.SourceError({ message }))

export const authModeConfig: Config.Config<AuthMode> = Config.Literals(["jwt", "disabled"], "AUTH_MODE").pipe(
  Config.withDefault("jwt" as const),
)

export const authConfig: Config.Config<AuthSettings> = Config.all({
  mode: authModeConfig,
  jwtSecret: Config.option(Config.Redacted("AUTH_JWT_SECRET")),
  jwksUrl: Config.option(Config.URL("AUTH_JWKS_URL")),
  publicKeyFile: optionalString("AUTH_JWT_PUBLIC_KEY_FILE"),
  issuer: optionalString("AUTH_JWT_ISSUER"),
  audience: optionalString("AUTH_JWT_AUDIENCE"),
  apiKeysFile: optionalString("AUTH_API_KEYS_FILE"),
  serviceApiKey: Config.option(Config.Redacted("AUTH_SERVICE_API_KEY")),
}).pipe(
  Config.mapEffect((settings) => {
    if (settings.mode === "disabled") return Effect.succeed(settings)
    if (Option.isSome(settings.jwksUrl) && !/^https?:$/.test(settings.jwksUrl.value.protocol)) {
      return Effect.fail(configError("AUTH_JWKS_URL: expected an http:// or https:// URL"))
    }
    if (Option.isSome(settings.jwtSecret) && Redacted.value(settings.jwtSecret.value).trim().length === 0) {
      return Effect.fail(configError("AUTH_JWT_SECRET is empty"))
    }
    const canVerify =
      Option.isSome(settings.jwtSecret) || Option.isSome(settings.jwksUrl) || Option.isSome(settings.publicKeyFile)
    return canVerify
      ? Effect.succeed(settings)
      : Effect.fail(
          configError(
            "AUTH_MODE=jwt (the default) needs a way to verify tokens: set AUTH_JWT_SECRET (HS256), AUTH_JWKS_URL " +
              "or AUTH_JWT_PUBLIC_KEY_FILE (RS256/ES256) — or AUTH_MODE=disabled to run without authentication (local only)",
          ),
        )
  }),
)

/** `AUTH_MODE=disabled` with every other setting unset (tests, local runs). */
export const disabledAuth: AuthSettings = {
  mode: "disabled",
  jwtSecret: Option.none(),
  jwksUrl: Option.none(),
  publicKeyFile: Option.none(),
  issuer: Option.none(),
  audience: Option.none(),
  apiKeysFile: Option.none(),
  serviceApiKey: Option.none(),
}
