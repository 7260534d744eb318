/**
 * REST metrics: `GET /metrics` (the Prometheus text exposition; not part of the HttpApi, so not
 * in the OpenAPI document) and a global router middleware recording
 * `http_server_request_duration_seconds{method, route, status_code}` and
 * `http_server_active_requests{method}`.
 *
 * `route` is the matched route's path template (`/api/v1/orders/:OrderReqID`), never the raw
 * path, so the label set stays bounded; a request no route matched is `unmatched`. Scrapes of
 * `/metrics` are not counted. The duration ends when the response head is ready (for SSE: when
 * the stream starts).
 *
 * Register `MetricsHttpLive` before the API routes (see `serveApi`): global middleware added
 * first runs outermost, so the recorded status is the one the error rendering produced.
 */
import { Context, Effect, Exit, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { unmatchedRoute } from "./catalogue.ts"
import { childPerKey } from "./instrument.ts"
import { Metrics } from "./Metrics.ts"

export const metricsPath = "/metrics"

const isMetricsPath = (url: string) =>
  url === metricsPath || url.startsWith(`${metricsPath}?`) || url.startsWith(`${metricsPath}/`)

/** A request the client abandoned before it was answered (nginx's convention). */
const clientClosedStatus = 499

/** The route the router matched for the running request (set on the fiber by the router). */
const matchedRoute = (context: Context.Context<never>): string =>
  Context.getOrUndefined(context, HttpRouter.RouteContext)?.route.path ?? unmatchedRoute

export const HttpMetricsMiddleware = HttpRouter.middleware(
  Effect.gen(function* () {
    const { catalogue } = yield* Metrics
    const activeFor = childPerKey((method) => catalogue.httpActiveRequests.labels(method))
    return (effect) =>
      Effect.withFiber((fiber) => {
        const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
        if (isMetricsPath(request.url)) return effect
        const method = request.method
        const gauge = activeFor(method)
        // Real elapsed time for the Prometheus histogram (not logic; a test clock would read 0).
        const started = performance.now()
        gauge.inc()
        return Effect.onExit(effect, (exit) =>
          Effect.withFiber((current) => {
            gauge.dec()
            const status = Exit.isSuccess(exit)
              ? exit.value.status
              : exit.cause.reasons.every((reason) => reason._tag === "Interrupt")
                ? clientClosedStatus
                : 500
            catalogue.httpRequestDuration.observe(
              { method, route: matchedRoute(current.context), status_code: String(status) },
              (performance.now() - started) / 1000,
            )
            return Effect.void
          }),
        )
      })
  }),
  { global: true },
)

/** `GET /metrics`: the registry in the Prometheus text format (500 with a plain message if rendering fails). */
export const MetricsRoute = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    yield* router.add(
      "GET",
      metricsPath,
      metrics.exposition.pipe(
        Effect.map((exposition) => HttpServerResponse.text(exposition.body, { contentType: exposition.contentType })),
        Effect.catch((error) =>
          Effect.logWarning("metrics exposition failed").pipe(
            Effect.annotateLogs({ error: error.message }),
            Effect.as(HttpServerResponse.text(`${error.message}\n`, { status: 500 })),
          ),
        ),
      ),
    )
  }),
)

/** The `/metrics` route and the request metrics middleware. */
export const MetricsHttpLive: Layer.Layer<never, never, HttpRouter.HttpRouter | Metrics> = Layer.mergeAll(
  HttpMetricsMiddleware,
  MetricsRoute,
)
