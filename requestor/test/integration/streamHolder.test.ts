/**
 * Two `StreamHolder`s ("replicas": separate Redis connections, one key prefix of their own) in
 * the test process, against the real Redis and the fake processor: the stream shards are shared
 * out fairly, one order's stream is held by exactly one of them (the owner of its shard), claims
 * keep it there, an order initiated on the other replica reaches the owner, a graceful stop hands
 * the shards over (the new holder resumes from the last recorded seq), and a holder whose shard
 * is taken away stops its stream at once.
 */

import { randomUUID } from "node:crypto"
import { ArchiveStore } from "@dcent/shared/archive/ArchiveStore"
import { shardKeys } from "@dcent/shared/coordination/ShardLeases"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { OrderEventLog } from "@dcent/shared/orders/OrderEventLog"
import { Redis } from "@dcent/shared/redis/Redis"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { liveOrdersKeyFor, orderKey } from "../../../test/support/redisKeys.ts"
import { OrderStore } from "../../src/orders/OrderStore.ts"
import { ProcessorClient } from "../../src/processor/ProcessorClient.ts"
import { StreamHolder, streamShardOf, streamShardSet } from "../../src/processor-streams/StreamHolder.ts"
import { eventually, testRedisUrl } from "../support/clients.ts"
import { type FakeProcessor, startFakeProcessor } from "../support/fakeProcessor.ts"

const prefix = `test:holder:${randomUUID().slice(0, 8)}:`
const orderReqId = `HOLD-${randomUUID().slice(0, 8)}`
// Claims every 100 ms keep the test quick; the 2 s lease leaves room for a stall of the test
// process (a 600 ms lease expired under a loaded CI run, and the holder stopped its shards).
const ttlMs = 2_000
const claimEveryMs = 100
const shards = 4
const keys = shardKeys(streamShardSet)

let fake: FakeProcessor
let raw: IORedis
const scopes: Array<Scope.Closeable> = []

/** One replica: its own Redis connection, event log, store, processor channel, lease and holder. */
const replica = async (name: string) => {
  const scope = Effect.runSync(Scope.make())
  scopes.push(scope)
  const redis = Layer.effect(
    Redis,
    Effect.gen(function* () {
      const redis = yield* Redis.make(new URL(testRedisUrl), { keyPrefix: prefix })
      yield* redis.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
      return redis
    }),
  ).pipe(Layer.orDie)
  const processor = Layer.effect(ProcessorClient, ProcessorClient.make({ address: fake.address }))
  const holder = Layer.effect(
    StreamHolder,
    StreamHolder.make({
      leaseTtl: `${ttlMs} millis`,
      claimEvery: `${claimEveryMs} millis`,
      shards,
      owner: name,
      retryBase: "50 millis",
      retryCap: "200 millis",
    }),
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(OrderEventLog.layer, OrderStore.layer, processor)),
    Layer.provide(ArchiveStore.disabled),
  )
  const context = await Effect.runPromise(
    Layer.buildWithScope(Layer.provideMerge(holder, Layer.mergeAll(redis, Metrics.layerTest)), scope),
  )
  return {
    name,
    scope,
    holder: Context.get(context, StreamHolder),
    eventLog: Context.get(context, OrderEventLog),
  }
}

type Replica = Awaited<ReturnType<typeof replica>>

const holding = async (replicas: ReadonlyArray<Replica>) => {
  const result: Array<string> = []
  for (const candidate of replicas) {
    if (await Effect.runPromise(candidate.holder.isHolding(orderReqId))) result.push(candidate.name)
  }
  return result
}

/** The owner of the order's shard, as Redis has it. */
const shardOwner = (id = orderReqId) => raw.hget(`${prefix}${keys.owners}`, String(streamShardOf(id, shards)))

const ownedShards = (candidate: Replica) => Effect.runPromise(candidate.holder.shards).then((owned) => owned.size)

const storeLiveOrder = async (orderReqId: string) => {
  await raw.hset(orderKey(prefix, orderReqId), {
    details: JSON.stringify({
      orderReqId,
      buyerId: "BUYER-1",
      industry: "Electronics",
      location: { lat: 12.97, lng: 77.59 },
      products: [{ name: "LED panel", quantity: 5, attributes: {} }],
      deliveryDate: "2026-12-01",
      priority: "MEDIUM",
    }),
    status: "SUBMITTED",
    sessionId: "SESSION-1",
    notificationType: "SMS",
    registeredAt: new Date().toISOString(),
    submittedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  })
  await raw.sadd(liveOrdersKeyFor(prefix, orderReqId), orderReqId)
}

beforeAll(async () => {
  fake = await startFakeProcessor()
  raw = new IORedis(testRedisUrl, { lazyConnect: true })
  await raw.connect()
  await storeLiveOrder(orderReqId)
})

