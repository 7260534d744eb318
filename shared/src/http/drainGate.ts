/**
 * Global router middleware for graceful drain (`../runtime/Drain.ts`):
 *
 * - while draining, a new request is answered at once with 503, the common error body
 *   (`shutting_down`), `Retry-After` and `Connection: close` (the client's next attempt opens a
 *   connection, which a load balancer sends to another replica); the probes `/healthz` and
 *   `/readyz` are still answered (`/readyz` says 503 by itself);
 * - requests already running are counted; the drain step `http requests` (phase `work`) waits
 *   until they have all been answered. A streaming response (SSE) counts until its handler has
 *   returned the response; its body is ended by the `streams` phase.
 */
import { Effect } from "effect"
import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "effect/http"
import { Drain, drainRetryAfterSeconds, makeInFlight } from "../runtime/Drain.ts"
import { errorBody, errorResponse } from "./errors.ts"

const probes: ReadonlySet<string> = new Set(["/healthz", "/readyz"])

const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

export const shuttingDownResponse = (): HttpServerResponse.HttpServerResponse =>
  errorResponse(
    503,
    errorBody("shutting_down", "this replica is shutting down; retry the request (another replica will answer)", [
      { path: "service", problem: "draining" },
    ]),
    { "retry-after": String(drainRetryAfterSeconds), connection: "close" },
  )

export const DrainGate = HttpRouter.middleware(
  Effect.gen(function* () {
    const drain = yield* Effect.serviceOption(Drain)
    if (drain._tag === "None") {
      return <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) => effect
    }
    const inFlight = makeInFlight()
    yield* drain.value.register({ name: "http requests", phase: "work", run: () => inFlight.idle })
    return <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (drain.value.isDraining() && !probes.has(pathOf(request.url))) return shuttingDownResponse()
        return yield* inFlight.track(effect)
      })
  }),
  { global: true },
)
