/**
 * OutboxRelay against the real Redis, with the memory broker and with the real Kafka: entries
 * committed through `OrderEventLog.append(…, {outbox})` reach the broker intact and in order,
 * a batch is published all at once and acknowledged with one XACK + XDEL, a failing entry is
 * retried without holding up the rest of its batch and without anything of its key overtaking
 * it, a failing broker delays but loses nothing, and two relays do not publish an entry twice.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Context, Deferred, type Duration, Effect, Exit, Layer, Scope } from "effect"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { kafkaUrl, servers } from "../../../../test/support/servers.ts"
import { Broker, type BrokerMessage, type BrokerShape } from "../../../src/broker/Broker.ts"
import { BrokerUnavailable } from "../../../src/broker/errors.ts"
import { BrokerKafka } from "../../../src/broker/kafka.ts"
import { makeMemoryBroker } from "../../../src/broker/memory.ts"
import { Topics } from "../../../src/broker/topics.ts"
import { makeDraft, type OrderEventRecord } from "../../../src/orders/events.ts"
import { OrderEventLog, outboxStreamKey } from "../../../src/orders/OrderEventLog.ts"
import { deadLetterReportsOn, eventTopicMessage, MessageKeys } from "../../../src/orders/topicMessage.ts"
import { Outbox } from "../../../src/outbox/Outbox.ts"
import { deadLetterStreamKey, OutboxRelay, type OutboxRelayOptions } from "../../../src/outbox/OutboxRelay.ts"
import { allKeyShards, keyShardOf } from "../../../src/redis/keys.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, eventually, redisLayer, testPrefix } from "../eventlog/support.ts"
import { countCommands } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const newPrefix = () => {
  const prefix = testPrefix("outbox")
  prefixes.push(prefix)
  return prefix
}

const build = async <A>(layer: Layer.Layer<A, unknown>) => {
  const scope = Effect.runSync(Scope.make())
  scopes.push(scope)
  return Effect.runPromise(Layer.buildWithScope(layer, scope) as Effect.Effect<Context.Context<A>>)
}

const quickRelay = (consumerName: string, extra: Partial<OutboxRelayOptions> = {}): OutboxRelayOptions => ({
  consumerName,
  blockMs: 200,
  retry: { initialMs: 10, maxMs: 100 },
  ...extra,
})

/** A broker that records what was published and can be made to fail. */
const recordingBroker = (inner: BrokerShape, failFirst = 0) => {
  const published: Array<{ subject: string; payload: string; headers: Record<string, string> }> = []
  let failures = failFirst
  const decoder = new TextDecoder()
  const broker: BrokerShape = {
    ...inner,
    publish: (subject, payload, options) =>
      Effect.suspend(() => {
        if (failures > 0) {
          failures--
          return Effect.fail(new BrokerUnavailable({ url: "memory://", reason: "injected failure" }))
        }
        return inner.publish(subject, payload, options).pipe(
          Effect.tap(() =>
            Effect.sync(() =>
              published.push({
                subject,
                payload: typeof payload === "string" ? payload : decoder.decode(payload),
                headers: { ...options?.headers },
              }),
            ),
          ),
        )
      }),
  }
  return { broker, published, remainingFailures: () => failures }
}

type Recorded = { subject: string; payload: string; headers: Record<string, string> }

const decodePayload = (payload: Uint8Array | string) =>
  typeof payload === "string" ? payload : new TextDecoder().decode(payload)

/**
 * A broker whose publishes wait at a gate until `open`: tells how many were in flight at once,
 * and records them in the order the relay issued them (the order a real adapter produces them).
 */
const gatedBroker = (inner: BrokerShape) => {
  const issued: Array<Recorded> = []
  let inFlight = 0
  let maxInFlight = 0
  const gate = Deferred.makeUnsafe<void>()
  const broker: BrokerShape = {
    ...inner,
    publish: (subject, payload, options) =>
      Effect.suspend(() => {
        issued.push({ subject, payload: decodePayload(payload), headers: { ...options?.headers } })
        inFlight += 1
        maxInFlight = Math.max(maxInFlight, inFlight)
        return Deferred.await(gate).pipe(
          Effect.andThen(inner.publish(subject, payload, options)),
          Effect.ensuring(
            Effect.sync(() => {
              inFlight -= 1
            }),
          ),
        )
      }),
  }
  return {
    broker,
    issued,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    open: Deferred.succeed(gate, undefined),
  }
}

