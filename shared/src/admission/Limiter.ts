/**
 * Admission control's one building block: a bound on work in flight at one entry (REST requests,
 * unary gRPC calls, open streams), with an optional bounded FIFO of callers waiting for a slot,
 * each for at most `maxWait`. Past the bound (and a full queue, or a wait that ran out) the
 * caller is refused at once with `Overloaded`, before any of its work is done, so the latency of
 * admitted work stays bounded and the process does not collect work it cannot finish.
 *
 * Two ways in:
 * - `admit(effect, onRefused)`: runs `effect` holding a slot (waiting in the queue if there is
 *   room), releases it when `effect` ends however it ends; a waiter that is interrupted (its
 *   client left) leaves the queue, or passes on a slot it was just handed;
 * - `tryAcquire()` / `release()`: synchronous, no queue, for callers outside Effect (the gRPC
 *   middleware) and for slots held as long as a stream is open.
 *
 * A freed slot goes straight to the oldest waiter, so `inFlight() < limit()` implies an empty
 * queue and a newcomer never overtakes a waiter. The state is plain counters (one JavaScript
 * thread): checking and taking a slot is a few comparisons.
 *
 * With `adaptive`, the bound follows the latency of the work `admit` runs (`./vegasLimit.ts`),
 * between `adaptive.min` and `maxInFlight`: past capacity, latency grows, the bound shrinks and
 * the excess is refused at once instead of queueing inside the service.
 */
import { Clock, Duration, Effect, Schema } from "effect"
import { type AdmissionEntry, type RefusalReason, RefusalReasons } from "../metrics/catalogue.ts"
import { makeVegasLimit } from "./vegasLimit.ts"

/** Refused by admission control: `entry` is at its bound; retry after `retryAfterSeconds`. */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  entry: Schema.String,
  reason: Schema.Literals([RefusalReasons.Capacity, RefusalReasons.QueueTimeout]),
  /** The bound on work in flight (its ceiling when adaptive). */
  limit: Schema.Int,
  /** The bound follows the latency (`LimiterOptions.adaptive`). */
  adaptive: Schema.optionalKey(Schema.Boolean),
  retryAfterSeconds: Schema.Int,
}) {
  override get message() {
    const bound = this.adaptive === true ? "its adaptive bound" : `${this.limit}`
    const why =
      this.reason === RefusalReasons.Capacity
        ? `${bound} already in flight`
        : `no slot freed up in time (${bound} in flight)`
    return `overloaded (${this.entry}): ${why}; retry after ${this.retryAfterSeconds} s`
  }
}

/** What a limiter reports as it changes (metrics; see `../metrics/admission.ts`). */
export interface LimiterObserver {
  readonly inFlight: (count: number) => void
  readonly queued: (count: number) => void
  readonly refused: (reason: RefusalReason) => void
  /** The bound changed (adaptive limiters). */
  readonly limit?: (count: number) => void
}

export interface LimiterOptions {
  readonly entry: AdmissionEntry
  /** Work allowed in flight at once (≥ 1); the ceiling when `adaptive`. */
  readonly maxInFlight: number
  /**
   * The bound follows the latency of the work `admit` runs, from `initial` (default: the ceiling,
   * at most 64) and never below `min` (`./vegasLimit.ts`). `tryAcquire` callers give no latency.
   */
  readonly adaptive?: { readonly min: number; readonly initial?: number }
  /** Callers that may wait for a slot beyond that (default 0: refuse at once). */
  readonly maxQueue?: number
  /** Longest wait in the queue before the caller is refused (default 1 s). */
  readonly maxWait?: Duration.Input
  /** The retry hint a refusal carries (default 1 s). */
  readonly retryAfterSeconds?: number
  readonly observer?: LimiterObserver
}

export interface Limiter {
  readonly entry: AdmissionEntry
  readonly maxInFlight: number
  readonly maxQueue: number
  readonly retryAfterSeconds: number
  /** The bound now (`maxInFlight` unless adaptive). */
  readonly limit: () => number
  /** Slots held now. */
  readonly inFlight: () => number
  /** Callers waiting for a slot now. */
  readonly queued: () => number
  /**
   * Runs `effect` holding a slot (after waiting in the queue if there is room); when refused,
   * runs `onRefused` instead and `effect` not at all.
   */
  readonly admit: <A, E, R, B, E2, R2>(
    effect: Effect.Effect<A, E, R>,
    onRefused: (refusal: Overloaded) => Effect.Effect<B, E2, R2>,
  ) => Effect.Effect<A | B, E | E2, R | R2>
  /** Takes a free slot now (never waits): `undefined` when taken (call `release` later), else the refusal. */
  readonly tryAcquire: () => Overloaded | undefined
  /** Gives back a slot taken with `tryAcquire`. */
  readonly release: () => void
  /**
   * The refusal `admit` would answer right now without waiting (every slot taken, the queue
   * full), counted as refused; `undefined` when `admit` would run or queue the work.
   */
  readonly refuseIfFull: () => Overloaded | undefined
}

const noObserver: LimiterObserver = { inFlight: () => {}, queued: () => {}, refused: () => {} }

interface Waiter {
  granted: boolean
  resume: (() => void) | undefined
}

