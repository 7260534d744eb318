/**
 * Rate limits per principal, shared by every replica of a service through its Redis
 * (`rate-limiter-flexible`'s `RateLimiterRedis` over the service's ioredis connection, so its keys
 * carry the service's prefix: `dcent:requestor:ratelimit:write:p:BUYER-001`, ...).
 *
 * - `consume(subject, class)`: spends one point of the class's budget (`config.ts`); the answer
 *   says whether the request may go on and what to put in its `RateLimit-*` headers. A subject
 *   that keeps coming takes its points from Redis in growing blocks and spends them from memory
 *   (`./pointBlocks.ts`: no Redis round trip for most of its requests, the budget still holds in
 *   total). After a refusal, the subject is refused from memory until its window ends
 *   (`inMemoryBlockOnConsumed`), so a flood does not become a flood of Redis commands.
 * - `openStream(subject)`: a slot among the streams the subject may hold open at once
 *   (`RATE_LIMIT_STREAMS_PER_PRINCIPAL`), counted over all replicas: each replica keeps its count
 *   per subject in a Redis hash (`ratelimit:streams:<subject>`, one field per replica) and renews
 *   its liveness (`ratelimit:replicas`) every few seconds, so the streams of a replica that died
 *   stop counting within `replicaTtl`, and the counts are rewritten from the replica's own ones
 *   (a close whose decrement was lost heals itself).
 *
 * Redis down or slow (no answer within `RATE_LIMIT_STORE_TIMEOUT_MS`): the same limits are
 * enforced per replica from memory (fail open to a local limit, never a 500 and never a silent
 * pass): each decision taken that way is counted in `dcent_rate_limit_store_fallbacks_total` and
 * logged (a warning at most every 10 s). A 503 would add nothing: every operation these limits
 * guard needs Redis itself and already answers 503 without it, while probes and `/metrics` must
 * keep answering; a local limit still holds a single client to the budget on each replica.
 */
import { randomUUID } from "node:crypto"
import { Clock, Context, Effect, Layer, Option, Schedule } from "effect"
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible"
import { redisScript, runScript } from "../coordination/redisScript.ts"
import { concurrentStreamsClass, type RateLimitEntry } from "../metrics/catalogue.ts"
import { Metrics } from "../metrics/Metrics.ts"
import { nameTag } from "../redis/keys.ts"
import { Redis } from "../redis/Redis.ts"
import { type Bucket, type RateLimitSettings, type RouteClass, RouteClasses, rateLimitConfig } from "./config.ts"
import { decide, type RateDecision, type StreamRefusal } from "./decision.ts"
import { PointBlocks, type TakenPoint } from "./pointBlocks.ts"

/** A stream slot: give it back with `release` when the stream ends (idempotent). */
export interface StreamSlot {
  readonly release: () => void
}

export interface RateLimitsShape {
  readonly settings: RateLimitSettings
  /** Spends one point of `routeClass` for `subject`; `undefined` when the class is not limited. */
  readonly consume: (subject: string, routeClass: RouteClass) => Effect.Effect<RateDecision | undefined>
  /** A slot among `subject`'s open streams, or the refusal when it holds the cap already. */
  readonly openStream: (subject: string) => Effect.Effect<StreamSlot | StreamRefusal>
  /** Counts a refusal (`dcent_rate_limit_refused_total`). */
  readonly refused: (entry: RateLimitEntry, routeClass: RouteClass | typeof concurrentStreamsClass) => void
}

export const isStreamRefusal = (value: StreamSlot | StreamRefusal): value is StreamRefusal => "cap" in value

/** How long a replica's stream counts stay valid without renewal; renewed every third of it. */
const replicaTtlMs = 15_000
/** A subject's stream counts vanish this long after the last open or renewal. */
const streamKeyTtlMs = 3 * replicaTtlMs
// One hash slot for the stream counts (Redis Cluster: a script takes the replicas and many subjects).
const replicasKey = `ratelimit:${nameTag("streams")}:replicas`
const streamsKey = (subject: string) => `ratelimit:${nameTag("streams")}:${subject}`
/** Subjects renewed per script call. */
const renewChunk = 500
const warningEvery = 10_000

