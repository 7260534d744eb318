/**
 * A counting semaphore shared by every process using the same Redis (and key prefix), e.g. the
 * `MAX_CONCURRENT_TASKS` dispatch jobs running at once across all processor replicas.
 *
 * - Key `semaphore:<name>` is a sorted set of permits: member = holder token, score = lease
 *   deadline (Redis server time, ms). Acquiring is one Lua script: drop expired leases, and if
 *   fewer than `limit` remain, add ours. A holder renews its lease every lease/3; a crashed
 *   holder's permit frees itself when its lease passes.
 * - `semaphore:<name>:waiting` counts who is waiting (member = token, score = until when the
 *   waiter counts), refreshed on every attempt, so `waiting(name)` is cheap.
 * - Waiting: a release that finds waiters publishes the wake-up `semaphore:<name>` (`WakeUps`),
 *   which wakes one waiter in each process; between attempts a waiter also polls with a
 *   jittered backoff (5 ms doubling to 1 s) — the fallback for a lost wake-up or a permit freed
 *   by an expired lease. Not FIFO between waiters. `waitMs` bounds the wait (default: no bound)
 *   and ends in `PermitTimeout`.
 * - Released on success, failure and interruption; a permit that cannot be renewed interrupts
 *   the effect with `PermitLost`.
 * - `limit` is given per call: callers sharing a name should agree on it.
 */
import { Context, Effect, Layer } from "effect"
import { nameTag } from "../redis/keys.ts"
import { Redis } from "../redis/Redis.ts"
import { type CoordinationError, PermitLost, PermitTimeout } from "./errors.ts"
import { keepRenewed, pollUntil, positiveInteger, script } from "./internal.ts"
import { redisScript } from "./redisScript.ts"
import { WakeUps } from "./WakeUps.ts"

export { CoordinationError, PermitLost, PermitTimeout } from "./errors.ts"

export interface PermitOptions {
  /** Lease of a permit; renewed every lease/3 while held (default 30 000 ms). */
  readonly leaseMs?: number
  /** How long to wait for a free permit before `PermitTimeout` (default: forever; 0 = try once). */
  readonly waitMs?: number
}

export interface DistributedSemaphoreShape {
  readonly withPermit: <A, E, R>(
    name: string,
    limit: number,
    effect: Effect.Effect<A, E, R>,
    options?: PermitOptions,
  ) => Effect.Effect<A, E | PermitTimeout | PermitLost | CoordinationError, R>
  /** Permits held now (leases not expired), across all processes. */
  readonly inUse: (name: string) => Effect.Effect<number, CoordinationError>
  /** Callers waiting for a permit now, across all processes. */
  readonly waiting: (name: string) => Effect.Effect<number, CoordinationError>
}

export const defaultPermitLeaseMs = 30_000

/** The longest pause between two attempts of a waiter (the fallback when no wake-up comes). */
export const permitPollFallbackMs = 1_000

/** The Redis keys (under the service prefix) of semaphore `name`. */
export const semaphoreKeys = (name: string) => ({
  // One hash slot per semaphore (Redis Cluster: the scripts take both): `semaphore:{<name>}…`.
  permits: `semaphore:${nameTag(name)}`,
  waiting: `semaphore:${nameTag(name)}:waiting`,
})

/** The wake-up topic of semaphore `name`. */
export const semaphoreTopic = (name: string) => `semaphore:${name}`

const nowMs = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** KEYS: permits, waiting. ARGV: token, limit, leaseMs, waiterTtlMs. 1 = acquired. */
const acquireScript = redisScript(
  "semaphore-acquire",
  `${nowMs}
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
  return 1
end
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 0`,
)

/** KEYS: permits. ARGV: token, leaseMs. 1 = still held (lease extended). */
const renewScript = redisScript(
  "semaphore-renew",
  `${nowMs}
local lease = tonumber(ARGV[2])
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline or tonumber(deadline) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1`,
)

/** KEYS: permits, waiting. ARGV: token, wake-up channel ('' = none), topic. 1 = was held. */
const releaseScript = redisScript(
  "semaphore-release",
  `redis.call('ZREM', KEYS[2], ARGV[1])
local released = redis.call('ZREM', KEYS[1], ARGV[1])
if released == 1 and ARGV[2] ~= '' and redis.call('ZCARD', KEYS[2]) > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return released`,
)

/** KEYS: a sorted set of deadlines. Members whose deadline has not passed. */
const liveScript = redisScript(
  "semaphore-live",
  `${nowMs}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`,
)

export class DistributedSemaphore extends Context.Service<DistributedSemaphore, DistributedSemaphoreShape>()(
  "dcent/DistributedSemaphore",
) {
  static readonly make = Effect.gen(function* () {
    const redis = yield* Redis
    const wakeUps = yield* WakeUps
    const eval_ = script(redis)

    const withPermit = <A, E, R>(
      name: string,
      limit: number,
      effect: Effect.Effect<A, E, R>,
      options: PermitOptions = {},
    ) => {
      const leaseMs = positiveInteger(options.leaseMs, defaultPermitLeaseMs)
      const waitMs = Math.max(0, options.waitMs ?? Number.POSITIVE_INFINITY)
      const keys = semaphoreKeys(name)
      const topic = semaphoreTopic(name)
      const token = crypto.randomUUID()
      const tryAcquire = eval_(
        "semaphore acquire",
        name,
        acquireScript,
        [keys.permits, keys.waiting],
        [token, Math.max(0, Math.floor(limit)), leaseMs, 5_000],
      ).pipe(Effect.map((reply) => Number(reply) === 1))
      const renew = eval_("semaphore renew", name, renewScript, [keys.permits], [token, leaseMs]).pipe(
        Effect.map((reply) => Number(reply) === 1),
      )
      const release = eval_(
        "semaphore release",
        name,
        releaseScript,
        [keys.permits, keys.waiting],
        [token, wakeUps.channel, topic],
      ).pipe(Effect.ignore)
      // Listening from before the first attempt: a release right after it is not missed.
      const acquire = Effect.scoped(
        Effect.flatMap(wakeUps.listen(topic, "one"), (released) =>
          pollUntil(tryAcquire, waitMs, (waitedMs) => new PermitTimeout({ name, limit, waitedMs }), {
            maxPauseMs: permitPollFallbackMs,
            pause: released.next,
          }),
        ),
      )
      return Effect.acquireUseRelease(
        Effect.void,
        () =>
          acquire.pipe(
            Effect.andThen(
              Effect.raceFirst(
                effect,
                keepRenewed(renew, Math.max(1, Math.floor(leaseMs / 3)), leaseMs, () => new PermitLost({ name })),
              ),
            ),
          ),
        () => release,
      ).pipe(Effect.withSpan("DistributedSemaphore.withPermit", { attributes: { name, limit } }))
    }

    const live = (operation: string, key: string, name: string) =>
      eval_(operation, name, liveScript, [key], []).pipe(Effect.map(Number))

    const inUse = (name: string) => live("semaphore inUse", semaphoreKeys(name).permits, name)
    const waiting = (name: string) => live("semaphore waiting", semaphoreKeys(name).waiting, name)

    return DistributedSemaphore.of({ withPermit, inUse, waiting })
  })

  static readonly layer: Layer.Layer<DistributedSemaphore, never, Redis | WakeUps> = Layer.effect(
    DistributedSemaphore,
    DistributedSemaphore.make,
  )
}
