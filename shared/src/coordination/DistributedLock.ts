/**
 * A mutual-exclusion lock shared by every process using the same Redis (and key prefix).
 *
 * - Key `lock:<name>` holds a random token: `SET NX PX ttl` acquires, a Lua compare-and-delete
 *   releases (a holder never deletes someone else's lock), a Lua compare-and-`PEXPIRE` renews
 *   every ttl/3 while the effect runs.
 * - Waiting: a waiter that finds the lock busy marks it contended (`lock-waiting:<name>`, 1 s,
 *   refreshed on every attempt, in the same script as the attempt); a release that finds the
 *   mark publishes the wake-up `lock:<name>` (`WakeUps`), which wakes the longest-waiting waiter
 *   of that lock in each process (one that loses the race stays first in line for the next
 *   release). Between attempts a waiter also polls with a small jittered backoff (5 ms doubling
 *   to 100 ms) — the fallback for a lost wake-up or an expired lock — up to `waitMs`, then fails
 *   `LockTimeout`. Not strictly FIFO: processes race, and a newcomer may get a free lock first.
 * - If the lock cannot be renewed (someone else holds it after an expiry, or Redis was
 *   unreachable for a whole ttl) the effect is interrupted and `withLock` fails `LockLost`.
 * - Released on success, failure and interruption. Not re-entrant: a nested `withLock` on the
 *   same name waits for itself and times out.
 *
 * The per-order lock is `withLock(orderLockName(id), …)`.
 */
import { Context, Effect, Layer } from "effect"
import { Redis } from "../redis/Redis.ts"
import { type CoordinationError, LockLost, LockTimeout } from "./errors.ts"
import { command, keepRenewed, pollUntil, positiveInteger, script } from "./internal.ts"
import { redisScript } from "./redisScript.ts"
import { WakeUps } from "./WakeUps.ts"

export { CoordinationError, LockLost, LockTimeout } from "./errors.ts"

export interface LockOptions {
  /** Lease of the lock in Redis; renewed every ttl/3 while held (default 10 000 ms). */
  readonly ttlMs?: number
  /** How long to wait for a busy lock before `LockTimeout` (default 5 000 ms; 0 = try once). */
  readonly waitMs?: number
}

export interface DistributedLockShape {
  readonly withLock: <A, E, R>(
    name: string,
    effect: Effect.Effect<A, E, R>,
    options?: LockOptions,
  ) => Effect.Effect<A, E | LockTimeout | LockLost | CoordinationError, R>
  /** Whether someone holds the lock now (for tests and diagnostics). */
  readonly isLocked: (name: string) => Effect.Effect<boolean, CoordinationError>
}

export const defaultLockTtlMs = 10_000
export const defaultLockWaitMs = 5_000

/** The lock serialising the state changes of one order. */
export const orderLockName = (orderReqId: string) => `order-lock:${orderReqId}`

/** The Redis key (under the service prefix) of lock `name`. */
export const lockKey = (name: string) => `lock:${name}`

/** Set while someone waits for lock `name`: its release then publishes a wake-up. */
export const lockWaitingKey = (name: string) => `lock-waiting:${name}`

/** The wake-up topic of lock `name`. */
export const lockTopic = (name: string) => `lock:${name}`

/** How long a waiter's contended mark lasts; every attempt (≤ 100 ms apart) refreshes it. */
const waitingMarkMs = 1_000

/** KEYS: lock, waiting mark. ARGV: token, ttlMs, markMs. 1 = acquired; else marks the lock contended. */
const acquireScript = redisScript(
  "lock-acquire",
  `if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return 0`,
)

/** KEYS: lock, waiting mark. ARGV: token, wake-up channel ('' = none), topic. 1 = released. */
const releaseScript = redisScript(
  "lock-release",
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1`,
)

const renewScript = redisScript(
  "lock-renew",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
)

export class DistributedLock extends Context.Service<DistributedLock, DistributedLockShape>()("dcent/DistributedLock") {
  static readonly make = Effect.gen(function* () {
    const redis = yield* Redis
    const wakeUps = yield* WakeUps
    const run = command(redis)
    const eval_ = script(redis)

    const withLock = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>, options: LockOptions = {}) => {
      const ttlMs = positiveInteger(options.ttlMs, defaultLockTtlMs)
      const waitMs = Math.max(0, options.waitMs ?? defaultLockWaitMs)
      const key = lockKey(name)
      const keys = [key, lockWaitingKey(name)]
      const topic = lockTopic(name)
      const token = crypto.randomUUID()
      const tryAcquire = eval_("lock", name, acquireScript, keys, [token, ttlMs, waitingMarkMs]).pipe(
        Effect.map((reply) => Number(reply) === 1),
      )
      const renew = eval_("lock renew", name, renewScript, [key], [token, ttlMs]).pipe(
        Effect.map((reply) => Number(reply) === 1),
      )
      // Releasing with our token is a no-op unless we hold the lock, so it also runs after a
      // failed or interrupted acquisition (which may have succeeded just before the interrupt).
      const release = eval_("lock release", name, releaseScript, keys, [token, wakeUps.channel, topic]).pipe(
        Effect.ignore,
      )
      // Listening from before the first attempt: a release right after it is not missed.
      const acquire = Effect.scoped(
        Effect.flatMap(wakeUps.listen(topic, "one"), (released) =>
          pollUntil(tryAcquire, waitMs, (waitedMs) => new LockTimeout({ name, waitedMs }), {
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
                keepRenewed(renew, Math.max(1, Math.floor(ttlMs / 3)), ttlMs, () => new LockLost({ name })),
              ),
            ),
          ),
        () => release,
      ).pipe(Effect.withSpan("DistributedLock.withLock", { attributes: { name } }))
    }

    const isLocked = (name: string) =>
      run("lock", name, "EXISTS", (client) => client.exists(lockKey(name))).pipe(Effect.map((n) => n > 0))

    return DistributedLock.of({ withLock, isLocked })
  })

  static readonly layer: Layer.Layer<DistributedLock, never, Redis | WakeUps> = Layer.effect(
    DistributedLock,
    DistributedLock.make,
  )
}
