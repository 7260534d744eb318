/**
 * A job queue with priorities, aging and in-flight leases, shared by every process using the
 * same Redis (and key prefix).
 *
 * Ordering. Every job gets a score at enqueue time; `take` hands out the lowest score:
 *
 *     score = enqueuedAtMs − boost(priority)     boost = { HIGH: 2·W, MEDIUM: W, LOW: 0 }
 *
 * where W = `agingWindowMs` (default 30 s). So HIGH beats MEDIUM beats LOW among jobs enqueued
 * at about the same time, FIFO holds within a priority, and a job that has waited longer than
 * the boost difference beats a fresh job of a higher priority: a LOW job that waited more than
 * 2·W is taken before a HIGH job enqueued now, a MEDIUM one after W — nothing starves. Equal
 * scores are served in enqueue order.
 *
 * Keys (under the service prefix): `queue:<q>:ready:<PRIORITY>` (three sorted sets, member
 * `<16-digit enqueue counter>:<id>`, so depth per priority is a ZCARD), `queue:<q>:inflight`
 * (sorted set id → lease deadline), `queue:<q>:jobs` (hash id → job JSON), `queue:<q>:counter`.
 *
 * - `enqueue` is idempotent by id: an id that is queued or in flight is not added again.
 * - `take` atomically moves the best job to in-flight with a lease deadline (Redis server time).
 * - `ack` removes a job for good; after that its id may be enqueued again.
 * - `requeueExpired` puts jobs whose lease passed back, with their original score; run it
 *   periodically (e.g. every lease/2) on every worker.
 * - `listen` lets an idle consumer wait instead of polling: `enqueue`, `release` and
 *   `requeueExpired` publish the wake-up `queue:<q>` (`WakeUps`) once per job, from their
 *   script, which wakes one waiting consumer in each process. As the fallback for a lost
 *   wake-up, one fiber per process and queue checks the depth every `wakeUpFallbackMs` (±25 %)
 *   while consumers wait, and wakes as many as there are jobs ready.
 */
import { Context, Duration, Effect, Layer, Option, Random, Schema, type Scope } from "effect"
import { nameTag } from "../redis/keys.ts"
import { Redis } from "../redis/Redis.ts"
import { CoordinationError } from "./errors.ts"
import { command, script } from "./internal.ts"
import { redisScript } from "./redisScript.ts"
import { WakeUps } from "./WakeUps.ts"

export { CoordinationError } from "./errors.ts"

export const defaultAgingWindowMs = 30_000

/** The queue's own levels (generic: an order's `Priority` happens to use the same names). */
export const Priority = Schema.Literals(["HIGH", "MEDIUM", "LOW"])
export type Priority = typeof Priority.Type

export const priorities: ReadonlyArray<Priority> = Priority.literals

/** How far ahead of a LOW job enqueued at the same moment a job of `priority` is placed. */
export const priorityBoostMs = (priority: Priority, agingWindowMs: number = defaultAgingWindowMs): number => {
  switch (priority) {
    case "HIGH":
      return 2 * agingWindowMs
    case "MEDIUM":
      return agingWindowMs
    case "LOW":
      return 0
  }
}

/** The queue score of a job (lower is taken first). */
export const queueScore = (
  priority: Priority,
  enqueuedAtMs: number,
  agingWindowMs: number = defaultAgingWindowMs,
): number => Math.floor(enqueuedAtMs) - priorityBoostMs(priority, agingWindowMs)

export interface EnqueueJob {
  readonly id: string
  readonly priority: Priority
  readonly payload: string
  /** Epoch ms; default: now (Redis server time). Keep the original time when re-enqueueing. */
  readonly enqueuedAt?: number
}

export interface TakenJob {
  readonly id: string
  readonly priority: Priority
  readonly payload: string
  /** Epoch ms */
  readonly enqueuedAt: number
  /** Time between enqueue and this take. */
  readonly waitedMs: number
  /** Epoch ms (Redis server time) when the lease ends unless acked or extended. */
  readonly leaseUntil: number
}

export interface QueueDepth {
  readonly HIGH: number
  readonly MEDIUM: number
  readonly LOW: number
  /** Taken and not acked yet (including expired leases not requeued yet). */
  readonly inFlight: number
}

export interface TakeOptions {
  readonly leaseMs: number
}

export interface QueueListener {
  /**
   * Returns when a job may be ready: one was enqueued or put back (by any process) since the
   * previous `next`, or this process's fallback check found jobs ready. A job is not reserved:
   * `take` may still find none (another consumer was faster).
   */
  readonly next: Effect.Effect<void>
}

