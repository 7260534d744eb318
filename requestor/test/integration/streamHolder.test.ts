/**
 * Two `StreamHolder`s ("replicas": separate Redis connections, one key prefix of their own) in
 * the test process, against the real Redis and the fake processor: one order's stream is held by
 * exactly one of them, renewals keep it there, a graceful stop hands it over (the new holder
 * resumes from the last recorded seq), and a holder whose lease is taken away stops its stream.
 */
import { randomUUID } from "node:crypto"
import { Lease, leaseKey } from "@dcent/shared/coordination/Lease"
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { Redis } from "@dcent/shared/redis/Redis"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { OrderStore } from "../../src/orders/OrderStore.ts"
import { ProcessorClient } from "../../src/processor/ProcessorClient.ts"
import { StreamHolder, streamLeaseName } from "../../src/streams/StreamHolder.ts"
import { eventually, testRedisUrl } from "../support/clients.ts"
import { type FakeProcessor, startFakeProcessor } from "../support/fakeProcessor.ts"

const prefix = `test:holder:${randomUUID().slice(0, 8)}:`
const orderReqId = `HOLD-${randomUUID().slice(0, 8)}`
const ttlMs = 600

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
    StreamHolder.make({ leaseTtl: `${ttlMs} millis`, owner: name, retryBase: "50 millis", retryCap: "200 millis" }),
  ).pipe(Layer.provideMerge(Layer.mergeAll(OrderEventLog.layer, OrderStore.layer, Lease.layer, processor)))
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

const leaseOwner = () => raw.get(`${prefix}${leaseKey(streamLeaseName(orderReqId))}`)

beforeAll(async () => {
  fake = await startFakeProcessor()
  raw = new IORedis(testRedisUrl, { lazyConnect: true })
  await raw.connect()
  await raw.hset(`${prefix}order:${orderReqId}`, {
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
  await raw.sadd(`${prefix}live-orders`, orderReqId)
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

  it("exactly one replica holds the order's stream, and keeps it through renewals", async () => {
    ;[a, b] = await Promise.all([replica("replica-A"), replica("replica-B")])
    // Both resume the live order at start-up; the lease lets one of them in.
    const holders = await eventually(
      () => holding([a, b]),
      (names) => names.length > 0,
      { what: "a holder" },
    )
    expect(holders).toHaveLength(1)
    first = holders[0] === "replica-A" ? a : b
    second = first === a ? b : a
    expect(await leaseOwner()).toBe(first.name)
    await eventually(
      async () => fake.openStreams(orderReqId),
      (open) => open === 1,
      { what: "one open stream" },
    )
    // Several TTLs later: still the same single holder and the same single call (renewed, no flapping).
    await new Promise((resolve) => setTimeout(resolve, 4 * ttlMs))
    expect(await holding([a, b])).toEqual([first.name])
    expect(fake.openStreams(orderReqId)).toBe(1)
    expect(fake.callsFor(orderReqId)).toHaveLength(1)
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

  it("a graceful stop releases the lease; the other replica takes over from the last recorded seq", async () => {
    const callsBefore = fake.callsFor(orderReqId).length
    await Effect.runPromise(Scope.close(first.scope, Exit.void))
    await eventually(
      () => holding([second]),
      (names) => names.length === 1,
      { what: `${second.name} holding`, timeoutMs: 5_000 },
    )
    expect(await leaseOwner()).toBe(second.name)
    await eventually(
      async () => fake.callsFor(orderReqId).length,
      (count) => count === callsBefore + 1,
      { what: "the new holder's call" },
    )
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

  it("a holder whose lease goes to someone else stops its stream at once, and takes it back once free", async () => {
    // As after an expiry and a takeover by a third replica.
    await raw.set(`${prefix}${leaseKey(streamLeaseName(orderReqId))}`, "intruder", "PX", 3 * ttlMs)
    await eventually(
      async () => fake.openStreams(orderReqId),
      (open) => open === 0,
      { what: "the stream cut", timeoutMs: 2 * ttlMs },
    )
    expect(await holding([second])).toEqual([])
    // The intruder never renews: its lease expires and the replica takes the stream back.
    await eventually(
      () => holding([second]),
      (names) => names.length === 1,
      { what: "the stream taken back", timeoutMs: 10 * ttlMs },
    )
    expect(await leaseOwner()).toBe(second.name)
    expect(fake.callsFor(orderReqId).at(-1)?.fromSeq).toBe(3)
  })

  it("finalising releases the lease and ends the order's fiber", async () => {
    fake.emit(orderReqId, "OrderFinalised")
    await eventually(
      () => Effect.runPromise(second.eventLog.lastSeq(orderReqId)),
      (seq) => seq === 4,
      { what: "OrderFinalised recorded" },
    )
    await eventually(leaseOwner, (owner) => owner === null, { what: "the lease released" })
    expect(await holding([second])).toEqual([])
    expect(await raw.sismember(`${prefix}live-orders`, orderReqId)).toBe(0)
  })
})
