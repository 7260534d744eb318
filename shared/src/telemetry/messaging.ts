/**
 * Broker spans following the OpenTelemetry messaging semantic conventions, as a decorator of the
 * `Broker` facade (so every adapter — Kafka, NATS, memory — is traced the same way).
 *
 * - `publish` runs in a PRODUCER span `send <topic>` and writes that span's `traceparent` into
 *   the message headers. The parent is the trace context the message already carries (an outbox
 *   entry stores the context of the request that caused it, see `../eventlog`), else the
 *   current span: the relay publishes long after the request, yet its `send` continues the
 *   request's trace.
 * - Each message handed to a `subscribe` handler runs in a CONSUMER span `process <topic>`, a
 *   child of the `traceparent` in its headers (a new root when there is none).
 *
 * Attributes: `messaging.system` (kafka / nats / memory), `messaging.destination.name` (the
 * topic), `messaging.operation.type` / `messaging.operation.name` (send / process),
 * `messaging.kafka.message.key` or `messaging.message.conversation_id` (the key, i.e. the
 * OrderReqID), `messaging.consumer.group.name`, `messaging.message.id` (the `event-id` header).
 */
import { Effect, Layer } from "effect"
import { Broker, type BrokerMessage, type BrokerShape } from "../broker/Broker.ts"
import { carrierOf, continueFrom, noStackTrace, type TraceCarrier, traceparentHeader } from "./traceContext.ts"

const keyAttribute = (system: string) =>
  system === "kafka" ? "messaging.kafka.message.key" : "messaging.message.conversation_id"

/** Topic and key of a subject (`BUYER_NOTIFY.ORD-1` → BUYER_NOTIFY, ORD-1); the subject itself if unparsable. */
const topicAndKey = (subject: string): { readonly topic: string; readonly key: string | undefined } => {
  const at = subject.indexOf(".")
  return at < 0 ? { topic: subject, key: undefined } : { topic: subject.slice(0, at), key: subject.slice(at + 1) }
}

/** The attributes of a message span. */
export const messagingAttributes = (
  system: string,
  operation: "send" | "process",
  topic: string,
  key: string | undefined,
  headers: TraceCarrier | undefined,
): Record<string, string> => ({
  "messaging.system": system,
  "messaging.destination.name": topic,
  "messaging.operation.type": operation,
  "messaging.operation.name": operation,
  ...(key === undefined || key === "" ? {} : { [keyAttribute(system)]: key }),
  ...(headers?.["event-id"] === undefined ? {} : { "messaging.message.id": headers["event-id"] }),
})

/** `broker` with producer and consumer spans (see the module comment). */
export const tracedBroker = (broker: BrokerShape): BrokerShape => {
  const system = broker.kind
  return {
    ...broker,
    publish: (subject, payload, options) => {
      const { topic, key } = topicAndKey(subject)
      const headers = options?.headers
      const carried = headers?.[traceparentHeader] === undefined ? {} : continueFrom(headers)
      return Effect.useSpan(
        `send ${topic}`,
        { ...carried, kind: "producer", attributes: messagingAttributes(system, "send", topic, key, headers) },
        (span) =>
          broker
            .publish(subject, payload, { ...options, headers: { ...headers, ...carrierOf(span) } })
            .pipe(Effect.withParentSpan(span, noStackTrace)),
      )
    },
    subscribe: (options) =>
      broker.subscribe({
        ...options,
        handler: (message: BrokerMessage) =>
          options.handler(message).pipe(
            Effect.withSpan(`process ${message.topic}`, {
              ...continueFrom(message.headers),
              kind: "consumer",
              attributes: {
                ...messagingAttributes(system, "process", message.topic, message.key, message.headers),
                "messaging.consumer.group.name": options.group,
                "messaging.destination.subscription.name": options.subject,
              },
            }),
          ),
      }),
  }
}

/** `layer`'s broker, traced. */
export const tracedBrokerLayer = <E, R>(layer: Layer.Layer<Broker, E, R>): Layer.Layer<Broker, E, R> =>
  Layer.effect(Broker, Effect.map(Effect.service(Broker), tracedBroker)).pipe(Layer.provide(layer))
