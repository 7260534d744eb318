/**
 * The broker facade: one service both applications use to publish and subscribe.
 *
 * Subjects are NATS-style: `<TOPIC>.<key>` — the first token is the topic (a Kafka topic or a
 * JetStream stream), the rest is the message key (for orders, the OrderReqID). Subscriptions may
 * use `*` (exactly one token) and `>` (one or more trailing tokens). See `subject.ts` and
 * `README.md` in this folder for the mapping onto Kafka and NATS.
 *
 * Delivery is at least once: a message is acknowledged (Kafka offset committed, JetStream ack)
 * only after its handler succeeded; a handler failure or a consumer dying before the ack means
 * the message is delivered again, to this or another member of the consumer group.
 */
import { Context, type Effect, Layer, type Scope } from "effect"
import type { BrokerError, BrokerUnavailable } from "./errors.ts"

export type Headers = Readonly<Record<string, string>>

/** A message as handed to a subscriber. */
export interface BrokerMessage {
  /** `<TOPIC>.<key>` */
  readonly subject: string
  readonly topic: string
  readonly key: string
  readonly headers: Headers
  readonly payload: Uint8Array
  /** Adapter-specific position, for logs and tests (Kafka `partition:offset`, JetStream stream seq). */
  readonly position: string
  /**
   * True when the broker knows this message was delivered before (JetStream, memory). Kafka keeps
   * no delivery count: there it is true only when this process saw a handler fail on it.
   */
  readonly redelivered: boolean
}

export interface PublishOptions {
  readonly headers?: Headers
}

export interface SubscribeOptions<E, R> {
  /** Subject pattern, e.g. `BUYER_NOTIFY.>`, `*.ORD-001`, `SELLER_NOTIFY.ORD-001`. */
  readonly subject: string
  /**
   * Consumer group (Kafka group.id, JetStream durable consumer / queue group). Members of one
   * group share the messages; different groups each see every message. A group is scoped by
   * `subject`: subscriptions share messages only when group and subject are both equal (see
   * `group.ts`).
   */
  readonly group: string
  /** Start from the oldest retained message when the group has no committed position yet. */
  readonly fromBeginning?: boolean
  /**
   * Acknowledged only when this succeeds; a failure leads to redelivery. Calls for one
   * subscription are sequential (one message at a time).
   */
  readonly handler: (message: BrokerMessage) => Effect.Effect<void, E, R>
}

/** Messages of one topic the group has not handled yet. */
export interface TopicLag {
  readonly topic: string
  readonly messages: number
}

/** A running subscription; it stops when the scope it was started in closes. */
export interface Subscription {
  /**
   * Resolves once the consumer has joined its group and is receiving (partitions assigned);
   * messages published after that are delivered to the group even without `fromBeginning`.
   */
  readonly ready: Effect.Effect<void>
  /**
   * The group's backlog per subscribed topic, asked of the broker (for metrics). Kafka: high
   * watermark minus committed offset, summed over partitions; JetStream: the durable consumer's
   * pending plus unacknowledged messages. Absent when the adapter cannot tell (memory).
   */
  readonly lag?: Effect.Effect<ReadonlyArray<TopicLag>, BrokerError | BrokerUnavailable>
}

export interface TopicSpec {
  readonly name: string
  readonly partitions: number
  readonly replicationFactor: number
  /** Kafka's `min.insync.replicas` of the topic (absent: the broker's default). */
  readonly minInsyncReplicas?: number
}

export interface KeyReadOptions {
  /** How many of the latest messages of a partition are looked at (default 50,000). */
  readonly maxPerPartition?: number
  readonly timeoutMs?: number
}

export interface BrokerShape {
  /** `kafka`, `nats` or `memory` */
  readonly kind: string
  readonly publish: (
    subject: string,
    payload: Uint8Array | string,
    options?: PublishOptions,
  ) => Effect.Effect<void, BrokerError | BrokerUnavailable>
  readonly subscribe: <E, R>(
    options: SubscribeOptions<E, R>,
  ) => Effect.Effect<Subscription, BrokerError | BrokerUnavailable, R | Scope.Scope>
  /** Creates the topics (Kafka topics / JetStream streams) that do not exist yet. */
  readonly ensureTopics: (topics: ReadonlyArray<TopicSpec>) => Effect.Effect<void, BrokerError | BrokerUnavailable>
  /**
   * The retained messages with key `key` on `topics` (each topic's latest `maxPerPartition` of
   * the key's partition), oldest first per topic; what the operator's order story shows. Absent
   * when the adapter cannot read back by key.
   */
  readonly readKey?: (
    topics: ReadonlyArray<string>,
    key: string,
    options?: KeyReadOptions,
  ) => Effect.Effect<ReadonlyArray<BrokerMessage>, BrokerError | BrokerUnavailable>
  /** Succeeds when the broker answers now; used by `/readyz`. */
  readonly healthCheck: Effect.Effect<void, BrokerUnavailable>
}

export class Broker extends Context.Service<Broker, BrokerShape>()("dcent/Broker") {}

/** Builds the broker of one client library from its options; its clients live as long as the surrounding scope. */
export type MakeBroker<Options> = (
  options: Options,
) => Effect.Effect<BrokerShape, BrokerUnavailable | BrokerError, Scope.Scope>

/** The `Broker` layer of a client library: its clients are closed with the layer. */
export const brokerLayer =
  <Options>(make: MakeBroker<Options>) =>
  (options: Options): Layer.Layer<Broker, BrokerUnavailable | BrokerError> =>
    Layer.effect(Broker, make(options))
