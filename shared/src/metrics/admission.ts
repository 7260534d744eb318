/**
 * Admission-control metrics and log (`../admission/Limiter.ts`): `dcent_admission_in_flight`,
 * `dcent_admission_queued`, `dcent_admission_limit` per entry and
 * `dcent_admission_refused_total{entry, reason}`.
 *
 * Refusals are never logged one by one (under overload that would be a log storm that adds to
 * the load): the first refusal after a quiet period logs one warning, then one line per
 * `logWindow` while refusals go on (with their count), and one line when they have stopped.
 */
import { Duration, Effect, FiberSet, type Scope } from "effect"
import { type Limiter, type LimiterObserver, type LimiterOptions, makeLimiter } from "../admission/Limiter.ts"
import { type AdmissionEntry, type RefusalReason, RefusalReasons } from "./catalogue.ts"
import { Metrics } from "./Metrics.ts"

export interface AdmissionObserverOptions {
  /** How often a run of refusals is summed up in the log (default 10 s). */
  readonly logWindow?: Duration.Input
}

/** Metrics (and the throttled refusal log) of one entry; lives as long as the calling scope. */
export const admissionObserver = Effect.fn("Admission.observer")(function* (
  entry: AdmissionEntry,
  limit: number,
  options: AdmissionObserverOptions = {},
) {
  const { catalogue } = yield* Metrics.orUnscraped
  const run = yield* FiberSet.makeRuntime<never>()
  const window = Duration.fromInputUnsafe(options.logWindow ?? "10 seconds")
  const inFlight = catalogue.admissionInFlight.labels(entry)
  const queued = catalogue.admissionQueued.labels(entry)
  const refused = {
    [RefusalReasons.Capacity]: catalogue.admissionRefused.labels(entry, RefusalReasons.Capacity),
    [RefusalReasons.QueueTimeout]: catalogue.admissionRefused.labels(entry, RefusalReasons.QueueTimeout),
  }
  // Present from the start, so dashboards and alerts see the series before the first refusal.
  catalogue.admissionLimit.labels(entry).set(limit)
  inFlight.set(0)
  queued.set(0)
  for (const counter of Object.values(refused)) counter.inc(0)

  let refusedInWindow = 0
  let logging = false
  const summarise: Effect.Effect<void> = Effect.gen(function* () {
    yield* Effect.sleep(window)
    const count = refusedInWindow
    refusedInWindow = 0
    if (count === 0) {
      logging = false
      return yield* Effect.logInfo("admission control: admitting again").pipe(Effect.annotateLogs({ entry }))
    }
    yield* Effect.logWarning("admission control: still refusing").pipe(
      Effect.annotateLogs({ entry, limit, refused: count, window: Duration.format(window) }),
    )
    return yield* summarise
  })
  const firstRefusal = (reason: RefusalReason) =>
    Effect.logWarning("admission control: refusing requests (overloaded)").pipe(
      Effect.annotateLogs({ entry, limit, reason }),
      Effect.andThen(summarise),
    )

  return {
    inFlight: (count) => inFlight.set(count),
    limit: (count) => catalogue.admissionLimit.labels(entry).set(count),
    queued: (count) => queued.set(count),
    refused: (reason) => {
      refused[reason].inc()
      refusedInWindow += 1
      if (!logging) {
        logging = true
        refusedInWindow = 0
        run(firstRefusal(reason))
      }
    },
  } satisfies LimiterObserver
})

/** A limiter with its metrics and refusal log. */
export const observedLimiter = (
  options: Omit<LimiterOptions, "observer">,
  observerOptions?: AdmissionObserverOptions,
): Effect.Effect<Limiter, never, Scope.Scope> =>
  Effect.map(admissionObserver(options.entry, options.maxInFlight, observerOptions), (observer) => {
    const limiter = makeLimiter({ ...options, observer })
    // An adaptive bound starts below its ceiling.
    observer.limit(limiter.limit())
    return limiter
  })
