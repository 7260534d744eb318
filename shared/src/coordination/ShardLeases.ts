/**
 * A fixed number of shards shared out among the live replicas of a service: who does the
 * long-running work for the things that hash to a shard (e.g. which requestor replica holds the
 * processor streams of the live orders in it). The cost is O(replicas), not O(things): each
 * replica sends ONE script per renewal period, however many orders its shards hold.
 *
 * Redis (all keys share the hash tag `{shards:<name>}`, so they live in one Redis Cluster slot):
 * - `{shards:<name>}:members`  sorted set: owner → the time its membership expires;
 * - `{shards:<name>}:owners`   hash: shard → owner;
 * - `{shards:<name>}:expiry`   hash: shard → the time (ms, Redis' clock) its lease expires;
 * - `{shards:<name>}:released` sorted set: owner → until when its claims are refused (it stopped).
 *
 * `claim` (one Lua script, every `renewEveryMs`, default ttl/3, on a connection of its own so a
 * busy main connection cannot delay it): refresh the caller's membership, drop expired members,
 * compute the caller's fair share (`shards / members`, the remainder to the first members by
 * name), renew the shards it holds, give back the ones above its share (highest first), take free
 * or expired ones up to its share, and answer the shards it now holds. A new replica gets its
 * share within two periods (the others give back, it takes); a dead replica's shards are taken
 * within `ttlMs` + one period; a replica that stops gracefully releases its shards and announces
 * it on the channel `{shards:<name>}:changed`, which makes the others claim at once. Redis
 * refuses the claims of a released owner (tokens are unique per process): a claim of the stopped
 * replica that reaches Redis after its release (sent before it, resent after a reconnect) would
 * otherwise make it a member again, and the others would give shards back to a dead replica.
 *
 * The caller learns of every change through `onChange` (run in order, before the next claim):
 * shards acquired, and shards lost — lost when Redis names another owner, or when no claim
 * succeeded for so long that the lease could expire before the next one (the caller must stop
 * the work at once: someone else may take over). A lease is not a fence: a paused process may
 * run briefly after its lease expired; use it where doing the work twice for a moment is
 * harmless.
 *
 * `dcent_shard_claim_lag_seconds` (histogram): how late each claim completed against its
 * schedule (timer lateness + the round trip) — the slack the leases have left.
 */
import { Clock, Duration, Effect, type Scope, Semaphore } from "effect"
import { blockingConnection } from "../redis/blockingConnection.ts"
import type { RedisShape } from "../redis/Redis.ts"
import { subscribeToChannel } from "../redis/subscriber.ts"
import { redisScript, runScript } from "./redisScript.ts"

export interface ShardLeasesOptions {
  /** The shard set's name (part of its keys); every replica of a deployment uses the same. */
  readonly name: string
  /** How many shards (the same on every replica: it decides where things belong). */
  readonly shards: number
  /** This replica's owner token: unique per live process. */
  readonly owner: string
  /** Lease of a shard (and of a membership); renewed every `renewEveryMs` (default ttl/3). */
  readonly ttlMs: number
  readonly renewEveryMs?: number
  /** What changed; run in order, before the next claim. */
  readonly onChange: (change: ShardChange) => Effect.Effect<void>
  /** Each claim's lateness (ms) against its schedule, for a metric. */
  readonly onClaimLag?: (lagMs: number) => void
}

export interface ShardChange {
  readonly acquired: ReadonlyArray<number>
  readonly lost: ReadonlyArray<number>
  /** Why the shards in `lost` were lost. */
  readonly reason?: string
}

export interface ShardLeases {
  /** The shards this replica holds now. */
  readonly owned: Effect.Effect<ReadonlySet<number>>
  /** Whether this replica holds `shard` now. */
  readonly holds: (shard: number) => boolean
  /** Claims now (outside the schedule), e.g. after a wake-up; changes reach `onChange`. */
  readonly claimNow: Effect.Effect<void>
}

/** The keys of shard set `name` (relative to the service prefix). */
export const shardKeys = (name: string) => ({
  members: `{shards:${name}}:members`,
  owners: `{shards:${name}}:owners`,
  expiry: `{shards:${name}}:expiry`,
  released: `{shards:${name}}:released`,
})

/** The pub/sub channel announcing released shards (ioredis does not prefix channels). */
export const shardsChangedChannel = (keyPrefix: string, name: string) => `${keyPrefix}{shards:${name}}:changed`

export { shardOf } from "../redis/keys.ts"

/**
 * KEYS: members, owners, expiry, released. ARGV: owner, ttlMs, shards, mode (`claim` |
 * `release`), the changed channel (announced when shards were given back, so a replica short of
 * its share takes them at once). Answers the shards the owner holds afterwards (`release`, or a
 * claim of a released owner: none). A release is remembered for 10 TTLs (at least a minute):
 * longer than any claim of the stopped process can be on its way.
 */
