/**
 * Authentication on the REST APIs of both services, as an HttpApi security middleware
 * (`Authentication`) on every business group (health probes, `/metrics`, `/docs` and
 * `/openapi.json` stay open). The OpenAPI documents declare its two schemes: `bearer`
 * (`Authorization: Bearer <JWT>`) and `apiKey` (`X-API-Key`).
 *
 * The middleware authenticates with `Authenticator` (either scheme: it reads both headers) and
 * provides the handlers with `CurrentPrincipal`; without a valid credential it answers 401 with
 * the common error body and `WWW-Authenticate: Bearer realm="dcent"…`, counted and logged
 * (`denials.ts`). Authorization — which principal may do what to which order — is each service's
 * policy module, run by the handlers (they know the order).
 *
 * When the process has `RateLimits`, the authenticated request then spends its principal's budget
 * (`../ratelimit/http.ts`: `RateLimit-*` headers, 429 past it) before its handler runs.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { HttpServerRequest, type HttpServerResponse } from "effect/http"
import { type HttpApiEndpoint, HttpApiMiddleware, HttpApiSecurity } from "effect/http-api"
import { errorFields, onWireWithHeaders } from "../http/errors.ts"
import { AuthEntries } from "../metrics/catalogue.ts"
import { Metrics } from "../metrics/Metrics.ts"
import { RateLimited, RateLimitedResponse, rateLimitedHttp } from "../ratelimit/http.ts"
import { RateLimits } from "../ratelimit/RateLimits.ts"
import { Authenticator } from "./Authenticator.ts"
import { recordDenial } from "./denials.ts"
import type { Unauthenticated } from "./errors.ts"
import type { Principal } from "./Principal.ts"

/** The principal of the request being handled (provided by `Authentication`). */
export class CurrentPrincipal extends Context.Service<CurrentPrincipal, Principal>()("dcent/auth/CurrentPrincipal") {}

/** 401: no valid credential. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  ...errorFields,
  /** The `WWW-Authenticate` challenge (RFC 6750). */
  challenge: Schema.String,
}) {
  static readonly of = (error: Unauthenticated) =>
    new Unauthorized({
      code: error.reason === "missing_credentials" ? "unauthenticated" : error.reason,
      message: `authentication required: ${error.detail}`,
      details: [{ path: "headers.authorization", problem: error.detail }],
      challenge:
        error.reason === "missing_credentials"
          ? 'Bearer realm="dcent"'
          : `Bearer realm="dcent", error="invalid_token", error_description="${error.detail.replace(/"/g, "'")}"`,
    })
}

/** 401 with the common error body and `WWW-Authenticate`. */
export const UnauthorizedResponse = Unauthorized.pipe(
  onWireWithHeaders(
    401,
    { "www-authenticate": Schema.String },
    (error, headers) => new Unauthorized({ ...error, challenge: headers["www-authenticate"] }),
    (error) => ({ "www-authenticate": error.challenge }),
  ),
).annotate({
  description: "No valid credential: send `Authorization: Bearer <JWT>` (claims `sub`, `roles`, `exp`) or `X-API-Key`",
})

export const apiKeyHeader = "x-api-key"

export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentPrincipal }>()(
  "dcent/auth/Authentication",
  {
    // 429 when the process has rate limits (`../ratelimit/http.ts`).
    error: [UnauthorizedResponse, RateLimitedResponse],
    security: {
      bearer: HttpApiSecurity.bearer,
      apiKey: HttpApiSecurity.apiKey({ in: "header", key: "X-API-Key" }),
    },
  },
) {}

/** `Authentication` over the process's `Authenticator` (both schemes read both headers). */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const authenticator = yield* Authenticator
    const { catalogue } = yield* Metrics.orUnscraped
    const limits = yield* RateLimits.option
    const refused = new WeakMap<HttpServerRequest.HttpServerRequest, RateLimited>()
    // The security middleware tries the schemes in turn until one succeeds: both read both
    // headers, so the second only repeats a refusal, which only the first records.
    const authenticate =
      (record: boolean) =>
      <E, R>(
        httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | CurrentPrincipal>,
        { endpoint }: { readonly endpoint: HttpApiEndpoint.Top },
      ) =>
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const principal = yield* authenticator
            .authenticate({ authorization: request.headers.authorization, apiKey: request.headers[apiKeyHeader] })
            .pipe(
              Effect.tapError((error) =>
                !record
                  ? Effect.void
                  : recordDenial(catalogue, {
                      entry: AuthEntries.Http,
                      route: `${endpoint.method} ${endpoint.path}`,
                      status: 401,
                      reason: error.reason,
                      detail: error.detail,
                    }),
              ),
              Effect.mapError(Unauthorized.of),
            )
          const handled = Effect.provideService(httpEffect, CurrentPrincipal, principal)
          if (limits === undefined) return yield* handled
          // The second scheme repeats the first's refusal without spending or counting again.
          const refusedBefore = refused.get(request)
          if (refusedBefore !== undefined) return yield* refusedBefore
          return yield* rateLimitedHttp(limits, handled, {
            principal,
            address: Option.getOrUndefined(request.remoteAddress),
            endpoint,
          }).pipe(
            Effect.tapError((error) =>
              error instanceof RateLimited ? Effect.sync(() => refused.set(request, error)) : Effect.void,
            ),
          )
        })
    return Authentication.of({ bearer: authenticate(true), apiKey: authenticate(false) })
  }),
)