/**
 * A broker failing the publishes `failing(eventId)` picks, either at once (refused as it is
 * called) or after `delay` (failing in flight, once the later publishes were started too).
 */
const failingBroker = (inner: BrokerShape, failing: (eventId: string) => boolean, delay?: Duration.Input) => {
  const published: Array<Recorded> = []
  const attempts = new Map<string, number>()
  const broker: BrokerShape = {
    ...inner,
    publish: (subject, payload, options) =>
      Effect.suspend(() => {
        const eventId = options?.headers?.["event-id"] ?? ""
        attempts.set(eventId, (attempts.get(eventId) ?? 0) + 1)
        if (failing(eventId)) {
          const failure = Effect.fail(new BrokerUnavailable({ url: "memory://", reason: "injected failure" }))
          return delay === undefined ? failure : Effect.sleep(delay).pipe(Effect.andThen(failure))
        }
        return inner
          .publish(subject, payload, options)
          .pipe(
            Effect.tap(() =>
              Effect.sync(() =>
                published.push({ subject, payload: decodePayload(payload), headers: { ...options?.headers } }),
              ),
            ),
          )
      }),
  }
  return { broker, published, attempts: (eventId: string) => attempts.get(eventId) ?? 0 }
}

/** `count` order ids `<base><n>` of one outbox shard (one stream: one XACK acknowledges them all). */
const ordersOfOneShard = (base: string, count: number): Array<string> =>
  Array.from({ length: 1000 }, (_, i) => `${base}${i + 1}`)
    .filter((id) => keyShardOf(id) === keyShardOf(`${base}1`))
    .slice(0, count)

/** Commits events through an event log of its own (no relay) under `prefix`; returns their event ids by `order#seq`. */
const commitBefore = async (prefix: string, orders: ReadonlyArray<string>, perOrder: number, topic: string) => {
  const writer = await build(OrderEventLog.layer.pipe(Layer.provideMerge(redisLayer(prefix))))
  await Effect.runPromise(appendEvents(Context.get(writer, OrderEventLog), orders, perOrder, topic))
  const entries = await Effect.runPromise(
    Effect.forEach(allKeyShards, (shard) =>
      Effect.promise(() => Context.get(writer, Redis).client.xrange(outboxStreamKey(shard), "-", "+")),
    ).pipe(Effect.map((shards) => shards.flat())),
  )
  // event id of each entry, by order and Seq
  const eventIds = new Map<string, string>()
  for (const [, fields] of entries) {
    const payload = JSON.parse(fields[fields.indexOf("payload") + 1]!) as {
      OrderReqID: string
      Seq: number
      EventID: string
    }
    eventIds.set(`${payload.OrderReqID}#${payload.Seq}`, payload.EventID)
  }
  return eventIds
}

const startRelay = (prefix: string, broker: BrokerShape, options: OutboxRelayOptions) =>
  build(
    OutboxRelay.layer(options).pipe(Layer.provideMerge(Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker)))),
  )

