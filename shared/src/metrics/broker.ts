/**
 * Broker metrics as a decorator around any `Broker` adapter (Kafka, NATS, memory):
 *
 * - publish: `dcent_broker_published_messages_total{topic}` once the broker acknowledged,
 *   `dcent_broker_publish_errors_total{topic}` for a failed attempt,
 *   `dcent_broker_publish_duration_seconds{topic}` for both; and the `topic` stage of
 *   `dcent_event_delivery_latency_seconds` — from the message's `Timestamp` (an event's
 *   `occurred_at`, see `orders/topicMessage.ts`) to the acknowledgement;
 * - subscribe: `dcent_broker_consumed_messages_total{topic, group}` per handled message,
 *   `dcent_broker_consume_errors_total{topic, group}` per failed handler (redelivered), and
 *   `dcent_broker_consumer_lag_messages{topic, group}` asked of the adapter on every scrape
 *   while the subscription runs (`Subscription.lag`; the memory broker has none).
 */
import { Clock, Effect, Exit } from "effect"
import { Broker, type BrokerShape } from "../broker/Broker.ts"
import { DeliveryStages } from "./catalogue.ts"
import { childPerKey, withInstrumented } from "./instrument.ts"
import type { MetricsShape } from "./Metrics.ts"
import { deliveryObserver } from "./streams.ts"

/** The topic of a subject `<TOPIC>.<key>`. */
export const topicOfSubject = (subject: string): string => {
  const dot = subject.indexOf(".")
  return dot < 0 ? subject : subject.slice(0, dot)
}

const timestampField = /"Timestamp":"([^"]+)"/
const decoder = new TextDecoder()

/** The `Timestamp` of a topic message payload (JSON), if it has one. */
export const payloadTimestamp = (payload: Uint8Array | string): string | undefined => {
  const text = typeof payload === "string" ? payload : decoder.decode(payload)
  return timestampField.exec(text)?.[1]
}

const isInterruptOnly = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause.reasons.every((reason) => reason._tag === "Interrupt")

export const instrumentBroker = (broker: BrokerShape, metrics: MetricsShape): BrokerShape => {
  const { catalogue } = metrics
  const publisherFor = childPerKey((topic) => ({
    published: catalogue.brokerPublished.labels(topic),
    errors: catalogue.brokerPublishErrors.labels(topic),
    duration: catalogue.brokerPublishDuration.labels(topic),
  }))
  const onTopic = deliveryObserver(catalogue, DeliveryStages.Topic)

  const publish: BrokerShape["publish"] = (subject, payload, options) =>
    Clock.clockWith((clock) => {
      const children = publisherFor(topicOfSubject(subject))
      // The real elapsed time of the call, for the Prometheus histogram (not logic).
      const started = performance.now()
      return broker.publish(subject, payload, options).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            if (isInterruptOnly(exit)) return
            children.duration.observe((performance.now() - started) / 1000)
            if (Exit.isSuccess(exit)) {
              children.published.inc()
              onTopic(payloadTimestamp(payload), clock.currentTimeMillisUnsafe())
            } else {
              children.errors.inc()
            }
          }),
        ),
      )
    })

  const subscribe: BrokerShape["subscribe"] = (options) => {
    const consumerFor = childPerKey((topic) => ({
      consumed: catalogue.brokerConsumed.labels(topic, options.group),
      errors: catalogue.brokerConsumeErrors.labels(topic, options.group),
    }))
    const subscription = broker.subscribe({
      ...options,
      handler: (message) =>
        options.handler(message).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              if (isInterruptOnly(exit)) return
              const children = consumerFor(message.topic)
              if (Exit.isSuccess(exit)) children.consumed.inc()
              else children.errors.inc()
            }),
          ),
        ),
    })
    return Effect.tap(subscription, (running) => {
      const lag = running.lag
      if (lag === undefined) return Effect.void
      return metrics.onScrape(
        `consumer lag ${options.group} ${options.subject}`,
        lag.pipe(
          Effect.tap((topics) =>
            Effect.sync(() => {
              for (const { topic, messages } of topics) {
                catalogue.brokerConsumerLag.labels(topic, options.group).set(messages)
              }
            }),
          ),
        ),
      )
    })
  }

  return { ...broker, publish, subscribe }
}

/** `layer`'s broker with publish/consume metrics. */
export const withBrokerMetrics = withInstrumented(Broker, instrumentBroker)
