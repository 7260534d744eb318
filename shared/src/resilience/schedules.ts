/**
 * The retry schedules of both services, defined once: exponential backoff with a cap and ±20 %
 * jitter, bounded by a number of retries (or unbounded where giving up would lose data).
 *
 *   delay(n) = min(base · factor^(n-1), max) · U(0.8, 1.2)     n = 1, 2, …
 *
 * | policy          | used by                                        | base   | max   | retries |
 * |-----------------|------------------------------------------------|--------|-------|---------|
 * | `redisRead`     | Redis reads and idempotent commits (`retrying`) | 50 ms  | 1 s   | 3       |
 * | `brokerPublish` | the outbox relay's publish (never dropped)      | 100 ms | 10 s  | ∞       |
 * | `httpCall`      | road distance, Google Chat (`makeGuard`)        | 100 ms | 2 s   | 2       |
 * | `deferredReport`| failure reports held while Redis is down        | 200 ms | 5 s   | ∞       |
 * | `commitConflict`| an order command re-decided after a concurrent change (processor `Orders.run`) | 2 ms | 50 ms | 30 |
 * | `appendConflict`| an append that met a concurrent append (`OrderEventLog.append`) | 1 ms | 25 ms | 199 |
 * | `streamReconnect`| an order's open, a shard's call (requestor `StreamHolder`) | 200 ms | 5 s | ∞ |
 *
 * (`Schedule.max` of the backoff and `Schedule.recurs`: it recurs only while both do.)
 *
 * `retryWhile` applies a policy to an effect, retrying only the errors it says are transient.
 */
import { Duration, Effect, Schedule } from "effect"

export interface BackoffPolicy {
  /** First delay. */
  readonly base: Duration.Input
  /** Upper bound on one delay (before jitter). */
  readonly max: Duration.Input
  /** Growth per retry (default 2). */
  readonly factor?: number
  /** Retries after the first attempt; `undefined` retries forever. */
  readonly retries?: number
}

export const RetryPolicies = {
  /** Redis reads and commits that are safe to repeat: a blip (failover, reconnect) is bridged. */
  redisRead: { base: "50 millis", max: "1 second", retries: 3 },
  /** Publishing an outbox entry: retried until the broker takes it (the entry stays in Redis). */
  brokerPublish: { base: "100 millis", max: "10 seconds" },
  /** One call to an outgoing HTTP dependency (per attempt timeout and breaker in `makeGuard`). */
  httpCall: { base: "100 millis", max: "2 seconds", retries: 2 },
  /** A failure report waiting for Redis (the outbox) to come back: until it does. */
  deferredReport: { base: "200 millis", max: "5 seconds" },
  /** A read-decide-commit step that met another replica's commit: read and decide again, soon. */
  commitConflict: { base: "2 millis", max: "50 millis", retries: 30 },
  /** An append (next seqs) that met a concurrent append: commit again at the seq Redis reported. */
  appendConflict: { base: "1 millis", max: "25 millis", retries: 199 },
  /** An order stream (or a shard's multiplexed call) that could not be opened: open it again. */
  streamReconnect: { base: "200 millis", max: "5 seconds" },
  /** The archive (PostgreSQL) unreachable at start-up: apply the schema once it answers. */
  archiveConnect: { base: "200 millis", max: "10 seconds" },
} as const satisfies Record<string, BackoffPolicy>

/** The un-jittered delay before retry `attempt` (1, 2, …) of `policy`. */
export const nominalDelay = (policy: BackoffPolicy, attempt: number): Duration.Duration => {
  const base = Duration.toMillis(Duration.fromInputUnsafe(policy.base))
  const max = Duration.toMillis(Duration.fromInputUnsafe(policy.max))
  const factor = policy.factor ?? 2
  return Duration.millis(Math.min(max, base * factor ** Math.min(Math.max(attempt - 1, 0), 60)))
}

/** Exponential backoff, capped at `max`, jittered (±20 %); unbounded (add `retries` with `backoff`). */
export const exponentialCapped = (policy: BackoffPolicy): Schedule.Schedule<Duration.Duration> => {
  const max = Duration.fromInputUnsafe(policy.max)
  return Schedule.exponential(policy.base, policy.factor ?? 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, max))),
    Schedule.jittered,
  )
}

/** Schedules already built, per policy object: `retryWhile` runs on every Redis command. */
const built = new WeakMap<BackoffPolicy, Schedule.Schedule<unknown>>()

/** The policy as a schedule: `exponentialCapped`, stopping after `retries` recurrences when set. */
export const backoff = (policy: BackoffPolicy): Schedule.Schedule<unknown> => {
  const known = built.get(policy)
  if (known !== undefined) return known
  const schedule =
    policy.retries === undefined
      ? exponentialCapped(policy)
      : Schedule.max([exponentialCapped(policy), Schedule.recurs(policy.retries)])
  built.set(policy, schedule)
  return schedule
}

/**
 * Retries `effect` under `policy` while `isRetryable(error)`; after the last retry (or for an
 * error that is not retryable) it fails with the effect's own last error.
 */
export const retryWhile =
  <E>(policy: BackoffPolicy, isRetryable: (error: E) => boolean) =>
  <A, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.retry(effect, { schedule: backoff(policy), while: isRetryable })

/**
 * The delays `schedule` would wait before each of its first `count` recurrences (fewer when it
 * stops earlier); for tests and documentation, it does not sleep.
 */
export const delaysOf = (
  schedule: Schedule.Schedule<unknown>,
  count: number,
): Effect.Effect<Array<Duration.Duration>> =>
  Effect.gen(function* () {
    const step = yield* Schedule.toStep(schedule)
    const delays: Array<Duration.Duration> = []
    let now = 0
    for (let i = 0; i < count; i++) {
      const next = yield* step(now, undefined).pipe(
        Effect.map(([, delay]) => delay),
        Effect.catchCause(() => Effect.succeed(undefined)),
      )
      if (next === undefined) break
      delays.push(next)
      now += Duration.toMillis(next)
    }
    return delays
  })
