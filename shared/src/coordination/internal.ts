/** Helpers shared by the coordination primitives. */
import { Clock, Duration, Effect, Random } from "effect"
import type { RedisClient, RedisShape } from "../redis/Redis.ts"
import { CoordinationError, reasonOfRedisFailure } from "./errors.ts"
import { type RedisScript, runScript } from "./redisScript.ts"

/** Runs a command through `Redis.use`, as a `CoordinationError` on failure. */
export const command =
  (redis: RedisShape) =>
  <A>(operation: string, name: string, redisCommand: string, f: (client: RedisClient) => Promise<A>) =>
    redis.use(redisCommand, f).pipe(
      Effect.mapError(
        (error) =>
          new CoordinationError({
            operation,
            name,
            reason: reasonOfRedisFailure(error),
            detail: error.message,
            cause: error,
          }),
      ),
    )

/** Runs a Lua script through `Redis.use`. */
export const script =
  (redis: RedisShape) =>
  (
    operation: string,
    name: string,
    lua: RedisScript,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string | number>,
  ) =>
    command(redis)(operation, name, "EVALSHA", (client) => runScript(client, lua, keys, args))

export interface PollOptions {
  /** Upper bound on one pause (default 100 ms). */
  readonly maxPauseMs?: number
  /**
   * How to pause for up to `ms` (default: sleep); may return early, e.g. on a wake-up
   * (`WakeUpListener.next`), so the pause is only the fallback.
   */
  readonly pause?: (ms: number) => Effect.Effect<unknown>
}

/**
 * Retries `attempt` (true = done) with a growing, jittered pause (5 ms doubling up to
 * `maxPauseMs`) until it succeeds or `waitMs` passed; then `onTimeout(waitedMs)`.
 */
export const pollUntil = <E, E2>(
  attempt: Effect.Effect<boolean, E>,
  waitMs: number,
  onTimeout: (waitedMs: number) => E2,
  options: PollOptions = {},
): Effect.Effect<void, E | E2> =>
  Effect.gen(function* () {
    const maxPauseMs = options.maxPauseMs ?? 100
    const pauseFor = options.pause ?? ((ms: number) => Effect.sleep(Duration.millis(ms)))
    const started = yield* Clock.currentTimeMillis
    let pause = 5
    while (true) {
      if (yield* attempt) return
      const waited = (yield* Clock.currentTimeMillis) - started
      if (waited >= waitMs) return yield* Effect.fail(onTimeout(waited))
      const jittered = pause * (0.5 + (yield* Random.next))
      yield* pauseFor(Math.max(1, Math.min(jittered, waitMs - waited)))
      pause = Math.min(pause * 2, maxPauseMs)
    }
  })

/**
 * Renews a lease every `everyMs` while the caller runs; fails with `lost()` when `renew` reports
 * the lease gone (false), or when no renewal succeeded for `leaseMs` (Redis unreachable).
 * Never succeeds.
 */
export const keepRenewed = <E>(
  renew: Effect.Effect<boolean, unknown>,
  everyMs: number,
  leaseMs: number,
  lost: () => E,
): Effect.Effect<never, E> =>
  Effect.gen(function* () {
    let renewedAt = yield* Clock.currentTimeMillis
    while (true) {
      yield* Effect.sleep(Duration.millis(everyMs))
      const result = yield* renew.pipe(
        Effect.map((held) => (held ? ("held" as const) : ("lost" as const))),
        Effect.timeoutOption(Duration.millis(everyMs)),
        Effect.map((outcome) => (outcome._tag === "Some" ? outcome.value : ("unknown" as const))),
        Effect.orElseSucceed(() => "unknown" as const),
      )
      if (result === "lost") return yield* Effect.fail(lost())
      const now = yield* Clock.currentTimeMillis
      if (result === "held") renewedAt = now
      else if (now - renewedAt >= leaseMs) return yield* Effect.fail(lost())
    }
  })

export const positiveInteger = (value: number | undefined, fallback: number) =>
  value === undefined || !Number.isFinite(value) || value <= 0 ? fallback : Math.ceil(value)
