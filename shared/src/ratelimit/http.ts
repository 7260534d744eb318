/**
 * Rate limits on the REST APIs of both services, run by the `Authentication` middleware once it
 * knows the principal (`../auth/http.ts`): every authenticated group is limited, the probes,
 * `/metrics`, `/docs` and `/openapi.json` never are.
 *
 * The class of an endpoint is its `RateLimitClass` annotation, else `read` for GET and `write`
 * for the other methods; the requestor's SSE route is annotated `stream`, which also takes a slot
 * among the principal's open streams (`RATE_LIMIT_STREAMS_PER_PRINCIPAL`), held until the
 * response ends.
 *
 * Allowed responses carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; a refusal
 * is answered at once, before the handler (no body read, no Redis or broker work, nothing
 * published on the failure topics — a flood must not become a flood of failure messages), with
 * 429 (`RateLimited`, declared by `Authentication` so the OpenAPI documents list it), the same
 * headers plus `Retry-After`, and the common error body (`rate_limited`, or `too_many_streams`),
 * counted in `dcent_rate_limit_refused_total`.
 */
import { Context, Effect, Option, Schema, type Scope } from "effect"
import { HttpEffect, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { type HttpApiEndpoint, HttpApiSchema } from "effect/http-api"
import type { Principal } from "../auth/Principal.ts"
import { ErrorBody, ErrorDetail, errorBody } from "../http/errors.ts"
import { concurrentStreamsClass, RateLimitEntries } from "../metrics/catalogue.ts"
import { type RouteClass, RouteClasses } from "./config.ts"
import { rateLimitedBody, rateLimitHeaders, subjectOf, tooManyStreamsBody } from "./decision.ts"
import { isStreamRefusal, type RateLimitsShape } from "./RateLimits.ts"

/** 429: past the budget (`rate_limited`) or the cap on open streams (`too_many_streams`). */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  code: Schema.String,
  message: Schema.String,
  details: Schema.Array(ErrorDetail),
  /** `Retry-After` and the `RateLimit-*` headers. */
  headers: Schema.Record(Schema.String, Schema.String),
}) {}

const optionalHeader = Schema.optionalKey(Schema.String)

/** 429 with the common error body, `Retry-After` and `RateLimit-*` (declared on every authenticated endpoint). */
export const RateLimitedResponse = RateLimited.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: ErrorBody.pipe(HttpApiSchema.status(429)),
      headers: {
        "retry-after": Schema.String,
        "ratelimit-limit": optionalHeader,
        "ratelimit-remaining": optionalHeader,
        "ratelimit-reset": optionalHeader,
      },
    },
    {
      decode: ({ body, headers }) => new RateLimited({ ...body.error, headers: { ...headers } }),
      encode: (error) => ({
        body: errorBody(error.code, error.message, error.details),
        headers: {
          "retry-after": error.headers["retry-after"] ?? "1",
          ...Object.fromEntries(
            ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"].flatMap((name) => {
              const value = error.headers[name]
              return value === undefined ? [] : [[name, value]]
            }),
          ),
        },
      }),
    },
  ),
).annotate({
  description:
    "Too many requests of this class by this principal (all replicas together; `rate_limited`) or too many " +
    "streams open (`too_many_streams`): retry after `Retry-After` seconds",
})

const rateLimited = (body: ErrorBody, headers: Record<string, string>) => new RateLimited({ ...body.error, headers })

/** Endpoint annotation: the endpoint's rate-limit class (else `read` for GET, `write` for the rest). */
export class RateLimitClass extends Context.Service<RateLimitClass, RouteClass>()("dcent/ratelimit/RateLimitClass") {}

export const routeClassOf = (endpoint: HttpApiEndpoint.Top): RouteClass =>
  Option.getOrElse(Context.getOption(endpoint.annotations, RateLimitClass), () =>
    endpoint.method === "GET" || endpoint.method === "HEAD" ? RouteClasses.Read : RouteClasses.Write,
  )

/**
 * Runs `httpEffect` when `principal` (or its client address) is within its budget for the
 * endpoint's class — with the `RateLimit-*` headers on the response — else answers 429.
 */
export const rateLimitedHttp = <E, R>(
  limits: RateLimitsShape,
  httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  options: {
    readonly principal: Principal
    readonly address: string | undefined
    readonly endpoint: HttpApiEndpoint.Top
  },
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  E | RateLimited,
  R | Scope.Scope | HttpServerRequest.HttpServerRequest
> =>
  Effect.gen(function* () {
    const subject = subjectOf(options.principal, options.address)
    if (subject === undefined) return yield* httpEffect
    const routeClass = routeClassOf(options.endpoint)
    const entry = routeClass === RouteClasses.Stream ? RateLimitEntries.Sse : RateLimitEntries.Http
    const decision = yield* limits.consume(subject, routeClass)
    if (decision !== undefined && !decision.allowed) {
      limits.refused(entry, routeClass)
      return yield* rateLimited(rateLimitedBody(decision), rateLimitHeaders(decision))
    }
    if (routeClass === RouteClasses.Stream) {
      const slot = yield* limits.openStream(subject)
      if (isStreamRefusal(slot)) {
        limits.refused(entry, concurrentStreamsClass)
        const headers: Record<string, string> = {
          ...(decision === undefined ? {} : rateLimitHeaders(decision)),
          "retry-after": String(slot.retryAfterSeconds),
        }
        return yield* rateLimited(tooManyStreamsBody(slot), headers)
      }
      // Held until the request's scope closes: the streamed response ended or was abandoned.
      yield* Effect.addFinalizer(() => Effect.sync(slot.release))
    }
    if (decision !== undefined) {
      // On whatever goes out, an error the handler failed with (404, 409, …) included.
      const headers = rateLimitHeaders(decision)
      yield* HttpEffect.appendPreResponseHandler((_request, response) =>
        Effect.succeed(HttpServerResponse.setHeaders(response, headers)),
      )
    }
    return yield* httpEffect
  })
