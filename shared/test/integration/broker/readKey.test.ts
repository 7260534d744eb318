/**
 * `Broker.readKey` on the real Kafka (the operator's "an order's messages"): on topics of its own
 * (5 partitions, so the key's partition matters), the messages of one key come back — every one,
 * in order per topic, with headers — and none of another key; a key never published reads as
 * nothing; `maxPerPartition` bounds how far back it looks.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { kafkaUrl, servers } from "../../../../test/support/servers.ts"
import { Broker } from "../../../src/broker/Broker.ts"
import { BrokerKafka } from "../../../src/broker/kafka.ts"

const bootstrap = `${servers.kafka.host}:${servers.kafka.port}`
const run = `rk_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`
const topics = [`${run}_a`, `${run}_b`]

const withBroker = <A>(f: (broker: Broker["Service"]) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const broker = yield* Broker
        yield* broker.ensureTopics(topics.map((name) => ({ name, partitions: 5, replicationFactor: 1 })))
        return yield* f(broker)
      }).pipe(
        Effect.provide(
          BrokerKafka.layer({ clientId: "read-key", knownTopics: [], servers: [bootstrap], url: kafkaUrl }),
        ),
      ),
    ),
  )

afterAll(async () => {
  const admin = new KafkaJS.Kafka({ "bootstrap.servers": bootstrap, log_level: 0 }).admin()
  await admin.connect()
  await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined)
  await admin.disconnect()
})

describe("Broker.readKey (Kafka)", () => {
  it("reads back every message of a key, only those, in order per topic", async () => {
    const found = await withBroker((broker) =>
      Effect.gen(function* () {
        for (let i = 0; i < 20; i++) {
          yield* broker.publish(`${topics[0]}.ORD-${i % 4}`, JSON.stringify({ i }), { headers: { n: String(i) } })
        }
        yield* broker.publish(`${topics[1]}.ORD-1`, "b-first")
        yield* broker.publish(`${topics[1]}.ORD-2`, "other")
        yield* broker.publish(`${topics[1]}.ORD-1`, "b-second")
        return {
          one: yield* broker.readKey!(topics, "ORD-1"),
          none: yield* broker.readKey!(topics, "ORD-NEVER"),
          recent: yield* broker.readKey!(topics, "ORD-1", { maxPerPartition: 1 }),
        }
      }),
    )
    const decode = (payload: Uint8Array) => new TextDecoder().decode(payload)
    expect(found.one.filter((m) => m.topic === topics[0]).map((m) => JSON.parse(decode(m.payload)).i)).toEqual([
      1, 5, 9, 13, 17,
    ])
    expect(found.one.filter((m) => m.topic === topics[0]).map((m) => m.headers.n)).toEqual(["1", "5", "9", "13", "17"])
    expect(found.one.filter((m) => m.topic === topics[1]).map((m) => decode(m.payload))).toEqual([
      "b-first",
      "b-second",
    ])
    expect(found.one.every((m) => m.key === "ORD-1")).toBe(true)
    expect(found.none).toEqual([])
    // Only the latest message of the key's partition per topic, when it is the key's.
    expect(found.recent.filter((m) => m.topic === topics[1]).map((m) => decode(m.payload))).toEqual(["b-second"])
    for (const m of found.recent.filter((m) => m.topic === topics[0])) expect(JSON.parse(decode(m.payload)).i).toBe(17)
  })
})
