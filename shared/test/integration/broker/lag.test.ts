/**
 * Consumer lag on the real Kafka and NATS JetStream: while a subscriber's handler is stuck, the
 * messages published after it joined show as the group's backlog (`Subscription.lag`), and as
 * `dcent_broker_consumer_lag_messages{topic, group}` through the metrics decorator; once the
 * handler runs again, the backlog drains to 0.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect, type Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { kafkaUrl, natsUrl, servers } from "../../../../test/support/servers.ts"
import { Broker, type TopicLag } from "../../../src/broker/Broker.ts"
import { BrokerKafka } from "../../../src/broker/kafka.ts"
import { BrokerNats } from "../../../src/broker/nats.ts"
import { instrumentBroker } from "../../../src/metrics/broker.ts"
import { MetricNames } from "../../../src/metrics/catalogue.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

const kafkaBootstrap = `${servers.kafka.host}:${servers.kafka.port}`
const natsServer = `${servers.nats.host}:${servers.nats.port}`
const unique = (label: string) => `lag_${label}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`

const targets: ReadonlyArray<{
  readonly name: string
  readonly layer: () => Layer.Layer<Broker, unknown>
  readonly deleteTopic: (topic: string) => Promise<void>
}> = [
  {
    name: "kafka",
    layer: () =>
      BrokerKafka.layer({
        clientId: "metrics-lag",
        knownTopics: [],
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 1_000,
        servers: [kafkaBootstrap],
        url: kafkaUrl,
      }),
    deleteTopic: async (topic) => {
      const admin = new KafkaJS.Kafka({ "bootstrap.servers": kafkaBootstrap, log_level: 0 }).admin()
      await admin.connect()
      try {
        await admin.deleteTopics({ topics: [topic], timeout: 10_000 })
      } finally {
        await admin.disconnect()
      }
    },
  },
  {
    name: "nats",
    layer: () => BrokerNats.layer({ name: "metrics-lag", knownTopics: [], servers: [natsServer], url: natsUrl }),
    deleteTopic: async (topic) => {
      const nc = await connect({ servers: natsServer })
      try {
        await (await jetstreamManager(nc)).streams.delete(topic).catch(() => false)
      } finally {
        await nc.close()
      }
    },
  },
]

const created: Array<() => Promise<void>> = []
afterAll(async () => {
  await Promise.allSettled(created.map((remove) => remove()))
})

const backlog = (lags: ReadonlyArray<TopicLag>, topic: string) =>
  lags.filter((lag) => lag.topic === topic).reduce((sum, lag) => sum + lag.messages, 0)

/** Polls `probe` every 200 ms until `accept`; fails with the last value after `ms`. */
const until = <A, E>(probe: Effect.Effect<A, E>, accept: (value: A) => boolean, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const value = yield* probe
      if (accept(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`gave up after ${ms} ms; last ${String(value)}`))
      yield* Effect.sleep("200 millis")
    }
  })

describe.each(targets)("consumer lag: $name", (target) => {
  it("counts the messages a stuck group has not handled, then 0 once it caught up", async () => {
    const topic = unique(target.name)
    const group = unique("group")
    created.push(() => target.deleteTopic(topic))
    const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
    const gauge = Effect.promise(() => metrics.registry.metrics()).pipe(
      Effect.map((text) => sumSamples(parseExposition(text), MetricNames.brokerConsumerLag, { topic, group })),
    )

    await Effect.runPromise(
      Effect.gen(function* () {
        const broker = instrumentBroker(yield* Broker, metrics)
        yield* broker.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1 }])
        const unblock = yield* Deferred.make<void>()
        let handled = 0
        const subscription = yield* broker.subscribe({
          subject: `${topic}.>`,
          group,
          handler: () =>
            Deferred.await(unblock).pipe(
              Effect.andThen(
                Effect.sync(() => {
                  handled += 1
                }),
              ),
            ),
        })
        yield* subscription.ready
        const lag = subscription.lag
        expect(lag).toBeDefined()
        if (lag === undefined) return
        for (let i = 0; i < 5; i++) yield* broker.publish(`${topic}.K${i}`, `m${i}`)

        // The first message is stuck in the handler (not acknowledged): all five are backlog.
        const stuck = yield* until(lag.pipe(Effect.map((lags) => backlog(lags, topic))), (n) => n === 5, 20_000)
        expect(stuck).toBe(5)
        yield* metrics.exposition
        expect(yield* gauge).toBe(5)

        yield* Deferred.succeed(unblock, undefined)
        yield* until(
          Effect.sync(() => handled),
          (n) => n === 5,
          20_000,
        )
        yield* until(lag.pipe(Effect.map((lags) => backlog(lags, topic))), (n) => n === 0, 20_000)
        yield* metrics.exposition
        expect(yield* gauge).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(target.layer())) as Effect.Effect<void, unknown>,
    )
  }, 60_000)
})