export interface PriorityQueueShape {
  /** True when added; false when a job with this id is already queued or in flight. */
  readonly enqueue: (queue: string, job: EnqueueJob) => Effect.Effect<boolean, CoordinationError>
  /** The best job, moved to in-flight until `leaseMs` from now; `None` when the queue is empty. */
  readonly take: (queue: string, options: TakeOptions) => Effect.Effect<Option.Option<TakenJob>, CoordinationError>
  /** Done: removes the job (also a queued one: a cancel). True when it was in flight. */
  readonly ack: (queue: string, id: string) => Effect.Effect<boolean, CoordinationError>
  /** Gives an in-flight job back at once, with its original score. False when not in flight. */
  readonly release: (queue: string, id: string) => Effect.Effect<boolean, CoordinationError>
  /** Extends the lease of an in-flight job to `leaseMs` from now. False when not in flight. */
  readonly extendLease: (queue: string, id: string, leaseMs: number) => Effect.Effect<boolean, CoordinationError>
  /** Puts jobs whose lease passed back into the queue (original score); returns how many. */
  readonly requeueExpired: (queue: string) => Effect.Effect<number, CoordinationError>
  readonly depth: (queue: string) => Effect.Effect<QueueDepth, CoordinationError>
  /** Wake-ups for one consumer of `queue`, for the calling scope's lifetime. */
  readonly listen: (queue: string) => Effect.Effect<QueueListener, never, Scope.Scope>
}

export interface PriorityQueueOptions {
  /** W of the aging rule (default 30 000 ms). */
  readonly agingWindowMs?: number
  /** How often the fallback depth check runs while consumers wait (default 1 500 ms). */
  readonly wakeUpFallbackMs?: number
}

export const defaultWakeUpFallbackMs = 1_500

/** The wake-up topic of queue `name`. */
export const queueTopic = (name: string) => `queue:${name}`

/** At most this many wake-ups are published by one `requeueExpired` (the fallback does the rest). */
const maxRequeueWakeUps = 100

/** The Redis keys (under the service prefix) of queue `name`. */
export const queueKeys = (name: string) => ({
  // One hash slot per queue (Redis Cluster: the scripts take all of them): `queue:{<name>}:…`.
  HIGH: `queue:${nameTag(name)}:ready:HIGH`,
  MEDIUM: `queue:${nameTag(name)}:ready:MEDIUM`,
  LOW: `queue:${nameTag(name)}:ready:LOW`,
  inflight: `queue:${nameTag(name)}:inflight`,
  jobs: `queue:${nameTag(name)}:jobs`,
  counter: `queue:${nameTag(name)}:counter`,
})

const allKeys = (name: string) => {
  const keys = queueKeys(name)
  return [keys.HIGH, keys.MEDIUM, keys.LOW, keys.inflight, keys.jobs, keys.counter]
}

/** The stored job (`queue:<q>:jobs` values), written by Lua's cjson. */
const StoredJob = Schema.Struct({
  id: Schema.String,
  priority: Priority,
  payload: Schema.String,
  enqueuedAt: Schema.String,
  score: Schema.String,
  member: Schema.String,
})
const decodeStoredJob = Schema.decodeUnknownEffect(Schema.fromJsonString(StoredJob))

const nowMs = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

const readyIndex = `local ready = { HIGH = KEYS[1], MEDIUM = KEYS[2], LOW = KEYS[3] }`

// KEYS (all scripts): ready HIGH, ready MEDIUM, ready LOW, inflight, jobs, counter.

/** Publishes one wake-up per job put back (Lua helper). ARGV[channelArg] = channel ('' = none). */
const wakeUp = (channelArg: number) => `local function wakeUp(times)
  if ARGV[${channelArg}] == '' then return end
  for _ = 1, times do redis.call('PUBLISH', ARGV[${channelArg}], ARGV[${channelArg + 1}]) end
end`

/** ARGV: id, priority, payload, enqueuedAt ('' = now), boostMs, channel, topic. 1 = added. */
const enqueueScript = redisScript(
  "queue-enqueue",
  `${readyIndex}
${wakeUp(6)}
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then return 0 end
local target = ready[ARGV[2]]
if not target then return redis.error_reply('unknown priority ' .. tostring(ARGV[2])) end
local enqueuedAt
if ARGV[4] == '' then
  ${nowMs.replaceAll("\n", "\n  ")}
  enqueuedAt = now
else
  enqueuedAt = math.floor(tonumber(ARGV[4]))
end
local score = enqueuedAt - tonumber(ARGV[5])
local member = string.format('%016d', redis.call('INCR', KEYS[6])) .. ':' .. ARGV[1]
redis.call('HSET', KEYS[5], ARGV[1], cjson.encode({
  id = ARGV[1], priority = ARGV[2], payload = ARGV[3],
  enqueuedAt = string.format('%.0f', enqueuedAt), score = string.format('%.0f', score), member = member,
}))
redis.call('ZADD', target, string.format('%.0f', score), member)
wakeUp(1)
return 1`,
)