afterAll(async () => {
  await Promise.all(scopes.map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  const keys = await raw.keys(`${prefix}*`)
  if (keys.length > 0) await raw.del(...keys)
  raw.disconnect()
  await fake.close()
})

describe("StreamHolder across replicas", () => {
  let a: Replica
  let b: Replica
  let first: Replica
  let second: Replica

  it("shares the shards fairly; exactly one replica holds the order's stream, and keeps it through claims", async () => {
    ;[a, b] = await Promise.all([replica("replica-A"), replica("replica-B")])
    // The first to claim takes every shard, then gives half back when it sees the other member.
    await eventually(
      async () => [await ownedShards(a), await ownedShards(b)],
      (owned) => owned[0] === shards / 2 && owned[1] === shards / 2,
      { what: "two shards each" },
    )
    const holders = await eventually(
      () => holding([a, b]),
      (names) => names.length > 0,
      { what: "a holder" },
    )
    expect(holders).toHaveLength(1)
    first = holders[0] === "replica-A" ? a : b
    second = first === a ? b : a
    expect(await shardOwner()).toBe(first.name)
    await eventually(
      async () => fake.openStreams(orderReqId),
      (open) => open === 1,
      { what: "one open stream" },
    )
    // Many claims later: the same single holder and the same single call (no flapping).
    const calls = fake.callsFor(orderReqId).length
    await new Promise((resolve) => setTimeout(resolve, 25 * claimEveryMs))
    expect(await holding([a, b])).toEqual([first.name])
    expect(fake.openStreams(orderReqId)).toBe(1)
    expect(fake.callsFor(orderReqId)).toHaveLength(calls)
    expect(await Effect.runPromise(second.holder.size)).toBe(0)
    expect(await Effect.runPromise(first.holder.size)).toBe(1)

    fake.emit(orderReqId, "SellersSelected", { details: { Sellers: "[]" } })
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1" })
    await eventually(
      () => Effect.runPromise(first.eventLog.lastSeq(orderReqId)),
      (seq) => seq === 2,
      { what: "seq 2 recorded" },
    )
  })

  it("an order ensured on the replica that does not own its shard is held by the owner", async () => {
    // An order whose shard the *second* replica does not own: announced to the first.
    // Should a stall of the machine outlast the lease, the replica holds no shard until its next
    // claim, and a search among an empty set would never end.
    const ownedByFirst = await eventually(
      () => Effect.runPromise(first.holder.shards),
      (owned) => owned.size > 0,
      { what: "the first replica holding a shard" },
    )
    const other = Array.from({ length: 1_000 }, (_, n) => `${orderReqId}-X${n}`).find((candidate) =>
      ownedByFirst.has(streamShardOf(candidate, shards)),
    )
    if (other === undefined) throw new Error(`no order id among 1,000 falls in shards ${[...ownedByFirst]}`)
    await storeLiveOrder(other)
    await Effect.runPromise(second.holder.ensure(other))
    await eventually(
      async () => fake.openStreams(other),
      (open) => open === 1,
      { what: "the owner's stream of the announced order" },
    )
    expect(await Effect.runPromise(first.holder.isHolding(other))).toBe(true)
    expect(await Effect.runPromise(second.holder.isHolding(other))).toBe(false)
    fake.emit(other, "OrderFinalised")
    await eventually(
      async () => fake.openStreams(other),
      (open) => open === 0,
      { what: "the announced order finalised" },
    )
  })

  it("a graceful stop releases the shards; the other replica takes over from the last recorded seq", async () => {
    const callsBefore = fake.callsFor(orderReqId).length
    await Effect.runPromise(Scope.close(first.scope, Exit.void))
    // The new holder's call is the event to wait for; its from_seq is read after it was made.
    await eventually(
      async () => fake.callsFor(orderReqId).length,
      (count) => count === callsBefore + 1,
      { what: "the new holder's call", timeoutMs: 5_000 },
    )
    expect(await holding([second])).toEqual([second.name])
    expect(await shardOwner()).toBe(second.name)
    expect(await ownedShards(second)).toBe(shards)
    expect(fake.callsFor(orderReqId).at(-1)?.fromSeq).toBe(2)
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-2" })
    await eventually(
      () => Effect.runPromise(second.eventLog.lastSeq(orderReqId)),
      (seq) => seq === 3,
      { what: "seq 3 recorded by the new holder" },
    )
    await eventually(
      async () => fake.openStreams(orderReqId),
      (open) => open === 1,
      { what: "only the new holder's stream open" },
    )
  })

  it("a holder whose shard goes to someone else stops its stream at once, and takes it back once free", async () => {
    const callsBefore = fake.callsFor(orderReqId).length
    // As after an expiry and a takeover by a third replica that then dies.
    const [seconds, micros] = await raw.time()
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    const shard = String(streamShardOf(orderReqId, shards))
    await raw.hset(`${prefix}${keys.owners}`, shard, "intruder")
    await raw.hset(`${prefix}${keys.expiry}`, shard, String(redisNow + 3_000))
    await eventually(
      async () => fake.openStreams(orderReqId),
      (open) => open === 0,
      { what: "the stream cut", timeoutMs: 2_500 },
    )
    expect(await holding([second])).toEqual([])
    // The intruder never claims again: its lease expires and the replica takes the shard back.
    await eventually(
      async () => fake.callsFor(orderReqId).length,
      (count) => count === callsBefore + 1,
      { what: "the stream taken back", timeoutMs: 10_000 },
    )
    expect(await holding([second])).toEqual([second.name])
    expect(await shardOwner()).toBe(second.name)
    expect(fake.callsFor(orderReqId).at(-1)?.fromSeq).toBe(3)
  })

  it("finalising ends the order's fiber and takes it out of live-orders", async () => {
    fake.emit(orderReqId, "OrderFinalised")
    await eventually(
      () => Effect.runPromise(second.eventLog.lastSeq(orderReqId)),
      (seq) => seq === 4,
      { what: "OrderFinalised recorded" },
    )
    await eventually(
      () => holding([second]),
      (names) => names.length === 0,
      { what: "the order's fiber ended" },
    )
    expect(await raw.sismember(liveOrdersKeyFor(prefix, orderReqId), orderReqId)).toBe(0)
    // The shard stays owned: ownership is not per order.
    expect(await shardOwner()).toBe(second.name)
  })
})
