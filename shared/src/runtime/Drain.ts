/**
 * Graceful drain: what a service does between SIGTERM and releasing its layers.
 *
 *   SIGTERM ─▶ draining = true at once (`/readyz` 503, gRPC health NOT_SERVING, new REST
 *              requests 503 + Retry-After + Connection: close)
 *          ─▶ phase "accept":  stop accepting (health NOT_SERVING, …)
 *          ─▶ phase "streams": open streams told to reconnect elsewhere (gRPC UNAVAILABLE, SSE
 *                              `event: reconnect`)
 *          ─▶ phase "work":    in-flight work finishes (REST requests, gRPC calls after GOAWAY,
 *                              dispatch jobs), bounded
 *          ─▶ phase "flush":   the outbox relay publishes what it has; held failure reports
 *                              (`PendingReports`) are committed or published
 *          ─▶ the layers are released in reverse (servers close, stream leases released, Redis
 *             quits, the producer flushes)
 *
 * Pieces register their steps (`register`) while they are built; `DrainOnShutdown`, built on top
 * of the whole application, runs them (`run`) as the first finalizer when the application is
 * interrupted. All steps share one deadline, `DRAIN_TIMEOUT_SECONDS` (default 10) after the
 * start: a step still running then is abandoned (its piece's own finalizer cleans up, e.g. a
 * dispatch job is returned to the queue). Each step is logged at info with its duration.
 *
 * `runService`'s hard deadline is the drain timeout plus `releaseMarginSeconds`, so the process
 * always exits 0 when the drain and the release finish in their budgets.
 */

import { Clock, Context, Duration, Effect, Layer, type Scope } from "effect"
import { positiveInt } from "../config/env.ts"

export type DrainPhase = "accept" | "streams" | "work" | "flush"

export const drainPhases: ReadonlyArray<DrainPhase> = ["accept", "streams", "work", "flush"]

/** `DRAIN_TIMEOUT_SECONDS` (10): how long in-flight work may take to finish after SIGTERM. */
export const drainTimeoutConfig = positiveInt("DRAIN_TIMEOUT_SECONDS", 10)

export const defaultDrainTimeoutSeconds = 10

/** Time left after the drain for releasing the layers (servers, producer flush, Redis). */
export const releaseMarginSeconds = 8

/** `Retry-After` of a request refused while draining (another replica can take it now). */
export const drainRetryAfterSeconds = 1

export interface DrainStep {
  readonly name: string
  readonly phase: DrainPhase
  /** Gets the absolute deadline (epoch ms); may finish early, is interrupted at the deadline. */
  readonly run: (deadline: number) => Effect.Effect<void>
}

export interface DrainStepReport {
  readonly name: string
  readonly phase: DrainPhase
  readonly durationMs: number
  readonly outcome: "done" | "timed_out" | "failed"
}

export interface DrainShape {
  /** True from the moment the drain starts. */
  readonly isDraining: () => boolean
  /** Aborted when the drain starts. */
  readonly signal: AbortSignal
  readonly timeout: Duration.Duration
  /** Adds a step for as long as the calling scope is open. */
  readonly register: (step: DrainStep) => Effect.Effect<void, never, Scope.Scope>
  /** Starts draining and runs the steps, phase by phase; a second call waits for the first. */
  readonly run: Effect.Effect<ReadonlyArray<DrainStepReport>>
}

export class Drain extends Context.Service<Drain, DrainShape>()("dcent/runtime/Drain") {
  static readonly make = Effect.fn("Drain.make")(function* (timeout: Duration.Input) {
    const drainTimeout = Duration.fromInputUnsafe(timeout)
    const controller = new AbortController()
    const steps = new Set<DrainStep>()

    const register = (step: DrainStep) =>
      Effect.acquireRelease(
        Effect.sync(() => steps.add(step)),
        () => Effect.sync(() => steps.delete(step)),
      ).pipe(Effect.asVoid)

    const runStep = (step: DrainStep, deadline: number) =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        const exit = yield* step.run(deadline).pipe(
          Effect.timeoutOrElse({
            duration: Duration.millis(Math.max(0, deadline - started)),
            orElse: () => Effect.succeed("timed_out" as const),
          }),
          Effect.exit,
        )
        const outcome: DrainStepReport["outcome"] =
          exit._tag === "Failure" ? "failed" : exit.value === "timed_out" ? "timed_out" : "done"
        const report: DrainStepReport = {
          name: step.name,
          phase: step.phase,
          durationMs: (yield* Clock.currentTimeMillis) - started,
          outcome,
        }
        yield* (outcome === "done" ? Effect.logInfo : Effect.logWarning)(`drain step ${step.name}`).pipe(
          Effect.annotateLogs({ phase: step.phase, durationMs: report.durationMs, outcome }),
        )
        return report
      })

