/**
 * A named lease with an owner, shared by every process using the same Redis (and key prefix):
 * who does a long-running job for one thing (e.g. which requestor replica holds an order's
 * stream), handed over when its owner stops or dies.
 *
 * - Key `lease:<name>` holds the owner token with a TTL. `acquire` is one Lua script: take the
 *   key if it is free (SET PX), extend it if `owner` holds it already, else report the current
 *   owner and how long its lease still runs (so a waiter can come back right when it expires).
 * - `renew` is a compare-and-`PEXPIRE`, `release` a compare-and-`DEL`: nobody renews or deletes
 *   someone else's lease.
 * - `hold` runs an effect while holding the lease: acquired once (no waiting: `Busy` when someone
 *   else holds it), renewed every `renewEveryMs` (default ttl/3), released when the effect ends
 *   (success, failure or interruption). When a renewal finds another owner, or no renewal
 *   succeeded and the lease could expire before the next one, the effect is interrupted at once
 *   and `hold` fails `LeaseLost`: a holder stops before anyone else can take over.
 *
 * A lease is not a fence: a paused process may still run briefly after its lease expired. Use it
 * where doing the job twice for a moment is harmless (idempotent work), to make it rare.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { Redis } from "../redis/Redis.ts"
import { type CoordinationError, LeaseLost } from "./errors.ts"
import { positiveInteger, script } from "./internal.ts"
import { redisScript } from "./redisScript.ts"

export { CoordinationError, LeaseLost } from "./errors.ts"

/** What `acquire` found. */
export type LeaseState =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Busy"; readonly owner: string; readonly remainingMs: number }

/** What `hold` did. */
export type HoldResult<A> =
  | { readonly _tag: "Held"; readonly value: A }
  | { readonly _tag: "Busy"; readonly owner: string; readonly remainingMs: number }

export interface HoldOptions {
  readonly ttlMs: number
  /** Renewal period (default ttl/3). */
  readonly renewEveryMs?: number
}

export interface LeaseHolder {
  readonly owner: string
  /** Ms until the lease expires unless renewed. */
  readonly remainingMs: number
}

export interface LeaseShape {
  /** Takes the lease for `ttlMs` (or extends it when `owner` holds it already). */
  readonly acquire: (name: string, owner: string, ttlMs: number) => Effect.Effect<LeaseState, CoordinationError>
  /** Extends `owner`'s lease to `ttlMs` from now; false when `owner` does not hold it. */
  readonly renew: (name: string, owner: string, ttlMs: number) => Effect.Effect<boolean, CoordinationError>
  /** Deletes `owner`'s lease; false when `owner` did not hold it. */
  readonly release: (name: string, owner: string) => Effect.Effect<boolean, CoordinationError>
  /** Who holds the lease now, if anyone. */
  readonly holder: (name: string) => Effect.Effect<LeaseHolder | undefined, CoordinationError>
  /** Runs `effect` while `owner` holds the lease (see the module comment). */
  readonly hold: <A, E, R>(
    name: string,
    owner: string,
    effect: Effect.Effect<A, E, R>,
    options: HoldOptions,
  ) => Effect.Effect<HoldResult<A>, E | LeaseLost | CoordinationError, R>
}

/** The Redis key (under the service prefix) of lease `name`. */
export const leaseKey = (name: string) => `lease:${name}`

/** KEYS: lease. ARGV: owner, ttlMs. {1} = acquired or extended; {0, owner, pttl} = busy. */
const acquireScript = redisScript(
  "lease-acquire",
  `local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
return {0, current, redis.call('PTTL', KEYS[1])}`,
)

/** KEYS: lease. ARGV: owner, ttlMs. 1 = extended. */
const renewScript = redisScript(
  "lease-renew",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
)

/** KEYS: lease. ARGV: owner. 1 = deleted. */
const releaseScript = redisScript(
  "lease-release",
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
)

/** KEYS: lease. {owner, pttl} or {}. */
const holderScript = redisScript(
  "lease-holder",
  `local current = redis.call('GET', KEYS[1])
if not current then return {} end
return {current, redis.call('PTTL', KEYS[1])}`,
)

