/**
 * Readiness: a fixed set of named dependency checks, run concurrently, each bounded by a timeout.
 * The service decides which checks it has (broker, Redis, topics, ...); `/readyz` runs them.
 */
import { Clock, Context, Duration, Effect, Layer, type Scope } from "effect"
import type { CheckResult } from "./api.ts"

export interface ReadinessCheck {
  readonly name: string
  /** Succeeds when the dependency is usable now; the error's `message` becomes the `problem`. */
  readonly check: Effect.Effect<void, unknown>
}

export interface ReadinessReport {
  readonly ready: boolean
  readonly checks: ReadonlyArray<CheckResult>
}

const problemOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return String(error)
}

export const runCheck = (check: ReadinessCheck, timeout: Duration.Input): Effect.Effect<CheckResult> =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const outcome = yield* check.check.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(`no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`),
      }),
      Effect.catchCause((cause) => Effect.succeed({ problem: problemOf(causeError(cause)) })),
    )
    const durationMs = (yield* Clock.currentTimeMillis) - started
    return outcome === undefined
      ? { name: check.name, ok: true, durationMs }
      : { name: check.name, ok: false, problem: outcome.problem, durationMs }
  })

const causeError = (cause: import("effect").Cause.Cause<unknown>): unknown => {
  const reason = cause.reasons[0]
  if (reason === undefined) return "failed"
  if (reason._tag === "Fail") return reason.error
  if (reason._tag === "Die") return reason.defect
  return "interrupted"
}

export interface ReadinessShape {
  readonly report: Effect.Effect<ReadinessReport>
}

export class Readiness extends Context.Service<Readiness, ReadinessShape>()("dcent/health/Readiness") {
  static readonly make = (checks: ReadonlyArray<ReadinessCheck>, options?: { readonly timeout?: Duration.Input }) => {
    const timeout = options?.timeout ?? "2 seconds"
    // Log transitions (ready ↔ not ready, or a different set of failures), not every probe.
    let lastFailures: string | undefined
    const logChange = (results: ReadonlyArray<CheckResult>) => {
      const failed = results.filter((result) => !result.ok)
      const failures = failed.map((result) => result.name).join(",")
      if (failures === lastFailures) return Effect.void
      const first = lastFailures === undefined
      lastFailures = failures
      if (failures === "") return Effect.logInfo("ready")
      return (first ? Effect.logInfo("not ready yet") : Effect.logWarning("not ready")).pipe(
        Effect.annotateLogs(Object.fromEntries(failed.map((result) => [result.name, result.problem ?? "failed"]))),
      )
    }
    return Readiness.of({
      report: Effect.forEach(checks, (check) => runCheck(check, timeout), { concurrency: "unbounded" }).pipe(
        Effect.tap(logChange),
        Effect.map((results) => ({ ready: results.every((result) => result.ok), checks: results })),
        Effect.withSpan("Readiness.report"),
      ),
    })
  }

  /** Builds the checks from the service's dependencies, e.g. `Readiness.layer(Effect.all([brokerCheck, redisCheck]))`. */
  static readonly layer = <E, R>(
    checks: Effect.Effect<ReadonlyArray<ReadinessCheck>, E, R>,
    options?: { readonly timeout?: Duration.Input },
  ): Layer.Layer<Readiness, E, Exclude<R, Scope.Scope>> =>
    Layer.effect(
      Readiness,
      Effect.map(checks, (list) => Readiness.make(list, options)),
    )
}
