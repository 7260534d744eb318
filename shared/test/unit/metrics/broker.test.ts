/** The broker decorator: publishes, publish errors and durations per topic, the topic-stage latency, consumed messages. */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import type { BrokerMessage, BrokerShape } from "../../../src/broker/Broker.ts"
import { BrokerError } from "../../../src/broker/errors.ts"
import { instrumentBroker, payloadTimestamp, topicOfSubject } from "../../../src/metrics/broker.ts"
import { MetricNames } from "../../../src/metrics/catalogue.ts"
import { Metrics, type MetricsShape } from "../../../src/metrics/Metrics.ts"
import { topicMessage } from "../../../src/orders/topicMessage.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

const message = (topic: string, key: string): BrokerMessage => ({
  subject: `${topic}.${key}`,
  topic,
  key,
  headers: {},
  payload: new Uint8Array(),
  position: "0",
  redelivered: false,
})

/** Publishes fail for `FAILING.*`; a subscription hands the handler these messages in turn. */
const stubBroker = (delivered: ReadonlyArray<BrokerMessage>): BrokerShape => ({
  kind: "stub",
  publish: (subject) =>
    subject.startsWith("FAILING.")
      ? Effect.fail(new BrokerError({ operation: "publish", reason: "no leader" }))
      : Effect.void,
  subscribe: (options) =>
    Effect.forEach(delivered, (each) => Effect.exit(options.handler(each)), { discard: true }).pipe(
      Effect.as({ ready: Effect.void }),
    ),
  ensureTopics: () => Effect.void,
  healthCheck: Effect.void,
})

const sampleTotal = async (metrics: MetricsShape, name: string, labels: Record<string, string>) =>
  sumSamples(parseExposition(await metrics.registry.metrics()), name, labels)

describe("broker metrics", () => {
  it("takes the topic from the subject and the Timestamp from a topic message", () => {
    expect(topicOfSubject("BUYER_NOTIFY.ORD-1")).toBe("BUYER_NOTIFY")
    expect(topicOfSubject("BUYER_NOTIFY")).toBe("BUYER_NOTIFY")
    const entry = topicMessage({
      topic: "BUYER_NOTIFY",
      key: "ORD_UPDATES",
      orderReqId: "ORD-1",
      sessionId: "S",
      message: 'a "quoted" message',
      timestamp: "2026-01-02T03:04:05.678Z",
    })
    expect(payloadTimestamp(entry.payload)).toBe("2026-01-02T03:04:05.678Z")
    expect(payloadTimestamp(new TextEncoder().encode(entry.payload))).toBe("2026-01-02T03:04:05.678Z")
    expect(payloadTimestamp("not json")).toBeUndefined()
  })

  it.effect(
    "counts acknowledged publishes and failed attempts per topic, times both, and observes the topic stage",
    () =>
      Effect.gen(function* () {
        const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
        const broker = instrumentBroker(stubBroker([]), metrics)
        const payload = topicMessage({
          topic: "BUYER_NOTIFY",
          key: "ORD_UPDATES",
          orderReqId: "ORD-1",
          sessionId: "S",
          message: "m",
          timestamp: new Date(yield* Clock.currentTimeMillis).toISOString(),
        }).payload
        // Acknowledged 250 ms (on the test clock) after the message's Timestamp.
        yield* TestClock.adjust("250 millis")
        yield* broker.publish("BUYER_NOTIFY.ORD-1", payload)
        yield* broker.publish("BUYER_NOTIFY.ORD-2", payload)
        const failed = yield* Effect.exit(broker.publish("FAILING.ORD-1", "x"))
        expect(failed._tag).toBe("Failure")
        yield* Effect.promise(async () => {
          expect(await sampleTotal(metrics, MetricNames.brokerPublished, { topic: "BUYER_NOTIFY" })).toBe(2)
          expect(await sampleTotal(metrics, MetricNames.brokerPublishErrors, { topic: "BUYER_NOTIFY" })).toBe(0)
          expect(await sampleTotal(metrics, MetricNames.brokerPublished, { topic: "FAILING" })).toBe(0)
          expect(await sampleTotal(metrics, MetricNames.brokerPublishErrors, { topic: "FAILING" })).toBe(1)
          expect(
            await sampleTotal(metrics, `${MetricNames.brokerPublishDuration}_count`, { topic: "BUYER_NOTIFY" }),
          ).toBe(2)
          expect(await sampleTotal(metrics, `${MetricNames.brokerPublishDuration}_count`, { topic: "FAILING" })).toBe(1)
          // Only acknowledged messages reach the topic; their Timestamp is 250 ms old.
          expect(await sampleTotal(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "topic" })).toBe(2)
          const sum = await sampleTotal(metrics, `${MetricNames.eventDeliveryLatency}_sum`, { stage: "topic" })
          expect(sum / 2).toBeCloseTo(0.25, 9)
        })
      }),
  )

  it("counts handled and failed messages per topic and consumer group", async () => {
    const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
    const broker = instrumentBroker(
      stubBroker([message("SELLER_NOTIFY", "A"), message("SELLER_NOTIFY", "BAD"), message("BUYER_NOTIFY", "A")]),
      metrics,
    )
    await Effect.runPromise(
      Effect.scoped(
        broker.subscribe({
          subject: "*.>",
          group: "audit",
          handler: (each) => (each.key === "BAD" ? Effect.fail("cannot parse") : Effect.void),
        }),
      ),
    )
    expect(await sampleTotal(metrics, MetricNames.brokerConsumed, { topic: "SELLER_NOTIFY", group: "audit" })).toBe(1)
    expect(
      await sampleTotal(metrics, MetricNames.brokerConsumeErrors, { topic: "SELLER_NOTIFY", group: "audit" }),
    ).toBe(1)
    expect(await sampleTotal(metrics, MetricNames.brokerConsumed, { topic: "BUYER_NOTIFY", group: "audit" })).toBe(1)
  })
})