/** ARGV: leaseMs. {job JSON, now, leaseUntil} or nil. */
const takeScript = redisScript(
  "queue-take",
  `${nowMs}
while true do
  local bestKey, bestMember, bestScore
  for i = 1, 3 do
    local top = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if #top > 0 then
      local score = tonumber(top[2])
      if bestScore == nil or score < bestScore or (score == bestScore and top[1] < bestMember) then
        bestKey, bestMember, bestScore = KEYS[i], top[1], score
      end
    end
  end
  if bestKey == nil then return nil end
  redis.call('ZREM', bestKey, bestMember)
  local id = string.sub(bestMember, 18)
  local job = redis.call('HGET', KEYS[5], id)
  if job then
    local leaseUntil = now + tonumber(ARGV[1])
    redis.call('ZADD', KEYS[4], leaseUntil, id)
    return { job, tostring(now), tostring(leaseUntil) }
  end
end`,
)

/** ARGV: id. 1 = was in flight. */
const ackScript = redisScript(
  "queue-ack",
  `${readyIndex}
local removed = redis.call('ZREM', KEYS[4], ARGV[1])
local job = redis.call('HGET', KEYS[5], ARGV[1])
if job then
  local decoded = cjson.decode(job)
  if ready[decoded.priority] then redis.call('ZREM', ready[decoded.priority], decoded.member) end
  redis.call('HDEL', KEYS[5], ARGV[1])
end
return removed`,
)

/** Back into the ready set of its priority with its original score (Lua helper). */
const putBack = `${readyIndex}
local function putBack(id)
  local job = redis.call('HGET', KEYS[5], id)
  if not job then return 0 end
  local decoded = cjson.decode(job)
  local target = ready[decoded.priority]
  if not target then return 0 end
  redis.call('ZADD', target, decoded.score, decoded.member)
  return 1
end`

/** ARGV: id, channel, topic. 1 = was in flight, now queued again. */
const releaseScript = redisScript(
  "queue-release",
  `${putBack}
${wakeUp(2)}
if redis.call('ZREM', KEYS[4], ARGV[1]) == 0 then return 0 end
local released = putBack(ARGV[1])
wakeUp(released)
return released`,
)

/** ARGV: channel, topic, max wake-ups. Number of expired leases put back. */
const requeueScript = redisScript(
  "queue-requeue-expired",
  `${nowMs}
${putBack}
${wakeUp(1)}
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
local count = 0
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[4], id)
  count = count + putBack(id)
end
wakeUp(math.min(count, tonumber(ARGV[3])))
return count`,
)

/** ARGV: id, leaseMs. 1 = extended. */
const extendScript = redisScript(
  "queue-extend",
  `${nowMs}
if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[1])
return 1`,
)

