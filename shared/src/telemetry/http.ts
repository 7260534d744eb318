/**
 * HTTP server spans following the OpenTelemetry HTTP semantic conventions.
 *
 * Effect's HTTP server already opens a SERVER span per request (continuing a `traceparent`
 * header) and sets `http.request.method`, `url.path`, `url.scheme`, `http.response.status_code`
 * and, once routed, `http.route`; it names the span after the method only. This router middleware
 * renames it `{method} {route}` (e.g. `POST /api/v1/initiate`, `GET /api/v1/orders/:OrderReqID`)
 * once the route is known; unmatched requests keep the bare method, as the conventions ask.
 */
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { Effect, Option, Tracer } from "effect"
import { HttpRouter, HttpServerRequest } from "effect/http"

/** `{method} {route}` for a routed request; `undefined` when the span has no `http.route`. */
export const httpSpanName = (method: string, route: unknown): string | undefined =>
  typeof route === "string" && route !== "" ? `${method} ${route}` : undefined

const renameServerSpan = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  // Not `Effect.currentSpan`: it fails with a new error (a stack trace) when there is no span, as
  // on every probe (`/healthz`, `/readyz`, `/metrics` are not traced): ~7 % of a probe's CPU.
  const span = Option.getOrUndefined(yield* Effect.serviceOption(Tracer.ParentSpan))
  if (span === undefined || span._tag !== "Span" || span.kind !== "server") return
  const name = httpSpanName(request.method, span.attributes.get("http.route"))
  if (name === undefined) return
  const otel = yield* OtelTracer.currentOtelSpan
  otel.updateName(name)
}).pipe(Effect.ignore)

/** Global router middleware; add it to the routes served by `HttpRouter.serve`. */
export const HttpSpanNames = HttpRouter.middleware((effect) => Effect.ensuring(effect, renameServerSpan), {
  global: true,
})