/**
 * Lua both stream scripts start with: `now` (ms) from Redis's clock, so that replicas with skewed
 * clocks agree, and this replica (`ARGV[1]`) marked alive in the replicas hash until now + TTL.
 */
const heartbeatLua = (replicasHash: string, replicaTtlMs: string) => `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', ${replicasHash}, ARGV[1], now + tonumber(${replicaTtlMs}))`

/** KEYS: subject hash, replicas hash; ARGV: replica, cap, replica TTL ms, key TTL ms → {allowed, open}. */
const openScript = redisScript(
  "ratelimit-stream-open",
  `${heartbeatLua("KEYS[2]", "ARGV[3]")}
local counts = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #counts, 2 do
  local expires = tonumber(redis.call('HGET', KEYS[2], counts[i]) or '0')
  if expires > now then total = total + tonumber(counts[i + 1]) else redis.call('HDEL', KEYS[1], counts[i]) end
end
if total >= tonumber(ARGV[2]) then return {0, total} end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, total + 1}`,
)

/** KEYS: subject hash; ARGV: replica. */
const closeScript = redisScript(
  "ratelimit-stream-close",
  `local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`,
)

/** KEYS: replicas hash, subject hashes…; ARGV: replica, replica TTL ms, key TTL ms, counts… (this replica's truth). */
const renewScript = redisScript(
  "ratelimit-stream-renew",
  `${heartbeatLua("KEYS[1]", "ARGV[2]")}
local replicas = redis.call('HGETALL', KEYS[1])
for i = 1, #replicas, 2 do
  if tonumber(replicas[i + 1]) < now - tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], replicas[i]) end
end
for i = 2, #KEYS do
  local n = tonumber(ARGV[i + 2])
  if n > 0 then
    redis.call('HSET', KEYS[i], ARGV[1], n)
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  else
    redis.call('HDEL', KEYS[i], ARGV[1])
  end
end
return #KEYS - 1`,
)

const reasonOf = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

