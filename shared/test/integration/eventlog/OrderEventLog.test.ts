/** OrderEventLog against the real Redis of infra/local/stack.sh. */
import { createHash } from "node:crypto"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { makeDraft, type OrderEventRecord } from "../../../src/orders/events.ts"
import { OrderEventLog, outboxStreamKey } from "../../../src/orders/OrderEventLog.ts"
import { keyShardOf, orderTag } from "../../../src/redis/keys.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, eventually, rawClient, redisLayer, testPrefix } from "./support.ts"

/** `name` in the hash slot of `orderReqId`'s commits (every key of a commit carries its tag). */
const inOrder = (orderReqId: string, name: string) => `${name}:${orderTag(orderReqId)}`
/** The outbox stream an order's entries go to. */
const outboxOf = (orderReqId: string) => outboxStreamKey(keyShardOf(orderReqId))

const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const newPrefix = () => {
  const prefix = testPrefix("eventlog")
  prefixes.push(prefix)
  return prefix
}

/** The event log and its Redis under a fresh prefix. */
const logLayer = (prefix: string, options: Parameters<typeof OrderEventLog.layerWith>[0] = {}) =>
  Layer.provideMerge(OrderEventLog.layerWith(options), redisLayer(prefix))

const run = <A, E>(
  effect: Effect.Effect<A, E, OrderEventLog | Redis | Scope.Scope>,
  prefix = newPrefix(),
  options: Parameters<typeof OrderEventLog.layerWith>[0] = {},
) => Effect.runPromise(effect.pipe(Effect.scoped, Effect.provide(logLayer(prefix, options))))

const draft = (n: number) =>
  makeDraft("NewProposal", `proposal ${n}`, { proposalId: `P-${n}`, details: { n: String(n) } })