/** Polls `condition` (an effect) until true or dies after `ms`. */
const until = (condition: Effect.Effect<boolean, unknown>, ms: number, describe: string) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!(yield* condition)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${ms} ms waiting for ${describe}`))
      yield* Effect.sleep("10 millis")
    }
  })

/** Waits until the relay counted `n` published entries (the count follows the ack). */
const publishedCount = (relay: OutboxRelay["Service"], n: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + 5_000
    while ((yield* relay.stats).published < n) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`relay did not count ${n} published entries`))
      yield* Effect.sleep("10 millis")
    }
    expect((yield* relay.stats).published).toBe(n)
  })

/** Appends `perOrder` events to each order, each with a BUYER_NOTIFY outbox entry. */
const appendEvents = (log: OrderEventLog["Service"], orders: ReadonlyArray<string>, perOrder: number, topic: string) =>
  Effect.forEach(
    orders,
    (order) =>
      Effect.forEach(
        Array.from({ length: perOrder }, (_, i) => i),
        (i) =>
          log.append(
            order,
            [
              makeDraft("NewProposal", `proposal ${i} of ${order}`, {
                proposalId: `P-${i}`,
                details: { Price: String(i) },
              }),
            ],
            {
              outbox: (records: ReadonlyArray<OrderEventRecord>) =>
                records.map((record) =>
                  eventTopicMessage(record, {
                    topic,
                    key: MessageKeys.OrderUpdates,
                    sessionId: `S-${order}`,
                    headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
                  }),
                ),
            },
          ),
        { discard: true },
      ),
    { concurrency: "unbounded", discard: true },
  )

const checkDelivered = (
  messages: ReadonlyArray<{ subject: string; payload: string; headers: Record<string, string> }>,
  orders: ReadonlyArray<string>,
  perOrder: number,
  topic: string,
) => {
  expect(messages).toHaveLength(orders.length * perOrder)
  for (const order of orders) {
    const mine = messages.filter((m) => m.subject === `${topic}.${order}`)
    const payloads = mine.map((m) => JSON.parse(m.payload))
    // in order, complete, no duplicates
    expect(payloads.map((p) => p.Seq)).toEqual(Array.from({ length: perOrder }, (_, i) => i + 1))
    for (const [i, message] of mine.entries()) {
      const payload = payloads[i]
      expect(payload).toMatchObject({
        OrderReqID: order,
        SessionID: `S-${order}`,
        Key: "ORD_UPDATES",
        Message: `proposal ${i} of ${order}`,
        Status: "NewProposal",
        ProposalID: `P-${i}`,
        Price: String(i),
      })
      expect(message.headers).toEqual({
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "event-type": "ORD_UPDATES",
        "event-id": payload.EventID,
        "content-type": "application/json",
      })
    }
  }
}

describe("OutboxRelay with the memory broker", () => {
  it("publishes committed entries with key, headers and payload intact, in order per key, then deletes them", async () => {
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()))
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker.broker))
    const context = await build(
      Layer.mergeAll(OrderEventLog.layer, OutboxRelay.layer(quickRelay("relay-a"))).pipe(Layer.provideMerge(base)),
    )
    const log = Context.get(context, OrderEventLog)
    const relay = Context.get(context, OutboxRelay)
    const received: Array<BrokerMessage> = []
    await Effect.runPromise(
      Effect.gen(function* () {
        const sub = yield* broker.broker.subscribe({
          subject: `${Topics.BuyerNotify}.>`,
          group: "test",
          fromBeginning: true,
          handler: (message) => Effect.sync(() => received.push(message)),
        })
        yield* sub.ready
        const orders = ["ORD-1", "ORD-2", "ORD-3"]
        yield* appendEvents(log, orders, 15, Topics.BuyerNotify)
        yield* eventually(
          () => broker.published.length === 45,
          10_000,
          () => `${broker.published.length}/45 published`,
        )
        checkDelivered(broker.published, orders, 15, Topics.BuyerNotify)
        // what subscribers see: the message key is the order id
        yield* eventually(
          () => received.length === 45,
          10_000,
          () => `${received.length}/45 received`,
        )
        expect(new Set(received.map((m) => m.key))).toEqual(new Set(orders))
        yield* publishedCount(relay, 45)
        expect(yield* relay.backlog).toBe(0)
        expect(yield* relay.lag).toBe(0)
      }).pipe(Effect.scoped),
    )
  })

  it("hands a whole batch to the broker at once, in stream order, and acknowledges it with one XACK and one XDEL", async () => {
    const prefix = newPrefix()
    const inner = await Effect.runPromise(makeMemoryBroker())
    const gated = gatedBroker(inner)
    const orders = ordersOfOneShard("ORD-G", 3)
    await commitBefore(prefix, orders, 20, Topics.BuyerNotify)
    const context = await startRelay(prefix, gated.broker, quickRelay("relay-batch"))
    const relay = Context.get(context, OutboxRelay)
    const redis = Context.get(context, Redis)
    await Effect.runPromise(
      Effect.gen(function* () {
        // all 60 in flight together, none waiting for another
        yield* eventually(
          () => gated.inFlight() === 60,
          5_000,
          () => `${gated.inFlight()}/60 in flight`,
        )
        // nothing acknowledged before the broker answered
        expect(yield* relay.backlog).toBe(60)
        expect((yield* relay.stats).published).toBe(0)
        // issued per key in stream order
        checkDelivered(gated.issued, orders, 20, Topics.BuyerNotify)
        const commands = countCommands(redis.client)
        try {
          yield* gated.open
          yield* publishedCount(relay, 60)
          expect(yield* relay.backlog).toBe(0)
          expect(commands.count("xack")).toBe(1)
          expect(commands.count("xdel")).toBe(1)
        } finally {
          commands.remove()
        }
        expect(gated.maxInFlight()).toBe(60)
        expect(gated.issued).toHaveLength(60)
      }),
    )
  })

  it("retries an entry refused by the broker while the rest of its batch is acknowledged; nothing of its key overtakes it", async () => {
    const prefix = newPrefix()
    const inner = await Effect.runPromise(makeMemoryBroker())
    const orders = ["ORD-R1", "ORD-R2", "ORD-R3"]
    const eventIds = await commitBefore(prefix, orders, 5, Topics.BuyerNotify)
    const stuck = eventIds.get("ORD-R1#2")!
    let healed = false
    const failing = failingBroker(inner, (eventId) => eventId === stuck && !healed)
    const context = await startRelay(prefix, failing.broker, quickRelay("relay-one-fails"))
    const relay = Context.get(context, OutboxRelay)
    await Effect.runPromise(
      Effect.gen(function* () {
        // ORD-R1#2 keeps failing: retried, while the other 11 are published and acknowledged
        yield* eventually(
          () => failing.attempts(stuck) >= 3,
          5_000,
          () => `${failing.attempts(stuck)} attempts`,
        )
        yield* publishedCount(relay, 11)
        const seqsOf = (order: string) =>
          failing.published.filter((m) => m.subject.endsWith(`.${order}`)).map((m) => JSON.parse(m.payload).Seq)
        expect(seqsOf("ORD-R1")).toEqual([1])
        expect(seqsOf("ORD-R2")).toEqual([1, 2, 3, 4, 5])
        expect(seqsOf("ORD-R3")).toEqual([1, 2, 3, 4, 5])
        // the failed entry and the three of its key held behind it
        expect(yield* relay.backlog).toBe(4)
        // ORD-R1#3..#5 were never even sent while #2 failed
        for (const seq of [3, 4, 5]) expect(failing.attempts(eventIds.get(`ORD-R1#${seq}`)!)).toBe(0)
        healed = true
        yield* publishedCount(relay, 15)
        checkDelivered(failing.published, orders, 5, Topics.BuyerNotify)
        expect(yield* relay.backlog).toBe(0)
        expect((yield* relay.stats).failedAttempts).toBe(failing.attempts(stuck) - 1)
      }),
    )
  })

  it("retries an entry that fails in flight with the rest of its key behind it, in order", async () => {
    const prefix = newPrefix()
    const inner = await Effect.runPromise(makeMemoryBroker())
    const orders = ["ORD-I1", "ORD-I2"]
    const eventIds = await commitBefore(prefix, orders, 6, Topics.SellerNotify)
    // the whole key fails in flight (a broker failing a partition), the other key is fine
    const failingIds = new Set([1, 2, 3, 4, 5, 6].map((seq) => eventIds.get(`ORD-I1#${seq}`)!))
    let healed = false
    const failing = failingBroker(inner, (eventId) => failingIds.has(eventId) && !healed, "20 millis")
    const context = await startRelay(prefix, failing.broker, quickRelay("relay-in-flight"))
    const relay = Context.get(context, OutboxRelay)
    await Effect.runPromise(
      Effect.gen(function* () {
        const first = eventIds.get("ORD-I1#1")!
        yield* eventually(
          () => failing.attempts(first) >= 3,
          5_000,
          () => `${failing.attempts(first)} attempts`,
        )
        yield* publishedCount(relay, 6)
        expect(failing.published.every((m) => m.subject.endsWith(".ORD-I2"))).toBe(true)
        expect(yield* relay.backlog).toBe(6)
        healed = true
        yield* publishedCount(relay, 12)
        checkDelivered(failing.published, orders, 6, Topics.SellerNotify)
        expect(yield* relay.backlog).toBe(0)
      }),
    )
  })

  it("reports the lag of the oldest unpublished entry", async () => {
    const prefix = newPrefix()
    const inner = await Effect.runPromise(makeMemoryBroker())
    // a broker that never answers
    const stuck: BrokerShape = { ...inner, publish: () => Effect.never }
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, stuck))
    const context = await build(
      Layer.mergeAll(OrderEventLog.layer, OutboxRelay.layer(quickRelay("relay-lag", { publishTimeoutMs: 50 }))).pipe(
        Layer.provideMerge(base),
      ),
    )
    const log = Context.get(context, OrderEventLog)
    const relay = Context.get(context, OutboxRelay)
    await Effect.runPromise(
      Effect.gen(function* () {
        expect(yield* relay.lag).toBe(0)
        yield* appendEvents(log, ["ORD-L"], 2, Topics.BuyerNotify)
        yield* until(relay.lag.pipe(Effect.map((lag) => lag >= 250)), 5_000, "a lag of 250 ms")
        expect(yield* relay.backlog).toBe(2)
        expect((yield* relay.stats).failedAttempts).toBeGreaterThan(0)
      }),
    )
  })

  it("keeps retrying through broker failures and loses nothing", async () => {
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()), 12)
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker.broker))
    const context = await build(
      Layer.mergeAll(OrderEventLog.layer, OutboxRelay.layer(quickRelay("relay-f"))).pipe(Layer.provideMerge(base)),
    )
    const log = Context.get(context, OrderEventLog)
    const relay = Context.get(context, OutboxRelay)
    await Effect.runPromise(
      Effect.gen(function* () {
        const orders = ["ORD-F1", "ORD-F2"]
        yield* appendEvents(log, orders, 10, Topics.SellerNotify)
        yield* eventually(
          () => broker.published.length === 20,
          15_000,
          () => `${broker.published.length}/20`,
        )
        expect(broker.remainingFailures()).toBe(0)
        checkDelivered(broker.published, orders, 10, Topics.SellerNotify)
        yield* publishedCount(relay, 20)
        expect((yield* relay.stats).failedAttempts).toBe(12)
        // acknowledged and deleted: nothing left to publish again
        expect(yield* relay.backlog).toBe(0)
        expect(broker.published).toHaveLength(20)
      }),
    )
  })

  it("two relays on one outbox publish each entry once", async () => {
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()))
    const brokerLayer = Layer.succeed(Broker, broker.broker)
    const relayContext = (name: string) =>
      build(
        Layer.mergeAll(OrderEventLog.layer, OutboxRelay.layer(quickRelay(name))).pipe(
          Layer.provideMerge(Layer.merge(redisLayer(prefix), brokerLayer)),
        ),
      )
    const [a, b] = await Promise.all([relayContext("relay-1"), relayContext("relay-2")])
    await Effect.runPromise(
      Effect.gen(function* () {
        const orders = Array.from({ length: 20 }, (_, i) => `ORD-T${i}`)
        // written through both processes
        yield* appendEvents(Context.get(a, OrderEventLog), orders.slice(0, 10), 10, Topics.BuyerNotify)
        yield* appendEvents(Context.get(b, OrderEventLog), orders.slice(10), 10, Topics.BuyerNotify)
        yield* eventually(
          () => broker.published.length >= 200,
          15_000,
          () => `${broker.published.length}/200`,
        )
        // every entry acknowledged and deleted: nothing left that could be published again
        const relayA = Context.get(a, OutboxRelay)
        const relayB = Context.get(b, OutboxRelay)
        yield* until(
          Effect.all([relayA.stats, relayB.stats]).pipe(
            Effect.map(([statsA, statsB]) => statsA.published + statsB.published >= 200),
          ),
          5_000,
          "200 acknowledged",
        )
        expect(yield* relayA.backlog).toBe(0)
        const ids = broker.published.map((m) => m.headers["event-id"])
        expect(ids).toHaveLength(200)
        expect(new Set(ids).size).toBe(200)
        const statsA = yield* Context.get(a, OutboxRelay).stats
        const statsB = yield* Context.get(b, OutboxRelay).stats
        expect(statsA.published + statsB.published).toBe(200)
        expect(statsA.published).toBeGreaterThan(0)
        expect(statsB.published).toBeGreaterThan(0)
      }),
    )
  })

  it("publishes its own pending entries after a restart and takes over those of a dead relay", async () => {
    // Two orders of one outbox shard (one stream), so one read hands out entries of both.
    const sameShardOrders = ordersOfOneShard("ORD-D", 2) as [string, string]
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()))
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker.broker))
    const writer = await build(OrderEventLog.layer.pipe(Layer.provideMerge(base)))
    const log = Context.get(writer, OrderEventLog)
    const redis = Context.get(writer, Redis)
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* appendEvents(log, sameShardOrders, 5, Topics.BuyerNotify)
        const client = redis.client
        const stream = outboxStreamKey(keyShardOf(sameShardOrders[0]))
        yield* Effect.promise(() => client.xgroup("CREATE", stream, "outbox-relay", "0", "MKSTREAM"))
        // "relay-x" read 4 entries and crashed; "dead" read 6 and never came back
        yield* Effect.promise(() =>
          client.xreadgroup("GROUP", "outbox-relay", "relay-x", "COUNT", 4, "STREAMS", stream, ">"),
        )
        yield* Effect.promise(() =>
          client.xreadgroup("GROUP", "outbox-relay", "dead", "COUNT", 6, "STREAMS", stream, ">"),
        )
      }),
    )
    const restarted = await build(
      OutboxRelay.layer(quickRelay("relay-x", { claimIdleMs: 300, claimEveryMs: 100 })).pipe(Layer.provideMerge(base)),
    )
    await Effect.runPromise(
      Effect.gen(function* () {
        // its own four at once
        yield* eventually(
          () => broker.published.length === 4,
          5_000,
          () => `${broker.published.length}/4`,
        )
        // the dead relay's six after claimIdleMs
        yield* eventually(
          () => broker.published.length === 10,
          5_000,
          () => `${broker.published.length}/10`,
        )
        expect((yield* Context.get(restarted, OutboxRelay).stats).claimed).toBe(6)
        const ids = broker.published.map((m) => m.headers["event-id"])
        expect(new Set(ids).size).toBe(10)
        yield* publishedCount(Context.get(restarted, OutboxRelay), 10)
        // per key still in order within each batch
        for (const order of sameShardOrders) {
          const seqs = broker.published
            .filter((m) => m.subject.endsWith(order))
            .map((m) => JSON.parse(m.payload).Seq as number)
          expect([...seqs].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5])
        }
      }),
    )
  })

  it("publishes entries a read handed to it whose reply never arrived within a claim period, not after claimIdleMs", async () => {
    const [order] = ordersOfOneShard("ORD-LOST", 1) as [string]
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()))
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker.broker))
    const context = await build(
      OutboxRelay.layer(quickRelay("relay-lost", { claimIdleMs: 600_000, claimEveryMs: 300 })).pipe(
        Layer.provideMerge(base),
      ),
    )
    const redis = Context.get(context, Redis)
    const stream = outboxStreamKey(keyShardOf(order))
    await Effect.runPromise(
      Effect.gen(function* () {
        // The relay is up and blocked on its read of new entries.
        yield* Effect.sleep("300 millis")
        // An entry handed to the relay's consumer by a read the relay never saw the reply of (as
        // when Redis dies after delivering it): added and read in one transaction, so the relay's
        // blocked read is not served it.
        yield* Effect.promise(() =>
          redis.client
            .multi()
            .xadd(stream, "*", "topic", Topics.BuyerNotify, "key", order, "headers", "{}", "payload", '{"lost":1}')
            .xreadgroup("GROUP", "outbox-relay", "relay-lost", "COUNT", 10, "STREAMS", stream, ">")
            .exec(),
        )
        yield* eventually(
          () => broker.published.length === 1,
          3_000,
          () => `${broker.published.length}/1 published`,
        )
        expect(broker.published[0]).toMatchObject({ subject: `${Topics.BuyerNotify}.${order}`, payload: '{"lost":1}' })
        expect((yield* Context.get(context, OutboxRelay).stats).claimed).toBe(0)
        yield* until(
          Effect.promise(() => redis.client.xlen(stream)).pipe(Effect.map((length) => length === 0)),
          3_000,
          "the entry acknowledged and deleted",
        )
      }),
    )
  })

  it("moves an entry that can never be published to the dead-letter stream and carries on", async () => {
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()))
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker.broker))
    const context = await build(
      Layer.mergeAll(Outbox.layer, OutboxRelay.layer(quickRelay("relay-dl"))).pipe(Layer.provideMerge(base)),
    )
    const outbox = Context.get(context, Outbox)
    const redis = Context.get(context, Redis)
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* outbox.add("ORD-B", [
          { topic: "bad topic", key: "ORD-B", headers: {}, payload: "x" },
          { topic: Topics.RequestFailures, key: "ORD-B", headers: { "bad header": "v" }, payload: "y" },
          { topic: Topics.RequestFailures, key: "ORD-B", headers: { "event-id": "ok" }, payload: "z" },
        ])
        yield* eventually(
          () => broker.published.length === 1,
          5_000,
          () => "the valid entry",
        )
        expect(broker.published[0]).toMatchObject({ subject: "REQ_failures.ORD-B", payload: "z" })
        yield* publishedCount(Context.get(context, OutboxRelay), 1)
        const dead = yield* Effect.promise(() =>
          redis.client.xrange(deadLetterStreamKey(outboxStreamKey(keyShardOf("ORD-B"))), "-", "+"),
        )
        expect(dead).toHaveLength(2)
        expect(dead[0]![1]).toContain("bad topic")
        expect(dead[0]![1]).toContain("reason")
        expect(yield* Context.get(context, OutboxRelay).backlog).toBe(0)
      }),
    )
  })

  it("reports an entry that can never be published through the service's deadLetterReport", async () => {
    const prefix = newPrefix()
    const broker = recordingBroker(await Effect.runPromise(makeMemoryBroker()))
    const base = Layer.merge(redisLayer(prefix), Layer.succeed(Broker, broker.broker))
    const relay = quickRelay("relay-dl-report", {
      deadLetterReport: deadLetterReportsOn(Topics.RequestFailures, MessageKeys.OrderUpdates),
    })
    const context = await build(Layer.mergeAll(Outbox.layer, OutboxRelay.layer(relay)).pipe(Layer.provideMerge(base)))
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* Context.get(context, Outbox).add("ORD-D", [
          { topic: "bad topic", key: "ORD-D", headers: {}, payload: "x" },
        ])
        yield* eventually(
          () => broker.published.length === 1,
          5_000,
          () => "the dead-letter report",
        )
        const [report] = broker.published
        expect(report?.subject).toBe("REQ_failures.ORD-D")
        expect(report?.headers["event-type"]).toBe(MessageKeys.OrderUpdates)
        expect(JSON.parse(report?.payload ?? "{}")).toMatchObject({
          OrderReqID: "ORD-D",
          Operation: "publish",
          // Stamped by the relay from its Clock when it moved the entry.
          Timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          Request: { topic: "bad topic", key: "ORD-D", payload: "x" },
        })
      }),
    )
  })
})

