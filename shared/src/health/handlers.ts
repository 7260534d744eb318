/** The handlers of the `HealthApi` endpoints, one definition for both services. */
import { Effect } from "effect"
import { HttpMiddleware } from "effect/http"
import type { HttpApiBuilder } from "effect/http-api"
import { type HealthApi, NotReady } from "./api.ts"
import { Readiness, type ReadinessShape } from "./Readiness.ts"

/** Seconds a client should wait before asking `/readyz` again. */
export const readyRetryAfterSeconds = 5

/** Probes are frequent: their requests are not logged (readiness changes are, by `Readiness`). */
export const alive = HttpMiddleware.withLoggerDisabled(Effect.succeed({ status: "ok" as const }))

export const ready = (readiness: ReadinessShape) =>
  Effect.gen(function* () {
    const report = yield* readiness.report
    if (!report.ready) {
      return yield* new NotReady({ checks: report.checks, retryAfterSeconds: readyRetryAfterSeconds })
    }
    return { status: "ready" as const, checks: report.checks }
  }).pipe(HttpMiddleware.withLoggerDisabled)

/**
 * The `health` group's handlers, for any service API that adds `HealthApi`:
 * `HttpApiBuilder.group(ServiceApi, "health", healthHandlers)`.
 */
export const healthHandlers = Effect.fn(function* (handlers: HttpApiBuilder.Handlers.FromGroup<typeof HealthApi>) {
  const readiness = yield* Readiness
  return handlers.handleAll({
    healthz: () => alive,
    readyz: () => ready(readiness),
  })
})