export class PriorityQueue extends Context.Service<PriorityQueue, PriorityQueueShape>()("dcent/PriorityQueue") {
  static readonly make = Effect.fn("PriorityQueue.make")(function* (options: PriorityQueueOptions = {}) {
    const redis = yield* Redis
    const wakeUps = yield* WakeUps
    const layerScope = yield* Effect.scope
    const run = command(redis)
    const eval_ = script(redis)
    const agingWindowMs = Math.max(0, options.agingWindowMs ?? defaultAgingWindowMs)
    const fallbackMs = Math.max(1, options.wakeUpFallbackMs ?? defaultWakeUpFallbackMs)

    const refused = (operation: string, queue: string, detail: string) =>
      new CoordinationError({ operation, name: queue, reason: "Refused", detail })

    const enqueue = Effect.fn("PriorityQueue.enqueue")(function* (queue: string, job: EnqueueJob) {
      if (job.id === "") return yield* refused("queue enqueue", queue, "empty job id")
      if (!Schema.is(Priority)(job.priority)) {
        return yield* refused("queue enqueue", queue, `unknown priority ${String(job.priority)}`)
      }
      if (job.enqueuedAt !== undefined && !Number.isFinite(job.enqueuedAt)) {
        return yield* refused("queue enqueue", queue, `enqueuedAt must be epoch ms, got ${job.enqueuedAt}`)
      }
      const reply = yield* eval_("queue enqueue", queue, enqueueScript, allKeys(queue), [
        job.id,
        job.priority,
        job.payload,
        job.enqueuedAt === undefined ? "" : String(Math.floor(job.enqueuedAt)),
        priorityBoostMs(job.priority, agingWindowMs),
        wakeUps.channel,
        queueTopic(queue),
      ])
      return Number(reply) === 1
    })

    const take = Effect.fn("PriorityQueue.take")(function* (queue: string, takeOptions: TakeOptions) {
      const leaseMs = Math.max(1, Math.ceil(takeOptions.leaseMs))
      const reply = yield* eval_("queue take", queue, takeScript, allKeys(queue), [leaseMs])
      if (!Array.isArray(reply)) return Option.none<TakenJob>()
      // The take script answers [job JSON, server time ms, lease end ms] (Redis replies are strings).
      const [json, now, leaseUntil] = [String(reply[0]), String(reply[1]), String(reply[2])]
      const stored = yield* decodeStoredJob(json).pipe(
        Effect.mapError(
          (error) =>
            new CoordinationError({
              operation: "queue take",
              name: queue,
              reason: "Corrupt",
              detail: `unreadable job: ${error.message}`,
              cause: error,
            }),
        ),
      )
      const enqueuedAt = Number(stored.enqueuedAt)
      return Option.some<TakenJob>({
        id: stored.id,
        priority: stored.priority,
        payload: stored.payload,
        enqueuedAt,
        waitedMs: Math.max(0, Number(now) - enqueuedAt),
        leaseUntil: Number(leaseUntil),
      })
    })

    const ack = Effect.fn("PriorityQueue.ack")(function* (queue: string, id: string) {
      return Number(yield* eval_("queue ack", queue, ackScript, allKeys(queue), [id])) === 1
    })

    const release = Effect.fn("PriorityQueue.release")(function* (queue: string, id: string) {
      const reply = yield* eval_("queue release", queue, releaseScript, allKeys(queue), [
        id,
        wakeUps.channel,
        queueTopic(queue),
      ])
      return Number(reply) === 1
    })

    const extendLease = Effect.fn("PriorityQueue.extendLease")(function* (queue: string, id: string, leaseMs: number) {
      const ms = Math.max(1, Math.ceil(leaseMs))
      return Number(yield* eval_("queue extendLease", queue, extendScript, allKeys(queue), [id, ms])) === 1
    })

    const requeueExpired = Effect.fn("PriorityQueue.requeueExpired")(function* (queue: string) {
      return Number(
        yield* eval_("queue requeueExpired", queue, requeueScript, allKeys(queue), [
          wakeUps.channel,
          queueTopic(queue),
          maxRequeueWakeUps,
        ]),
      )
    })

    const depth = Effect.fn("PriorityQueue.depth")(function* (queue: string) {
      const keys = queueKeys(queue)
      const counts = yield* run("queue depth", queue, "ZCARD", (client) =>
        Promise.all([
          client.zcard(keys.HIGH),
          client.zcard(keys.MEDIUM),
          client.zcard(keys.LOW),
          client.zcard(keys.inflight),
        ]),
      )
      const [HIGH, MEDIUM, LOW, inFlight] = counts
      return { HIGH, MEDIUM, LOW, inFlight }
    })

    /**
     * The fallback for lost wake-ups: while consumers of `queue` wait, look at its depth now and
     * then and wake as many of them as there are jobs ready. One per queue and process.
     */
    const fallbackCheck = (queue: string) => {
      const topic = queueTopic(queue)
      const check = Effect.gen(function* () {
        const idle = wakeUps.waiting(topic)
        if (idle === 0) return
        const ready = yield* depth(queue).pipe(
          Effect.map((counts) => counts.HIGH + counts.MEDIUM + counts.LOW),
          Effect.orElseSucceed(() => 0),
        )
        if (ready > 0) wakeUps.wakeLocal(topic, Math.min(ready, idle))
      })
      return Random.next.pipe(
        Effect.flatMap((random) => Effect.sleep(Duration.millis(fallbackMs * (0.75 + random / 2)))),
        Effect.andThen(check),
        Effect.forever,
      )
    }
    const checked = new Set<string>()

    const listen = (queue: string) =>
      Effect.gen(function* () {
        if (!checked.has(queue)) {
          checked.add(queue)
          yield* Effect.forkIn(fallbackCheck(queue), layerScope)
        }
        const listener = yield* wakeUps.listen(queueTopic(queue), "one")
        return { next: Effect.asVoid(listener.next(Number.POSITIVE_INFINITY)) } satisfies QueueListener
      })

    return PriorityQueue.of({ enqueue, take, ack, release, extendLease, requeueExpired, depth, listen })
  })

  /** W = 30 s. */
  static readonly layer: Layer.Layer<PriorityQueue, never, Redis | WakeUps> = Layer.effect(
    PriorityQueue,
    PriorityQueue.make(),
  )

  static readonly layerWith = (options: PriorityQueueOptions): Layer.Layer<PriorityQueue, never, Redis | WakeUps> =>
    Layer.effect(PriorityQueue, PriorityQueue.make(options))
}
