/**
 * Global router middleware: admission control for REST requests (`../admission`).
 *
 * At most `maxInFlight` requests are handled at once (with `adaptive`, a bound that follows the
 * requests' latency, never below `minInFlight`); up to `maxQueue` more wait (first come, first
 * served) for at most `queueTimeout`. Past that a request is answered at once with 503,
 * `Retry-After` and the common error body (`overloaded`), before its body is read or its handler
 * runs. The probes (`/healthz`, `/readyz`) and `/metrics` are never held back or refused.
 *
 * A streaming response (SSE) holds its slot only until its handler has returned the response;
 * open SSE streams have a bound of their own (the requestor's `SSE_MAX_STREAMS`).
 */
import { Context, Effect } from "effect"
import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "effect/http"
import { defaultHttpAdmission, type HttpAdmissionLimits } from "../admission/config.ts"
import type { Overloaded } from "../admission/Limiter.ts"
import { observedLimiter } from "../metrics/admission.ts"
import { AdmissionEntries } from "../metrics/catalogue.ts"
import { errorBody, errorResponse } from "./errors.ts"

/** Never refused: liveness, readiness and scrapes must answer exactly when the service is busiest. */
const exemptPaths: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"])

const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/** 503 `overloaded` with `Retry-After`. */
export const overloadedResponse = (refusal: Overloaded): HttpServerResponse.HttpServerResponse =>
  errorResponse(
    503,
    errorBody("overloaded", "the service is at capacity; retry the request later", [
      { path: refusal.entry, problem: refusal.message },
    ]),
    { "retry-after": String(refusal.retryAfterSeconds) },
  )

export const HttpAdmission = (limits: HttpAdmissionLimits = defaultHttpAdmission) =>
  HttpRouter.middleware(
    Effect.gen(function* () {
      const limiter = yield* observedLimiter({
        entry: AdmissionEntries.Http,
        maxInFlight: limits.maxInFlight,
        ...(limits.adaptive ? { adaptive: { min: limits.minInFlight } } : {}),
        maxQueue: limits.maxQueue,
        maxWait: limits.queueTimeout,
        retryAfterSeconds: limits.retryAfterSeconds,
      })
      // The same refusal each time (immutable): no work per refused request beyond counting it.
      const responses = new Map<Overloaded, HttpServerResponse.HttpServerResponse>()
      const refused = (refusal: Overloaded) => {
        let response = responses.get(refusal)
        if (response === undefined) {
          response = overloadedResponse(refusal)
          responses.set(refusal, response)
        }
        return Effect.succeed(response)
      }
      return <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
        Effect.withFiber((fiber) => {
          const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
          return exemptPaths.has(pathOf(request.url)) ? effect : limiter.admit(effect, refused)
        })
    }),
    { global: true },
  )
