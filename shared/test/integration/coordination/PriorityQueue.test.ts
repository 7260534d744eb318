/** PriorityQueue against the real Redis; two layers = two connections = two processes. */
import { Context, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import {
  CoordinationError,
  PriorityQueue,
  type PriorityQueueOptions,
  queueKeys,
} from "../../../src/coordination/PriorityQueue.ts"
import type { Priority } from "../../../src/orders/domain.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, testPrefix } from "../eventlog/support.ts"
import { processLayer } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const processes = async (count: number, options: PriorityQueueOptions = {}, wakeUps: "pubsub" | "local" = "pubsub") => {
  const prefix = testPrefix("queue")
  prefixes.push(prefix)
  const build = async () => {
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.provideMerge(PriorityQueue.layerWith(options), processLayer(prefix, wakeUps)), scope),
    )
    return { queue: Context.get(context, PriorityQueue), redis: Context.get(context, Redis) }
  }
  return Promise.all(Array.from({ length: count }, build))
}

const takeIds = (queue: PriorityQueue["Service"], name: string, n: number) =>
  Effect.gen(function* () {
    const ids: Array<string> = []
    for (let i = 0; i < n; i++) {
      const job = yield* queue.take(name, { leaseMs: 10_000 })
      if (Option.isNone(job)) break
      ids.push(job.value.id)
    }
    return ids
  })