describe("OrderEventLog", () => {
  it("appends with gap-free seqs 1, 2, 3 … and reads them back", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        expect(yield* log.lastSeq("ORD-1")).toBe(0)
        const first = yield* log.append("ORD-1", [draft(1)])
        expect(first.map((r) => r.seq)).toEqual([1])
        const more = yield* log.append("ORD-1", [draft(2), draft(3)])
        expect(more.map((r) => r.seq)).toEqual([2, 3])
        expect(yield* log.lastSeq("ORD-1")).toBe(3)
        const all = yield* log.read("ORD-1", 0)
        expect(all.map((r) => r.seq)).toEqual([1, 2, 3])
        expect(all[0]).toEqual(first[0])
        expect(all[1]?.proposalId).toBe("P-2")
        expect(all[1]?.details).toEqual({ n: "2" })
        expect(all[1]?.orderReqId).toBe("ORD-1")
        // other orders are independent
        expect(yield* log.lastSeq("ORD-2")).toBe(0)
        expect((yield* log.append("ORD-2", [draft(9)]))[0]?.seq).toBe(1)
      }),
    ))

  it("appendAt commits only while the log and the guarded state are what the caller read", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        const redis = yield* Redis
        const sha1 = (value: string) => createHash("sha1").update(value).digest("hex")
        const state = inOrder("ORD-AT", "state:ORD-AT")
        const set = (value: string) => redis.use("SET", (client) => client.set(state, value))
        const get = redis.use("GET", (client) => client.get(state))

        // Nothing read yet: the log at 0 and the state absent ("").
        const first = yield* log.appendAt("ORD-AT", 0, [draft(1)], {
          writes: [{ op: "set", key: state, value: "v1" }],
          guards: [{ key: state, sha1: "" }],
        })
        expect(first._tag).toBe("Committed")
        expect(first._tag === "Committed" && first.records.map((r) => r.seq)).toEqual([1])

        // A stale seq: refused, nothing written.
        const staleSeq = yield* log.appendAt("ORD-AT", 0, [draft(2)], {
          writes: [{ op: "set", key: state, value: "stale" }],
          guards: [{ key: state, sha1: sha1("v1") }],
        })
        expect(staleSeq).toEqual({ _tag: "Conflict", lastSeq: 1 })
        expect(yield* get).toBe("v1")

        // The seq is right but the state changed without an event (e.g. a remembered reply).
        yield* set("v1-changed")
        const staleState = yield* log.appendAt("ORD-AT", 1, [draft(2)], {
          writes: [{ op: "set", key: state, value: "stale" }],
          guards: [{ key: state, sha1: sha1("v1") }],
        })
        expect(staleState).toEqual({ _tag: "Conflict", lastSeq: 1 })
        expect(yield* log.lastSeq("ORD-AT")).toBe(1)
        expect(yield* get).toBe("v1-changed")

        // Read again, decide again: committed, also with no event (state only).
        const stateOnly = yield* log.appendAt("ORD-AT", 1, [], {
          writes: [{ op: "set", key: state, value: "v2" }],
          guards: [{ key: state, sha1: sha1("v1-changed") }],
        })
        expect(stateOnly).toEqual({ _tag: "Committed", records: [] })
        expect(yield* get).toBe("v2")
        expect(yield* log.lastSeq("ORD-AT")).toBe(1)
      }),
    ))

  it("assigns each seq exactly once under 20 concurrent appenders to one order", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        const appenders = 20
        const perAppender = 5
        const committed = yield* Effect.forEach(
          Array.from({ length: appenders }, (_, a) => a),
          (a) =>
            Effect.forEach(
              Array.from({ length: perAppender }, (_, i) => i),
              (i) =>
                log.append("ORD-C", i % 2 === 0 ? [draft(a * 100 + i)] : [draft(a * 100 + i), draft(a * 1000 + i)]),
            ),
          { concurrency: "unbounded" },
        )
        const returned = committed.flat(2)
        const stored = yield* log.read("ORD-C", 0)
        const total = appenders * (perAppender + Math.floor(perAppender / 2))
        expect(stored.length).toBe(total)
        expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
        expect(new Set(stored.map((r) => r.eventId)).size).toBe(total)
        // what each appender was told is what is stored
        const bySeq = new Map(stored.map((r) => [r.seq, r]))
        for (const record of returned) expect(bySeq.get(record.seq)).toEqual(record)
        // a multi-event append stays contiguous
        for (const batch of committed.flat()) {
          if (batch.length === 2) expect(batch[1]!.seq).toBe(batch[0]!.seq + 1)
        }
      }),
    ))

  it("gives up on an append that keeps conflicting with a Contention failure (nothing written), not a bug", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        // One attempt each: appenders that read the same last seq conflict, and may not retry.
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, a) => a),
          (a) => Effect.result(log.append("ORD-K", [draft(a)])),
          { concurrency: "unbounded" },
        )
        const committed = outcomes.filter((outcome) => outcome._tag === "Success")
        const refused = outcomes.flatMap((outcome) => (outcome._tag === "Failure" ? [outcome.failure] : []))
        expect(refused.length).toBeGreaterThan(0)
        for (const error of refused) {
          expect(error).toMatchObject({ _tag: "EventLogError", reason: "Contention", operation: "append" })
          expect(error.detail).toContain("gave up after 1 conflicting concurrent appends")
        }
        // the ones that gave up wrote nothing
        expect(yield* log.lastSeq("ORD-K")).toBe(committed.length)
      }),
      newPrefix(),
      { maxCommitAttempts: 1 },
    ))

  it("commits the events, the state writes and the outbox entries together", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        const redis = yield* Redis
        const records = yield* log.append("ORD-A", [draft(1)], {
          writes: [
            { op: "set", key: inOrder("ORD-A", "order:ORD-A:status"), value: "SUBMITTED" },
            { op: "set", key: inOrder("ORD-A", "order:ORD-A:ttl"), value: "x", pxMs: 60_000 },
            { op: "hset", key: inOrder("ORD-A", "order:ORD-A:proposals"), field: "P-1", value: "{}" },
            { op: "zadd", key: inOrder("ORD-A", "timers"), score: 123, member: "expire:ORD-A" },
            { op: "sadd", key: inOrder("ORD-A", "orders"), member: "ORD-A" },
          ],
          outbox: (committed) =>
            committed.map((r) => ({
              topic: "BUYER_NOTIFY",
              key: r.orderReqId,
              headers: { "event-id": r.eventId },
              payload: JSON.stringify({ Seq: r.seq }),
            })),
          extraOutbox: [{ topic: "REQ_failures", key: "ORD-A", headers: {}, payload: "{}" }],
        })
        expect(records[0]?.seq).toBe(1)
        const client = redis.client
        expect(yield* Effect.promise(() => client.get(inOrder("ORD-A", "order:ORD-A:status")))).toBe("SUBMITTED")
        const ttl = yield* Effect.promise(() => client.pttl(inOrder("ORD-A", "order:ORD-A:ttl")))
        expect(ttl).toBeGreaterThan(50_000)
        expect(yield* Effect.promise(() => client.hget(inOrder("ORD-A", "order:ORD-A:proposals"), "P-1"))).toBe("{}")
        expect(yield* Effect.promise(() => client.zscore(inOrder("ORD-A", "timers"), "expire:ORD-A"))).toBe("123")
        expect(yield* Effect.promise(() => client.sismember(inOrder("ORD-A", "orders"), "ORD-A"))).toBe(1)
        const outbox = yield* Effect.promise(() => client.xrange(outboxOf("ORD-A"), "-", "+"))
        // Each entry also carries the trace context of the commit (`traceparent`), for the relay's span.
        const traceparent = records[0]?.traceContext?.traceparent
        expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
        expect(outbox.map(([, fields]) => fields)).toEqual([
          [
            "topic",
            "BUYER_NOTIFY",
            "key",
            "ORD-A",
            "headers",
            JSON.stringify({ "event-id": records[0]!.eventId, traceparent }),
            "payload",
            '{"Seq":1}',
          ],
          ["topic", "REQ_failures", "key", "ORD-A", "headers", JSON.stringify({ traceparent }), "payload", "{}"],
        ])

        // an append appends: writes alone are `commitWrites`
        const empty = yield* Effect.flip(
          log.append("ORD-A", [], { writes: [{ op: "del", key: inOrder("ORD-A", "x") }] }),
        )
        expect(empty).toMatchObject({ _tag: "EventLogError", reason: "Refused", detail: "no events to append" })

        // deletes and removals, with no events at all
        yield* log.commitWrites("ORD-A", [
          { op: "del", key: inOrder("ORD-A", "order:ORD-A:status") },
          { op: "hdel", key: inOrder("ORD-A", "order:ORD-A:proposals"), field: "P-1" },
          { op: "zrem", key: inOrder("ORD-A", "timers"), member: "expire:ORD-A" },
          { op: "srem", key: inOrder("ORD-A", "orders"), member: "ORD-A" },
        ])
        expect(yield* log.lastSeq("ORD-A")).toBe(1)
        // nothing was published for them
        expect(yield* Effect.promise(() => client.xlen(outboxOf("ORD-A")))).toBe(2)
        expect(
          yield* Effect.promise(() =>
            client.exists(
              inOrder("ORD-A", "order:ORD-A:status"),
              inOrder("ORD-A", "order:ORD-A:proposals"),
              inOrder("ORD-A", "timers"),
              inOrder("ORD-A", "orders"),
            ),
          ),
        ).toBe(0)
      }),
    ))

  it("writes nothing at all when one write cannot be applied", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        const redis = yield* Redis
        yield* Effect.promise(() => redis.client.set(inOrder("ORD-X", "a-string"), "v"))
        const error = yield* Effect.flip(
          log.append("ORD-X", [draft(1)], {
            writes: [
              { op: "set", key: inOrder("ORD-X", "order:ORD-X:status"), value: "SUBMITTED" },
              { op: "hset", key: inOrder("ORD-X", "a-string"), field: "f", value: "v" }, // WRONGTYPE
            ],
            extraOutbox: [{ topic: "BUYER_NOTIFY", key: "ORD-X", headers: {}, payload: "{}" }],
          }),
        )
        expect(error._tag).toBe("EventLogError")
        expect(error.message).toContain("WRONGTYPE")
        expect(error.reason).toBe("Refused")
        expect(error.cause).toBeDefined()
        expect(yield* log.lastSeq("ORD-X")).toBe(0)
        expect(
          yield* Effect.promise(() => redis.client.exists(inOrder("ORD-X", "order:ORD-X:status"), outboxOf("ORD-X"))),
        ).toBe(0)

        // a key rewritten earlier in the same commit is judged by its new type
        yield* log.append("ORD-X", [draft(2)], {
          writes: [
            { op: "del", key: inOrder("ORD-X", "a-string") },
            { op: "hset", key: inOrder("ORD-X", "a-string"), field: "f", value: "v" },
          ],
        })
        expect(yield* Effect.promise(() => redis.client.hget(inOrder("ORD-X", "a-string"), "f"))).toBe("v")

        // invalid input is refused before Redis is asked
        const bad = yield* Effect.flip(
          log.append("ORD-X", [draft(3)], { writes: [{ op: "zadd", key: "z", score: Number.NaN, member: "m" }] }),
        )
        expect(bad.reason).toBe("Refused")
        expect(bad.detail).toContain("score must be a finite number")
        const badDraft = yield* Effect.flip(log.append("ORD-X", [{ ...draft(4), eventId: "" }]))
        expect(badDraft._tag).toBe("EventLogError")
        expect(yield* log.lastSeq("ORD-X")).toBe(1)
      }),
    ))

  it("records the next event once, reports duplicates and refuses gaps", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        const redis = yield* Redis
        const event = (seq: number): OrderEventRecord => ({
          orderReqId: "ORD-R",
          seq,
          eventId: `e-${seq}`,
          status: "NewProposal",
          proposalId: "P-1",
          occurredAt: new Date(1_700_000_000_000 + seq).toISOString(),
          message: `event ${seq}`,
          details: {},
        })
        const options = (seq: number) => ({
          writes: [{ op: "hset" as const, key: inOrder("ORD-R", "seen"), field: String(seq), value: "1" }],
          outbox: (records: ReadonlyArray<OrderEventRecord>) =>
            records.map((r) => ({ topic: "BUYER_NOTIFY", key: r.orderReqId, headers: {}, payload: String(r.seq) })),
        })
        expect(yield* log.record(event(1), options(1))).toBe("recorded")
        expect(yield* log.record(event(2), options(2))).toBe("recorded")
        expect(yield* log.record(event(1), options(1))).toBe("duplicate")
        expect(yield* log.record(event(2), options(2))).toBe("duplicate")
        const gap = yield* Effect.flip(log.record(event(4), options(4)))
        expect(gap).toMatchObject({ _tag: "SeqGap", logId: "ORD-R", expected: 3, got: 4 })
        expect(yield* log.record(event(3), options(3))).toBe("recorded")
        expect(yield* log.record(event(4), options(4))).toBe("recorded")

        const stored = yield* log.read("ORD-R", 0)
        // Recorded with the recording side's trace context.
        const traced = (record: OrderEventRecord) => ({
          ...record,
          traceContext: { traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/) },
        })
        expect(stored).toEqual([event(1), event(2), event(3), event(4)].map(traced))
        expect(yield* Effect.promise(() => redis.client.hkeys(inOrder("ORD-R", "seen")))).toEqual(["1", "2", "3", "4"])
        const outbox = yield* Effect.promise(() => redis.client.xrange(outboxOf("ORD-R"), "-", "+"))
        expect(outbox.map(([, fields]) => fields[7])).toEqual(["1", "2", "3", "4"])

        // the same event delivered concurrently many times is recorded exactly once
        const outcomes = yield* Effect.forEach(Array.from({ length: 10 }), () => log.record(event(5), options(5)), {
          concurrency: "unbounded",
        })
        expect(outcomes.filter((o) => o === "recorded")).toHaveLength(1)
        expect(yield* log.lastSeq("ORD-R")).toBe(5)
      }),
    ))

  it("reads from a middle seq, with a limit", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        yield* log.append(
          "ORD-M",
          Array.from({ length: 10 }, (_, i) => draft(i + 1)),
        )
        expect((yield* log.read("ORD-M", 4)).map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10])
        expect((yield* log.read("ORD-M", 4, 3)).map((r) => r.seq)).toEqual([5, 6, 7])
        expect(yield* log.read("ORD-M", 10)).toEqual([])
        expect(yield* log.read("ORD-M", 99)).toEqual([])
        expect(yield* log.read("unknown", 0)).toEqual([])
      }),
    ))

  it("follows from a middle seq: the backlog, then live events, never repeating", () =>
    run(
      Effect.gen(function* () {
        const log = yield* OrderEventLog
        yield* log.append("ORD-F", [draft(1), draft(2), draft(3), draft(4)])
        const seen: Array<number> = []
        const fiber = yield* log.follow("ORD-F", 2).pipe(
          Stream.takeUntil((r) => r.status === "OrderFinalised"),
          Stream.runForEach((r) => Effect.sync(() => seen.push(r.seq))),
          Effect.forkChild,
        )
        yield* eventually(
          () => seen.length === 2,
          5_000,
          () => `backlog, seen ${seen}`,
        )
        for (let i = 5; i <= 8; i++) yield* log.append("ORD-F", [draft(i)])
        yield* log.append("ORD-F", [makeDraft("OrderFinalised", "done")])
        yield* Fiber.join(fiber)
        expect(seen).toEqual([3, 4, 5, 6, 7, 8, 9])
        // the stream ended: its registration is gone
        expect(yield* log.activeFollows).toBe(0)
      }),
    ))

  it("follow sees events committed through another connection (another process) promptly", async () => {
    const prefix = newPrefix()
    // Follows do not poll: delivery relies on the pub/sub wake-up alone.
    const followerScope = Effect.runSync(Scope.make())
    const follower = await Effect.runPromise(Layer.buildWithScope(logLayer(prefix), followerScope))
    try {
      await run(
        Effect.gen(function* () {
          const writer = yield* OrderEventLog
          const followLog = Context.get(follower, OrderEventLog)
          const seen: Array<OrderEventRecord> = []
          const fiber = yield* followLog.follow("ORD-P", 0).pipe(
            Stream.runForEach((r) => Effect.sync(() => seen.push(r))),
            Effect.forkChild,
          )
          yield* Effect.sleep("200 millis") // let the subscriber connect
          for (let i = 1; i <= 5; i++) {
            const started = Date.now()
            yield* writer.append("ORD-P", [draft(i)])
            yield* eventually(
              () => seen.length === i,
              3_000,
              () => `event ${i}`,
            )
            expect(Date.now() - started).toBeLessThan(1_000)
          }
          const records = yield* writer.append("ORD-P", [draft(6), draft(7)], { writes: [] })
          yield* eventually(
            () => seen.length === 7,
            3_000,
            () => "events 6 and 7",
          )
          expect(seen.slice(5)).toEqual(records)
          expect(seen.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
          yield* Fiber.interrupt(fiber)
        }),
        prefix,
      )
    } finally {
      await Effect.runPromise(Scope.close(followerScope, Exit.void))
    }
  })

  it("serves 200 concurrent follows over the layer's shared connections", async () => {
    const prefix = newPrefix()
    const raw = await rawClient()
    try {
      await run(
        Effect.gen(function* () {
          const log = yield* OrderEventLog
          const before = Number(
            (yield* Effect.promise(() => raw.info("clients"))).match(/connected_clients:(\d+)/)?.[1],
          )
          const orders = Array.from({ length: 20 }, (_, i) => `ORD-N${i}`)
          const counts = new Map<number, Array<number>>()
          const fibers = yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => i),
            (i) => {
              const seqs: Array<number> = []
              counts.set(i, seqs)
              return log.follow(orders[i % orders.length]!, 0).pipe(
                Stream.runForEach((r) => Effect.sync(() => seqs.push(r.seq))),
                Effect.forkChild,
              )
            },
          )
          const during = Number(
            (yield* Effect.promise(() => raw.info("clients"))).match(/connected_clients:(\d+)/)?.[1],
          )
          // no connection per follow (other test runs may open a few connections meanwhile)
          expect(during - before).toBeLessThan(20)
          yield* Effect.forEach(orders, (order) => log.append(order, [draft(1), draft(2)]), { concurrency: 10 })
          yield* Effect.forEach(orders, (order) => log.append(order, [draft(3)]), { concurrency: 10 })
          yield* eventually(
            () => [...counts.values()].every((seqs) => seqs.length === 3),
            10_000,
            () => `all follows to see 3 events (${[...counts.values()].filter((s) => s.length === 3).length}/200)`,
          )
          for (const seqs of counts.values()) expect(seqs).toEqual([1, 2, 3])
          expect(yield* log.activeFollows).toBe(200)
          yield* Effect.forEach(fibers, Fiber.interrupt)
          expect(yield* log.activeFollows).toBe(0)
        }),
        prefix,
      )
    } finally {
      raw.disconnect()
    }
  })
})