describe("OutboxRelay with Kafka", () => {
  const bootstrap = `${servers.kafka.host}:${servers.kafka.port}`
  const topic = `outbox_test_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`

  afterAll(async () => {
    const admin = new KafkaJS.Kafka({ "bootstrap.servers": bootstrap, log_level: 0 }).admin()
    await admin.connect()
    try {
      await admin.deleteTopics({ topics: [topic, `${topic}_backlog`], timeout: 10_000 })
    } catch {
      // already gone
    } finally {
      await admin.disconnect()
    }
  })

  it("delivers appended entries to Kafka with key, headers and payload intact, in order per key", async () => {
    const prefix = newPrefix()
    const kafka = BrokerKafka.layer({
      clientId: "outbox-relay-test",
      knownTopics: [],
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 1_000,
      retryBackoff: { initialMs: 50, maxMs: 500 },
      servers: [bootstrap],
      url: kafkaUrl,
    })
    const context = await build(
      Layer.mergeAll(OrderEventLog.layer, OutboxRelay.layer(quickRelay("relay-kafka"))).pipe(
        Layer.provideMerge(Layer.merge(redisLayer(prefix), kafka)),
      ),
    )
    const broker = Context.get(context, Broker)
    const log = Context.get(context, OrderEventLog)
    const received: Array<{ subject: string; payload: string; headers: Record<string, string>; key: string }> = []
    const decoder = new TextDecoder()
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* broker.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1 }])
        const sub = yield* broker.subscribe({
          subject: `${topic}.>`,
          group: `${topic}_g`,
          fromBeginning: true,
          handler: (message) =>
            Effect.sync(() =>
              received.push({
                subject: message.subject,
                key: message.key,
                payload: decoder.decode(message.payload),
                headers: { ...message.headers },
              }),
            ),
        })
        yield* sub.ready
        const orders = ["ORD-K1", "ORD-K2", "ORD-K3", "ORD-K4"]
        yield* appendEvents(log, orders, 8, topic)
        yield* eventually(
          () => received.length >= 32,
          30_000,
          () => `${received.length}/32 received from Kafka`,
        )
        checkDelivered(received, orders, 8, topic)
        for (const message of received) expect(orders).toContain(message.key)
        // A consumer may see the last entries before the relay has acknowledged and deleted them.
        yield* publishedCount(Context.get(context, OutboxRelay), 32)
        expect(yield* Context.get(context, OutboxRelay).backlog).toBe(0)
      }).pipe(Effect.scoped),
    )
  }, 60_000)

  it("publishes a backlog in batches of many messages in flight, in order per key, to a topic its producer has not seen yet", async () => {
    const prefix = newPrefix()
    const backlogTopic = `${topic}_backlog`
    const kafkaLayer = (clientId: string) =>
      BrokerKafka.layer({
        clientId,
        knownTopics: [],
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 1_000,
        retryBackoff: { initialMs: 50, maxMs: 500 },
        servers: [bootstrap],
        url: kafkaUrl,
      })
    // The topic is created and read through a broker of its own: the relay's producer looks it up
    // on its first publish, with a whole batch waiting for that look-up.
    const reader = Context.get(await build(kafkaLayer("outbox-relay-test-reader")), Broker)
    const orders = Array.from({ length: 20 }, (_, i) => `ORD-KB${i}`)
    const received: Array<Recorded> = []
    const decoder = new TextDecoder()
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* reader.ensureTopics([{ name: backlogTopic, partitions: 3, replicationFactor: 1 }])
        const sub = yield* reader.subscribe({
          subject: `${backlogTopic}.>`,
          group: `${backlogTopic}_g`,
          fromBeginning: true,
          handler: (message) =>
            Effect.sync(() =>
              received.push({
                subject: message.subject,
                payload: decoder.decode(message.payload),
                headers: { ...message.headers },
              }),
            ),
        })
        yield* sub.ready
        yield* Effect.promise(() => commitBefore(prefix, orders, 40, backlogTopic))
        const context = yield* Effect.promise(() =>
          build(
            OutboxRelay.layer(quickRelay("relay-kafka-backlog", { batchSize: 500 })).pipe(
              Layer.provideMerge(Layer.merge(redisLayer(prefix), kafkaLayer("outbox-relay-test-backlog"))),
            ),
          ),
        )
        yield* eventually(
          () => received.length >= 800,
          30_000,
          () => `${received.length}/800 received from Kafka`,
        )
        checkDelivered(received, orders, 40, backlogTopic)
        yield* publishedCount(Context.get(context, OutboxRelay), 800)
        expect(yield* Context.get(context, OutboxRelay).backlog).toBe(0)
      }).pipe(Effect.scoped),
    )
  }, 60_000)
})
