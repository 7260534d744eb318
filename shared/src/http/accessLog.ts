/**
 * The REST access log, at debug level: one line per request once its response has been sent
 * (for SSE: when the stream ends) with `http.method`, `http.url` (the path, without the query),
 * `http.status` and `http.duration_ms`.
 *
 * It replaces the access log `HttpRouter.serve` adds by default (`HttpMiddleware.logger`), which
 * writes every request at info level: under load that is one line per request, a cost the write
 * path pays for nothing (request rate, status and latency are in the metrics, failures are
 * logged by the error rendering with their cause). `LOG_LEVEL=debug` brings the lines back;
 * below debug the middleware does nothing at all.
 *
 * Apply it as `HttpRouter.serve`'s `middleware`, with `disableLogger: true` (see `server.ts`).
 */
import { Context, Duration, Effect, Exit, LogLevel, References } from "effect"
import { HttpMiddleware, HttpServerRequest } from "effect/http"

/** A request the client abandoned before it was answered (nginx's convention). */
const clientClosedStatus = 499

const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

export const accessLog = HttpMiddleware.make((httpApp) =>
  Effect.withFiber((fiber) => {
    if (LogLevel.isGreaterThan(fiber.getRef(References.MinimumLogLevel), "Debug")) return httpApp
    const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
    return Effect.timed(Effect.exit(httpApp)).pipe(
      Effect.flatMap(([elapsed, exit]) =>
        Effect.logDebug("http request").pipe(
          Effect.annotateLogs({
            "http.method": request.method,
            "http.url": pathOf(request.url),
            "http.status": Exit.isSuccess(exit)
              ? exit.value.status
              : exit.cause.reasons.every((reason) => reason._tag === "Interrupt")
                ? clientClosedStatus
                : 500,
            "http.duration_ms": Math.round(Duration.toMillis(elapsed) * 10) / 10,
          }),
          Effect.andThen(exit),
        ),
      ),
    )
  }),
)
