/**
 * Handler bodies for the `HealthApi` endpoints. Each service wires them into its own API with
 * `HttpApiBuilder.group(Api, "health", ...)` (see `<service>/src/health/http.ts`).
 */
import { Effect } from "effect"
import { HttpMiddleware } from "effect/http"
import { NotReady } from "./api.ts"
import type { ReadinessShape } from "./Readiness.ts"

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