export class RateLimits extends Context.Service<RateLimits, RateLimitsShape>()("dcent/RateLimits") {
  static readonly make = Effect.fn("RateLimits.make")(function* (settings: RateLimitSettings) {
    const redis = yield* Redis
    const { catalogue } = yield* Metrics.orUnscraped
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const replica = randomUUID()
    const timeoutMs = settings.storeTimeoutMs

    // `fellBack` runs in the rate limiter's promise callbacks, outside Effect: it reads this clock.
    const clock = yield* Clock.Clock
    let lastWarning = Number.NEGATIVE_INFINITY
    const fellBack = (what: RouteClass | typeof concurrentStreamsClass, reason: string) => {
      catalogue.rateLimitFallbacks.labels(what).inc()
      const now = clock.currentTimeMillisUnsafe()
      if (now - lastWarning < warningEvery) return
      lastWarning = now
      runFork(
        Effect.logWarning("rate limits: Redis did not answer; limiting per replica meanwhile").pipe(
          Effect.annotateLogs({ class: what, reason }),
        ),
      )
    }

    /** Settles `promise` within the store timeout: its value, or the failure's reason. */
    const withinTimeout = <A>(promise: () => Promise<A>): Promise<{ ok: A } | { failed: unknown }> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ failed: `no answer within ${timeoutMs} ms` }), timeoutMs)
        promise().then(
          (ok) => {
            clearTimeout(timer)
            resolve({ ok })
          },
          (failed) => {
            clearTimeout(timer)
            resolve({ failed })
          },
        )
      })

    const limiters = new Map<
      RouteClass,
      { bucket: Bucket; store: RateLimiterRedis; local: RateLimiterMemory; blocks: PointBlocks }
    >()
    for (const routeClass of Object.values(RouteClasses)) {
      const bucket = settings.classes[routeClass]
      if (bucket === undefined) continue
      const options = {
        keyPrefix: `ratelimit:${routeClass}`,
        points: bucket.points,
        duration: bucket.windowSeconds,
      }
      limiters.set(routeClass, {
        bucket,
        store: new RateLimiterRedis({
          ...options,
          storeClient: redis.client,
          rejectIfRedisNotReady: true,
          // Once over, refused from memory until the window ends: no Redis command per refused request.
          inMemoryBlockOnConsumed: bucket.points + 1,
        }),
        local: new RateLimiterMemory(options),
        blocks: new PointBlocks(bucket.points),
      })
    }
    // Present from the start, so dashboards see the series before the first refusal.
    for (const routeClass of limiters.keys()) catalogue.rateLimitFallbacks.labels(routeClass).inc(0)

    /** The per-replica limit, when Redis did not answer (one point, from memory). */
    const fallback = async (routeClass: RouteClass, bucket: Bucket, local: RateLimiterMemory, subject: string) => {
      const answer = await local.consume(subject).then(
        (ok) => ({ ok }),
        (failed: unknown) => ({ failed }),
      )
      const res = "ok" in answer ? answer.ok : answer.failed
      if (res instanceof RateLimiterRes) {
        return decide(
          routeClass,
          bucket,
          "ok" in answer ? res.consumedPoints : Math.max(res.consumedPoints, bucket.points + 1),
          res.msBeforeNext,
        )
      }
      return decide(routeClass, bucket, 0, bucket.windowSeconds * 1000)
    }

    /**
     * Blocks being asked for, per key: the key's other requests wait for the answer instead of
     * asking too. It says whether Redis answered: when it did not (slow or down), the waiting
     * requests are decided by the per-replica fallback at once, not one store timeout after another.
     */
    const asking = new Map<string, Promise<boolean>>()

    const consume = (subject: string, routeClass: RouteClass): Effect.Effect<RateDecision | undefined> => {
      const limiter = limiters.get(routeClass)
      if (limiter === undefined) return Effect.succeed(undefined)
      const { bucket, store, local, blocks } = limiter
      const key = `${routeClass}:${subject}`
      const decision = (point: TakenPoint) => decide(routeClass, bucket, point.consumed, point.msBeforeNext)
      const held = blocks.take(key, clock.currentTimeMillisUnsafe())
      if (held !== undefined) return Effect.succeed(decision(held))
      return Effect.promise(async () => {
        while (true) {
          const point = blocks.take(key, clock.currentTimeMillisUnsafe())
          if (point !== undefined) return decision(point)
          const pending = asking.get(key)
          if (pending === undefined) break
          if (!(await pending)) {
            fellBack(routeClass, "Redis did not answer the request this one waited for")
            return fallback(routeClass, bucket, local, subject)
          }
        }
        // Taken before asking: a block ends no later than its window in Redis (its rest was measured there).
        const askedAt = clock.currentTimeMillisUnsafe()
        const asked = blocks.sizeFor(key, askedAt)
        let answered: (storeAnswered: boolean) => void = () => {}
        asking.set(
          key,
          new Promise<boolean>((resolve) => {
            answered = resolve
          }),
        )
        let storeAnswered = false
        try {
          const stored = await withinTimeout(() => store.consume(subject, asked))
          // The library resolves with its counter when within the budget and rejects with it when over.
          const res = "ok" in stored ? stored.ok : stored.failed
          if (res instanceof RateLimiterRes) {
            storeAnswered = true
            // Refused from its in-memory block: no count, over the budget all the same.
            if (!("ok" in stored) && res.consumedPoints < asked) {
              return decide(routeClass, bucket, bucket.points + 1, res.msBeforeNext)
            }
            return decision(
              blocks.granted(key, asked, { consumed: res.consumedPoints, msBeforeNext: res.msBeforeNext }, askedAt),
            )
          }
          blocks.forget(key)
          fellBack(routeClass, reasonOf(res))
          return await fallback(routeClass, bucket, local, subject)
        } finally {
          asking.delete(key)
          answered(storeAnswered)
        }
      })
    }

    // --- open streams per subject ---------------------------------------------------------------
    const cap = settings.streamsPerPrincipal
    /** This replica's open streams per subject (0: to be removed from Redis at the next renewal). */
    const held = new Map<string, number>()
    const streamRefusal = (open: number): StreamRefusal => ({ cap, open, retryAfterSeconds: 1 })

    const slot = (subject: string): StreamSlot => {
      held.set(subject, (held.get(subject) ?? 0) + 1)
      let released = false
      return {
        release: () => {
          if (released) return
          released = true
          held.set(subject, Math.max(0, (held.get(subject) ?? 1) - 1))
          // Best effort: the next renewal rewrites this replica's count anyway.
          runScript(redis.client, closeScript, [streamsKey(subject)], [replica]).catch(() => {})
        },
      }
    }

    const openStream = (subject: string): Effect.Effect<StreamSlot | StreamRefusal> => {
      if (cap === 0) return Effect.succeed({ release: () => {} })
      return Effect.promise(async () => {
        const answer = await withinTimeout(() =>
          redis.client.status === "ready"
            ? runScript(
                redis.client,
                openScript,
                [streamsKey(subject), replicasKey],
                [replica, cap, replicaTtlMs, streamKeyTtlMs],
              )
            : Promise.reject(new Error(`connection ${redis.client.status}`)),
        )
        if ("ok" in answer && Array.isArray(answer.ok)) {
          // The open script answers [1 if allowed, streams open].
          const [allowed, open] = [Number(answer.ok[0]), Number(answer.ok[1])]
          return allowed === 1 ? slot(subject) : streamRefusal(open)
        }
        fellBack(concurrentStreamsClass, reasonOf("failed" in answer ? answer.failed : "unexpected answer"))
        const local = held.get(subject) ?? 0
        return local < cap ? slot(subject) : streamRefusal(local)
      })
    }

    /** Rewrites this replica's counts; resolves with the failure, never rejects. */
    const renewOnce = async (): Promise<unknown> => {
      // Not while the connection is down: ioredis would queue the command and fail it later.
      if (redis.client.status !== "ready") return `connection ${redis.client.status}`
      try {
        const subjects = [...held.entries()]
        if (subjects.length === 0) {
          await runScript(redis.client, renewScript, [replicasKey], [replica, replicaTtlMs, streamKeyTtlMs])
          return undefined
        }
        for (let i = 0; i < subjects.length; i += renewChunk) {
          const chunk = subjects.slice(i, i + renewChunk)
          await runScript(
            redis.client,
            renewScript,
            [replicasKey, ...chunk.map(([subject]) => streamsKey(subject))],
            [replica, replicaTtlMs, streamKeyTtlMs, ...chunk.map(([, count]) => count)],
          )
          for (const [subject, count] of chunk) if (count === 0 && held.get(subject) === 0) held.delete(subject)
        }
        return undefined
      } catch (error) {
        return error
      }
    }
    // A failed renewal is retried at the next tick (the counts stay valid for `replicaTtlMs`).
    const renew = Effect.promise(renewOnce).pipe(
      Effect.flatMap((failure) =>
        failure === undefined
          ? Effect.void
          : Effect.logDebug("rate limits: stream counts not renewed").pipe(
              Effect.annotateLogs({ reason: reasonOf(failure) }),
            ),
      ),
    )
    if (cap > 0) {
      yield* renew.pipe(
        Effect.repeat(Schedule.spaced(replicaTtlMs / 3)),
        Effect.delay(replicaTtlMs / 3),
        Effect.forkScoped,
      )
      // This replica's streams stop counting at once when it stops (best effort).
      yield* Effect.addFinalizer(() =>
        Effect.promise(() =>
          redis.client.status === "ready" ? redis.client.hdel(replicasKey, replica).catch(() => 0) : Promise.resolve(0),
        ).pipe(Effect.timeout("1 second"), Effect.ignore),
      )
    }

    const refused: RateLimitsShape["refused"] = (entry, routeClass) =>
      catalogue.rateLimitRefused.labels(entry, routeClass).inc()

    return RateLimits.of({ settings, consume, openStream, refused })
  })

  /** `RATE_LIMIT_*` over the process's `Redis`. */
  static readonly layer = Layer.effect(
    RateLimits,
    Effect.gen(function* () {
      return yield* RateLimits.make(yield* rateLimitConfig)
    }),
  )

  /** Fixed settings (tests). */
  static readonly layerWith = (settings: RateLimitSettings) => Layer.effect(RateLimits, RateLimits.make(settings))

  /** The process's `RateLimits`, if it has one. */
  static readonly option = Effect.serviceOption(RateLimits).pipe(Effect.map(Option.getOrUndefined))
}