export const makeLimiter = (options: LimiterOptions): Limiter => {
  const maxInFlight = Math.max(1, Math.floor(options.maxInFlight))
  const maxQueue = Math.max(0, Math.floor(options.maxQueue ?? 0))
  const maxWait = Duration.fromInputUnsafe(options.maxWait ?? "1 second")
  const retryAfterSeconds = Math.max(1, Math.ceil(options.retryAfterSeconds ?? 1))
  const observer = options.observer ?? noObserver
  const adaptive =
    options.adaptive === undefined
      ? undefined
      : makeVegasLimit({
          min: Math.min(maxInFlight, options.adaptive.min),
          max: maxInFlight,
          initial: options.adaptive.initial ?? Math.min(maxInFlight, 64),
        })
  const limit = adaptive === undefined ? () => maxInFlight : adaptive.limit
  // One instance per reason: a refusal carries nothing per call, and building none keeps it cheap.
  const refusal = (reason: RefusalReason) =>
    new Overloaded({
      entry: options.entry,
      reason,
      limit: maxInFlight,
      ...(adaptive === undefined ? {} : { adaptive: true }),
      retryAfterSeconds,
    })
  const refusals: Record<RefusalReason, Overloaded> = {
    [RefusalReasons.Capacity]: refusal(RefusalReasons.Capacity),
    [RefusalReasons.QueueTimeout]: refusal(RefusalReasons.QueueTimeout),
  }

  let active = 0
  // Insertion-ordered: the first is the oldest waiter; removal of any one is O(1).
  const waiters = new Set<Waiter>()

  const refuse = (reason: RefusalReason): Overloaded => {
    observer.refused(reason)
    return refusals[reason]
  }

  const release = (): void => {
    const next = waiters.values().next()
    // An adaptive bound may have shrunk below what is in flight: then the slot is not handed on.
    if (next.done !== true && active <= limit()) {
      // Hand the slot over: `active` stays as it is.
      const waiter = next.value
      waiters.delete(waiter)
      observer.queued(waiters.size)
      waiter.granted = true
      waiter.resume?.()
      return
    }
    if (active > 0) active -= 1
    observer.inFlight(active)
  }

  const tryAcquire = (): Overloaded | undefined => {
    if (active < limit()) {
      active += 1
      observer.inFlight(active)
      return undefined
    }
    return refuse(RefusalReasons.Capacity)
  }

  /** The waiter leaves (timed out or interrupted); a slot it was already handed goes on to the next. */
  const leave = (waiter: Waiter): void => {
    if (waiter.granted) {
      waiter.granted = false
      release()
      return
    }
    if (waiters.delete(waiter)) observer.queued(waiters.size)
  }

  const turn = (waiter: Waiter) =>
    Effect.callback<void>((resume) => {
      if (waiter.granted) return resume(Effect.void)
      waiter.resume = () => resume(Effect.void)
    })

  const releaseEffect = Effect.sync(release)

  /** Runs admitted work; an adaptive bound learns from its latency (whatever its outcome). */
  const run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> =
    adaptive === undefined
      ? (effect) => Effect.ensuring(effect, releaseEffect)
      : (effect) =>
          Effect.flatMap(Clock.currentTimeNanos, (startedAt) => {
            const inFlightAtStart = active
            return Effect.ensuring(
              effect,
              Effect.flatMap(Clock.currentTimeNanos, (endedAt) => {
                const before = adaptive.limit()
                adaptive.sample(Number(endedAt - startedAt) / 1e6, inFlightAtStart)
                const after = adaptive.limit()
                if (after !== before) observer.limit?.(after)
                return releaseEffect
              }),
            )
          })

  const admit = <A, E, R, B, E2, R2>(
    effect: Effect.Effect<A, E, R>,
    onRefused: (refusal: Overloaded) => Effect.Effect<B, E2, R2>,
  ): Effect.Effect<A | B, E | E2, R | R2> =>
    Effect.uninterruptibleMask<A | B, E | E2, R | R2>((restore) => {
      if (active < limit()) {
        active += 1
        observer.inFlight(active)
        return run(restore(effect))
      }
      if (waiters.size >= maxQueue) return onRefused(refuse(RefusalReasons.Capacity))
      const waiter: Waiter = { granted: false, resume: undefined }
      waiters.add(waiter)
      observer.queued(waiters.size)
      return turn(waiter).pipe(
        Effect.timeoutOption(maxWait),
        // The wait is the one place a client that left may cut short (the request itself may be
        // running uninterruptibly up to its handler).
        Effect.interruptible,
        Effect.onInterrupt(() => Effect.sync(() => leave(waiter))),
        Effect.flatMap((): Effect.Effect<A | B, E | E2, R | R2> => {
          // Handed a slot, possibly in the same instant the wait ran out: use it.
          if (waiter.granted) {
            waiter.granted = false
            return run(restore(effect))
          }
          leave(waiter)
          return onRefused(refuse(RefusalReasons.QueueTimeout))
        }),
      )
    })

  return {
    entry: options.entry,
    maxInFlight,
    maxQueue,
    retryAfterSeconds,
    limit,
    inFlight: () => active,
    queued: () => waiters.size,
    admit,
    tryAcquire,
    release,
    refuseIfFull: () => (active >= limit() && waiters.size >= maxQueue ? refuse(RefusalReasons.Capacity) : undefined),
  }
}