const claimScript = redisScript(
  "shards-claim",
  `local owner, ttl, n, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if mode == 'release' then
  for s = 0, n - 1 do
    if redis.call('HGET', KEYS[2], s) == owner then
      redis.call('HDEL', KEYS[2], s)
      redis.call('HDEL', KEYS[3], s)
    end
  end
  redis.call('ZREM', KEYS[1], owner)
  redis.call('ZADD', KEYS[4], now + math.max(60000, 10 * ttl), owner)
  return {}
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
if redis.call('ZSCORE', KEYS[4], owner) then return {} end
redis.call('ZADD', KEYS[1], now + ttl, owner)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(members)
local rank = 0
for i, member in ipairs(members) do
  if member == owner then rank = i - 1 end
end
local share = math.floor(n / #members)
if rank < n % #members then share = share + 1 end
local mine, free = {}, {}
for s = 0, n - 1 do
  local holder = redis.call('HGET', KEYS[2], s)
  local expires = tonumber(redis.call('HGET', KEYS[3], s) or '0')
  if holder == owner then
    table.insert(mine, s)
  elseif (not holder) or expires <= now then
    table.insert(free, s)
  end
end
local gaveBack = false
while #mine > share do
  local s = table.remove(mine)
  redis.call('HDEL', KEYS[2], s)
  redis.call('HDEL', KEYS[3], s)
  gaveBack = true
end
if gaveBack then redis.call('PUBLISH', ARGV[5], owner) end
while #mine < share and #free > 0 do
  table.insert(mine, table.remove(free, 1))
end
for _, s in ipairs(mine) do
  redis.call('HSET', KEYS[2], s, owner)
  redis.call('HSET', KEYS[3], s, now + ttl)
end
return mine`,
)

/**
 * Takes part in shard set `options.name` for the life of the calling scope (see the module
 * comment); on close releases this replica's shards and announces it.
 */
export const shardLeases = (
  redis: RedisShape,
  options: ShardLeasesOptions,
): Effect.Effect<ShardLeases, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { name, shards, owner, onChange } = options
    const ttlMs = Math.max(3, Math.round(options.ttlMs))
    const everyMs = Math.max(1, Math.min(Math.round(options.renewEveryMs ?? ttlMs / 3), ttlMs - 1))
    const keys = shardKeys(name)
    const keyList = [keys.members, keys.owners, keys.expiry, keys.released]
    const channel = shardsChangedChannel(redis.keyPrefix, name)
    // Sent once: a claim that timed out must not be sent again after a reconnect (ioredis'
    // resend, or a Cluster's redirect delay), where it could land after the release.
    const connection = yield* blockingConnection(redis, { sendsOnce: true })
    const claimLock = yield* Semaphore.make(1)
    let owned = new Set<number>()
    /** When the last successful claim was sent (its leases run ttl from then at the latest). */
    let confirmedAt: number | undefined
    /**
     * Set by the release: a claim queued behind it (the schedule's, or one a wake-up forked)
     * must not run, or it would put this replica back among the members and take shards again
     * for a TTL after it stopped — the others would give their shards back to a dead replica.
     */
    let released = false

    /** A claim must answer within its period; the release gets the stop's budget (2 s). */
    const send = (mode: "claim" | "release") =>
      connection.use("EVALSHA", mode === "claim" ? everyMs : 2_000, (client) =>
        runScript(client, claimScript, keyList, [owner, ttlMs, shards, mode, channel]),
      )

    const apply = (now: ReadonlySet<number>, reason?: string) =>
      Effect.suspend(() => {
        const acquired = [...now].filter((shard) => !owned.has(shard))
        const lost = [...owned].filter((shard) => !now.has(shard))
        owned = new Set(now)
        if (acquired.length === 0 && lost.length === 0) return Effect.void
        return onChange({ acquired, lost, ...(reason === undefined ? {} : { reason }) })
      })

    const claim = claimLock.withPermits(1)(
      Effect.gen(function* () {
        if (released) return
        const sentAt = yield* Clock.currentTimeMillis
        const reply = yield* send("claim").pipe(Effect.option)
        if (reply._tag === "Some" && Array.isArray(reply.value)) {
          confirmedAt = sentAt
          yield* apply(
            new Set(reply.value.map(Number)),
            "given back to balance the replicas, or taken by another replica after it expired",
          )
          return
        }
        // No answer: the leases run out ttl after the last confirmed claim was sent.
        const now = yield* Clock.currentTimeMillis
        if (owned.size > 0 && (confirmedAt === undefined || now + everyMs >= confirmedAt + ttlMs)) {
          yield* Effect.logWarning("shard leases could expire before the next claim; stopping their work").pipe(
            Effect.annotateLogs({ shardSet: name, shards: owned.size }),
          )
          yield* apply(new Set(), `no claim succeeded for ${now - (confirmedAt ?? now)} ms`)
        }
      }),
    )

    // On schedule: each claim's lateness against its slot is the slack the leases have lost.
    yield* Effect.gen(function* () {
      let due = yield* Clock.currentTimeMillis
      while (true) {
        const started = yield* Clock.currentTimeMillis
        yield* claim
        const finished = yield* Clock.currentTimeMillis
        options.onClaimLag?.(Math.max(0, started - due) + (finished - started))
        due = Math.max(due + everyMs, finished)
        yield* Effect.sleep(Duration.millis(Math.max(0, due - finished)))
      }
    }).pipe(Effect.forkScoped)

    // Released shards (a graceful stop, a rebalance) are claimed at once by the others.
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    yield* subscribeToChannel(redis, {
      channel,
      onMessage: (from) => {
        if (from !== owner) runFork(claim)
      },
    })

    yield* Effect.addFinalizer(() =>
      claimLock.withPermits(1)(
        Effect.gen(function* () {
          released = true
          yield* apply(new Set(), "this replica stops")
          yield* send("release").pipe(Effect.timeout("3 seconds"), Effect.ignore)
          yield* redis
            .use("PUBLISH", (client) => client.publish(channel, owner))
            .pipe(Effect.timeout("1 second"), Effect.ignore)
        }),
      ),
    )

    return {
      owned: Effect.sync(() => new Set(owned)),
      holds: (shard) => owned.has(shard),
      claimNow: claim,
    }
  })