describe("PriorityQueue", () => {
  it("hands out HIGH, then MEDIUM, then LOW, FIFO within a priority", async () => {
    const { queue } = (await processes(1))[0]!
    await Effect.runPromise(
      Effect.gen(function* () {
        const jobs: ReadonlyArray<[string, Priority]> = [
          ["l1", "LOW"],
          ["m1", "MEDIUM"],
          ["h1", "HIGH"],
          ["l2", "LOW"],
          ["h2", "HIGH"],
          ["m2", "MEDIUM"],
          ["h3", "HIGH"],
          ["l3", "LOW"],
        ]
        // same millisecond for all: order within a priority comes from the enqueue order
        const at = Date.now()
        for (const [id, priority] of jobs) {
          expect(yield* queue.enqueue("q", { id, priority, payload: `payload of ${id}`, enqueuedAt: at })).toBe(true)
        }
        // and without an explicit time (Redis server time)
        yield* queue.enqueue("q", { id: "h4", priority: "HIGH", payload: "" })
        expect(yield* queue.depth("q")).toEqual({ HIGH: 4, MEDIUM: 2, LOW: 3, inFlight: 0 })
        const first = yield* queue.take("q", { leaseMs: 10_000 })
        expect(Option.getOrThrow(first)).toMatchObject({
          id: "h1",
          priority: "HIGH",
          payload: "payload of h1",
          enqueuedAt: at,
        })
        expect(Option.getOrThrow(first).waitedMs).toBeGreaterThanOrEqual(0)
        expect(yield* takeIds(queue, "q", 20)).toEqual(["h2", "h3", "h4", "m1", "m2", "l1", "l2", "l3"])
        expect(yield* queue.depth("q")).toEqual({ HIGH: 0, MEDIUM: 0, LOW: 0, inFlight: 9 })
        expect(Option.isNone(yield* queue.take("q", { leaseMs: 1_000 }))).toBe(true)
      }),
    )
  })

  it("ages jobs: a LOW job older than 2W beats a fresh HIGH one (W = 100 ms)", async () => {
    const { queue } = (await processes(1, { agingWindowMs: 100 }))[0]!
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* queue.enqueue("aging", { id: "old-low", priority: "LOW", payload: "" })
        yield* queue.enqueue("aging", { id: "old-medium", priority: "MEDIUM", payload: "" })
        yield* Effect.sleep("250 millis")
        yield* queue.enqueue("aging", { id: "fresh-high", priority: "HIGH", payload: "" })
        yield* queue.enqueue("aging", { id: "fresh-low", priority: "LOW", payload: "" })
        const taken = yield* takeIds(queue, "aging", 10)
        expect(taken).toEqual(["old-medium", "old-low", "fresh-high", "fresh-low"])

        // without aging past the window, priority wins
        const t = Date.now()
        yield* queue.enqueue("young", { id: "low", priority: "LOW", payload: "", enqueuedAt: t })
        yield* queue.enqueue("young", { id: "high", priority: "HIGH", payload: "", enqueuedAt: t + 150 })
        // …but 2W + 1 ms later, the LOW job goes first
        yield* queue.enqueue("aged", { id: "low", priority: "LOW", payload: "", enqueuedAt: t })
        yield* queue.enqueue("aged", { id: "high", priority: "HIGH", payload: "", enqueuedAt: t + 201 })
        expect(yield* takeIds(queue, "aged", 10)).toEqual(["low", "high"])
        expect(yield* takeIds(queue, "young", 10)).toEqual(["high", "low"])
      }),
    )
  })

  it("is idempotent by id while a job is queued or in flight", async () => {
    const { queue } = (await processes(1))[0]!
    await Effect.runPromise(
      Effect.gen(function* () {
        expect(yield* queue.enqueue("idem", { id: "ORD-1", priority: "MEDIUM", payload: "a" })).toBe(true)
        expect(yield* queue.enqueue("idem", { id: "ORD-1", priority: "HIGH", payload: "b" })).toBe(false)
        expect(yield* queue.depth("idem")).toEqual({ HIGH: 0, MEDIUM: 1, LOW: 0, inFlight: 0 })
        const job = Option.getOrThrow(yield* queue.take("idem", { leaseMs: 10_000 }))
        expect(job.payload).toBe("a")
        expect(yield* queue.enqueue("idem", { id: "ORD-1", priority: "MEDIUM", payload: "c" })).toBe(false)
        expect(yield* queue.ack("idem", "ORD-1")).toBe(true)
        expect(yield* queue.ack("idem", "ORD-1")).toBe(false)
        expect(yield* queue.depth("idem")).toEqual({ HIGH: 0, MEDIUM: 0, LOW: 0, inFlight: 0 })
        // done: the id may be used again
        expect(yield* queue.enqueue("idem", { id: "ORD-1", priority: "LOW", payload: "d" })).toBe(true)
        expect(Option.getOrThrow(yield* queue.take("idem", { leaseMs: 1_000 })).payload).toBe("d")
        // concurrent enqueues of one id add it once
        const added = yield* Effect.forEach(
          Array.from({ length: 10 }),
          () => queue.enqueue("idem", { id: "ORD-2", priority: "HIGH", payload: "" }),
          { concurrency: "unbounded" },
        )
        expect(added.filter(Boolean)).toHaveLength(1)
      }),
    )
  })

  it("requeues jobs whose lease expired, keeping their place; release and extendLease", async () => {
    const { queue } = (await processes(1))[0]!
    await Effect.runPromise(
      Effect.gen(function* () {
        const at = Date.now()
        yield* queue.enqueue("lease", { id: "a", priority: "LOW", payload: "", enqueuedAt: at })
        yield* queue.enqueue("lease", { id: "b", priority: "LOW", payload: "", enqueuedAt: at + 1 })
        // Leases of a second: a stall of the test process between two commands must not expire one.
        const a = Option.getOrThrow(yield* queue.take("lease", { leaseMs: 1_000 }))
        expect(a.id).toBe("a")
        expect(a.leaseUntil).toBeGreaterThan(Date.now() - 1_000)
        expect(yield* queue.requeueExpired("lease")).toBe(0)
        yield* Effect.sleep("1100 millis")
        expect(yield* queue.requeueExpired("lease")).toBe(1)
        expect(yield* queue.depth("lease")).toEqual({ HIGH: 0, MEDIUM: 0, LOW: 2, inFlight: 0 })
        // "a" kept its original score: still ahead of "b"
        const again = Option.getOrThrow(yield* queue.take("lease", { leaseMs: 1_000 }))
        expect(again.id).toBe("a")
        expect(again.waitedMs).toBeGreaterThanOrEqual(1_100)
        // a renewed lease does not expire
        expect(yield* queue.extendLease("lease", "a", 10_000)).toBe(true)
        yield* Effect.sleep("250 millis")
        expect(yield* queue.requeueExpired("lease")).toBe(0)
        // release: back at once, still first
        expect(yield* queue.release("lease", "a")).toBe(true)
        expect(yield* queue.release("lease", "a")).toBe(false)
        expect(yield* takeIds(queue, "lease", 5)).toEqual(["a", "b"])
        expect(yield* queue.extendLease("lease", "missing", 1_000)).toBe(false)
      }),
    )
  })

  it("never gives one job to two concurrent takers on different connections", async () => {
    const processesList = await processes(2)
    const [first] = processesList
    await Effect.runPromise(
      Effect.gen(function* () {
        const total = 300
        const priorities: ReadonlyArray<Priority> = ["HIGH", "MEDIUM", "LOW"]
        yield* Effect.forEach(
          Array.from({ length: total }, (_, i) => i),
          (i) => first!.queue.enqueue("race", { id: `job-${i}`, priority: priorities[i % 3]!, payload: String(i) }),
          { concurrency: 20 },
        )
        const taken: Array<string> = []
        const worker = (queue: PriorityQueue["Service"]) =>
          Effect.gen(function* () {
            while (true) {
              const job = yield* queue.take("race", { leaseMs: 30_000 })
              if (Option.isNone(job)) return
              taken.push(job.value.id)
              yield* queue.ack("race", job.value.id)
            }
          })
        yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => processesList[i % 2]!.queue),
          worker,
          { concurrency: "unbounded" },
        )
        expect(taken).toHaveLength(total)
        expect(new Set(taken).size).toBe(total)
        expect(yield* first!.queue.depth("race")).toEqual({ HIGH: 0, MEDIUM: 0, LOW: 0, inFlight: 0 })
        const leftovers = yield* Effect.promise(() => first!.redis.client.hlen(queueKeys("race").jobs))
        expect(leftovers).toBe(0)
      }),
    )
  })

  it("wakes one waiting consumer per process when another process enqueues or puts a job back", async () => {
    // No fallback check within the test: only a wake-up can end a wait.
    const [consumer, producer] = await processes(2, { wakeUpFallbackMs: 3_600_000 })
    const notWoken = (fiber: Fiber.Fiber<unknown>) => Effect.sleep("150 millis").pipe(Effect.as(fiber.pollUnsafe()))
    await Effect.runPromise(
      Effect.gen(function* () {
        const a = yield* consumer!.queue.listen("wake")
        const b = yield* consumer!.queue.listen("wake")
        const waitA = yield* Effect.forkChild(a.next)
        const waitB = yield* Effect.forkChild(b.next)
        expect(yield* notWoken(waitA)).toBeUndefined()
        // one job: one of the two is woken
        yield* producer!.queue.enqueue("wake", { id: "j1", priority: "LOW", payload: "" })
        const first = yield* Effect.raceFirst(
          Fiber.join(waitA).pipe(Effect.as("a")),
          Fiber.join(waitB).pipe(Effect.as("b")),
        ).pipe(Effect.timeout("5 seconds"))
        const other = first === "a" ? waitB : waitA
        expect(yield* notWoken(other)).toBeUndefined()
        // a job already queued (not added again) wakes nobody
        expect(yield* producer!.queue.enqueue("wake", { id: "j1", priority: "LOW", payload: "" })).toBe(false)
        expect(yield* notWoken(other)).toBeUndefined()
        // a job released (drain) wakes a waiting consumer…
        const taken = Option.getOrThrow(yield* producer!.queue.take("wake", { leaseMs: 300 }))
        expect(yield* producer!.queue.release("wake", taken.id)).toBe(true)
        yield* Fiber.join(other).pipe(Effect.timeout("5 seconds"))
        // …and so does a job whose lease expired, when it is put back
        const woken = first === "a" ? a : b
        const waitAgain = yield* Effect.forkChild(woken.next)
        yield* producer!.queue.take("wake", { leaseMs: 100 })
        yield* Effect.sleep("200 millis")
        expect(waitAgain.pollUnsafe()).toBeUndefined()
        expect(yield* producer!.queue.requeueExpired("wake")).toBe(1)
        yield* Fiber.join(waitAgain).pipe(Effect.timeout("5 seconds"))
      }).pipe(Effect.scoped),
    )
  })

  it("without wake-ups, the fallback depth check wakes waiting consumers when jobs are ready", async () => {
    const [consumer, producer] = await processes(2, { wakeUpFallbackMs: 100 }, "local")
    await Effect.runPromise(
      Effect.gen(function* () {
        const listener = yield* consumer!.queue.listen("fallback")
        const waiting = yield* Effect.forkChild(listener.next)
        yield* Effect.sleep("400 millis")
        expect(waiting.pollUnsafe()).toBeUndefined()
        yield* producer!.queue.enqueue("fallback", { id: "j", priority: "HIGH", payload: "" })
        yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))
        expect(Option.getOrThrow(yield* consumer!.queue.take("fallback", { leaseMs: 1_000 })).id).toBe("j")
      }).pipe(Effect.scoped),
    )
  })

  it("fails with the reason: Refused for a bad job, Corrupt (with its cause) for a stored job it cannot read", async () => {
    const { queue, redis } = (await processes(1))[0]!
    await Effect.runPromise(
      Effect.gen(function* () {
        const refused = yield* Effect.flip(queue.enqueue("bad", { id: "", priority: "LOW", payload: "x" }))
        expect(refused).toBeInstanceOf(CoordinationError)
        expect(refused).toMatchObject({ reason: "Refused", operation: "queue enqueue", name: "bad" })
        expect(refused.cause).toBeUndefined()

        expect(yield* queue.enqueue("bad", { id: "j1", priority: "LOW", payload: "x" })).toBe(true)
        yield* Effect.promise(() => redis.client.hset(queueKeys("bad").jobs, "j1", "not json"))
        const corrupt = yield* Effect.flip(queue.take("bad", { leaseMs: 10_000 }))
        expect(corrupt).toMatchObject({ reason: "Corrupt", operation: "queue take" })
        expect(corrupt.detail).toContain("unreadable job")
        expect(corrupt.cause).toBeDefined()
      }),
    )
  })
})