    const drain = Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      controller.abort()
      const deadline = started + Duration.toMillis(drainTimeout)
      yield* Effect.logInfo("drain started").pipe(
        Effect.annotateLogs({ timeoutSeconds: Duration.toSeconds(drainTimeout), steps: steps.size }),
      )
      const reports: Array<DrainStepReport> = []
      for (const phase of drainPhases) {
        const inPhase = [...steps].filter((step) => step.phase === phase)
        reports.push(
          ...(yield* Effect.forEach(inPhase, (step) => runStep(step, deadline), { concurrency: "unbounded" })),
        )
      }
      const finished = yield* Clock.currentTimeMillis
      yield* Effect.logInfo("drain finished").pipe(
        Effect.annotateLogs({
          durationMs: finished - started,
          timedOut: reports
            .filter((report) => report.outcome !== "done")
            .map((report) => report.name)
            .join(","),
        }),
      )
      return reports as ReadonlyArray<DrainStepReport>
    })
    // Run once; a second caller gets the same result.
    const run = yield* Effect.cached(Effect.uninterruptible(drain))

    return Drain.of({
      isDraining: () => controller.signal.aborted,
      signal: controller.signal,
      timeout: drainTimeout,
      register,
      run,
    })
  })

  /** From `DRAIN_TIMEOUT_SECONDS`. */
  static readonly layer = Layer.effect(
    Drain,
    Effect.flatMap(drainTimeoutConfig, (seconds) => Drain.make(Duration.seconds(seconds))),
  )

  /** With an explicit timeout (tests). */
  static readonly layerWith = (timeout: Duration.Input) => Layer.effect(Drain, Drain.make(timeout))
}

/**
 * Runs the drain when the application stops. Build it on top of everything else
 * (`DrainOnShutdown.pipe(Layer.provideMerge(AppLive))`): built last, it is released first.
 */
export const DrainOnShutdown = Layer.effectDiscard(
  Effect.gen(function* () {
    const drain = yield* Drain
    yield* Effect.addFinalizer(() => drain.run)
  }),
)

/** Registers a step when a `Drain` is present (shared pieces also run without one, e.g. in tests). */
export const onDrain = (step: DrainStep): Effect.Effect<void, never, Scope.Scope> =>
  Effect.serviceOption(Drain).pipe(
    Effect.flatMap((drain) => (drain._tag === "Some" ? drain.value.register(step) : Effect.void)),
  )

/** Polls `done` every `everyMs` until it is true (the step's deadline bounds it). */
export const until = (done: Effect.Effect<boolean>, everyMs = 50): Effect.Effect<void> =>
  Effect.gen(function* () {
    while (!(yield* done)) yield* Effect.sleep(Duration.millis(everyMs))
  })

/**
 * Counts what is in flight (requests, jobs) so a drain step can wait until it is all done.
 * `track` wraps one unit of work.
 */
export const makeInFlight = () => {
  let count = 0
  return {
    count: () => count,
    /**
     * For work whose start is known only inside a larger effect (a job taken under a permit and
     * finished after it): `enter` once it started, `exit` in that larger effect's finalizer.
     */
    enter: () => {
      count += 1
    },
    exit: () => {
      count -= 1
    },
    track: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          count += 1
        }),
        () => effect,
        () =>
          Effect.sync(() => {
            count -= 1
          }),
      ),
    idle: Effect.suspend(() => until(Effect.sync(() => count === 0))),
  }
}