export class Lease extends Context.Service<Lease, LeaseShape>()("dcent/Lease") {
  static readonly make = Effect.gen(function* () {
    const redis = yield* Redis
    const eval_ = script(redis)

    const acquire = Effect.fn("Lease.acquire")(function* (name: string, owner: string, ttlMs: number) {
      const reply = yield* eval_(
        "lease acquire",
        name,
        acquireScript,
        [leaseKey(name)],
        [owner, positiveInteger(ttlMs, 1)],
      )
      const [acquired, current, pttl] = reply as [number, string?, number?]
      if (Number(acquired) === 1) return { _tag: "Acquired" } as const
      return { _tag: "Busy", owner: String(current), remainingMs: Math.max(0, Number(pttl ?? 0)) } as const
    })

    const renew = Effect.fn("Lease.renew")(function* (name: string, owner: string, ttlMs: number) {
      const reply = yield* eval_("lease renew", name, renewScript, [leaseKey(name)], [owner, positiveInteger(ttlMs, 1)])
      return Number(reply) === 1
    })

    const release = Effect.fn("Lease.release")(function* (name: string, owner: string) {
      return Number(yield* eval_("lease release", name, releaseScript, [leaseKey(name)], [owner])) === 1
    })

    const holder = Effect.fn("Lease.holder")(function* (name: string) {
      const reply = (yield* eval_("lease holder", name, holderScript, [leaseKey(name)], [])) as [string, number] | []
      if (reply.length === 0) return undefined
      return { owner: reply[0], remainingMs: Math.max(0, Number(reply[1])) }
    })

    /**
     * Renews every `everyMs` and never succeeds: fails as soon as Redis names another owner, or
     * when the lease could expire before the next attempt (no renewal succeeded since it was last
     * extended, counted from when that renewal was sent).
     */
    const keepLease = (name: string, owner: string, ttlMs: number, everyMs: number): Effect.Effect<never, LeaseLost> =>
      Effect.gen(function* () {
        let extendedAt = Date.now()
        while (true) {
          yield* Effect.sleep(Duration.millis(everyMs))
          const sentAt = Date.now()
          const outcome = yield* renew(name, owner, ttlMs).pipe(
            Effect.timeoutOption(Duration.millis(everyMs)),
            Effect.map((held) => (held._tag === "None" ? "unknown" : held.value ? "held" : "lost")),
            Effect.orElseSucceed(() => "unknown" as const),
          )
          if (outcome === "lost") {
            return yield* new LeaseLost({ name, owner, reason: "another owner holds it (it expired)" })
          }
          if (outcome === "held") extendedAt = sentAt
          else if (Date.now() + everyMs >= extendedAt + ttlMs) {
            return yield* new LeaseLost({
              name,
              owner,
              reason: `no renewal succeeded for ${Date.now() - extendedAt} ms`,
            })
          }
        }
      })

    const hold = <A, E, R>(name: string, owner: string, effect: Effect.Effect<A, E, R>, options: HoldOptions) => {
      const ttlMs = positiveInteger(options.ttlMs, 1)
      const everyMs = Math.max(1, Math.min(positiveInteger(options.renewEveryMs, Math.floor(ttlMs / 3)), ttlMs - 1))
      // Releasing is a no-op unless we hold it; bounded so that a Redis outage cannot stall a shutdown.
      const releaseQuietly = release(name, owner).pipe(Effect.timeout("2 seconds"), Effect.ignore)
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const state = yield* restore(acquire(name, owner, ttlMs)).pipe(Effect.onInterrupt(() => releaseQuietly))
          if (state._tag === "Busy") return state satisfies HoldResult<A>
          const value = yield* restore(Effect.raceFirst(effect, keepLease(name, owner, ttlMs, everyMs))).pipe(
            Effect.ensuring(releaseQuietly),
          )
          return { _tag: "Held", value } satisfies HoldResult<A>
        }),
      ).pipe(Effect.withSpan("Lease.hold", { attributes: { name, owner } }))
    }

    return Lease.of({ acquire, renew, release, holder, hold })
  })

  static readonly layer: Layer.Layer<Lease, never, Redis> = Layer.effect(Lease, Lease.make)
}
