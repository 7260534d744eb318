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
import { Context, Effect, Option } from "effect"
import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "effect/http"
import { defaultHttpAdmission, type HttpAdmissionLimits } from "../admission/config.ts"
import type { Overloaded } from "../admission/Limiter.ts"
import { observedLimiter } from "../metrics/admission.ts"
import { AdmissionEntries, unmatchedRoute } from "../metrics/catalogue.ts"
import { Metrics } from "../metrics/Metrics.ts"
import { type EarlyRefusal, exemptPaths, overloadedBody, pathOf } from "./earlyRefusal.ts"
import { errorResponse } from "./errors.ts"

/** 503 `overloaded` with `Retry-After`. */
export const overloadedResponse = (refusal: Overloaded): HttpServerResponse.HttpServerResponse =>
  errorResponse(503, overloadedBody(refusal), { "retry-after": String(refusal.retryAfterSeconds) })

/** `earlyRefusal`: the Node server's own refusals (`earlyRefusal.ts`) use this middleware's limiter. */
export const HttpAdmission = (limits: HttpAdmissionLimits = defaultHttpAdmission, earlyRefusal?: EarlyRefusal) =>
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
      const metrics = yield* Effect.serviceOption(Metrics)
      earlyRefusal?.attach(
        limiter,
        Option.isSome(metrics)
          ? (method, seconds) =>
              metrics.value.catalogue.httpRequestDuration.observe(
                { method, route: unmatchedRoute, status_code: "503" },
                seconds,
              )
          : undefined,
      )
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
