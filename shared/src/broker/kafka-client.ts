/**
 * Kafka adapter plumbing: options and their defaults, librdkafka configuration, error
 * classification and header conversion. The adapter itself is `kafka.ts` (producer, admin) and
 * `kafka-consumer.ts` (subscriptions).
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import type { Headers } from "./Broker.ts"
import { type KafkaSecurity, kafkaSecurityProperties, plaintextKafka } from "./config.ts"
import { BrokerError, BrokerUnavailable } from "./errors.ts"
import { resolveClientOptions } from "./options.ts"

type RdKafkaValue = string | number | boolean

export interface KafkaBrokerOptions {
  /** `host:port` bootstrap servers. */
  readonly servers: ReadonlyArray<string>
  /** Shown in errors; default `kafka://<servers>`. */
  readonly url?: string
  /** `client.id`; default `dcent`. */
  readonly clientId?: string
  /**
   * Topics a wildcard topic token (`*.ORD-1`, `>`) expands to, besides every topic created through
   * this instance's `ensureTopics`. Default: the eight lifecycle topics. Topics that do not exist
   * are left out.
   */
  readonly knownTopics?: ReadonlyArray<string>
  /** Bound on the reachability check when the layer is built and on connecting clients. Default 5 s. */
  readonly connectTimeoutMs?: number
  /** Bound on `healthCheck` and metadata look-ups. Default 3 s. */
  readonly requestTimeoutMs?: number
  /** A publish fails with `BrokerUnavailable` when not acknowledged within this time. Default 30 s. */
  readonly messageTimeoutMs?: number
  /** Producer compression. Default `lz4`. */
  readonly compression?: "none" | "gzip" | "snappy" | "lz4" | "zstd"
  /** Producer `linger.ms`. Default 5. */
  readonly lingerMs?: number
  /** Consumer `session.timeout.ms` (classic group protocol). Default 10 s. */
  readonly sessionTimeoutMs?: number
  /** Consumer `heartbeat.interval.ms`. Default 3 s. */
  readonly heartbeatIntervalMs?: number
  /** Delay before a message whose handler failed is fetched again; doubles per failure. */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number }
  /** librdkafka syslog level 0–7; default 0 (quiet). */
  readonly logLevel?: number
  /** TLS / SASL (`KAFKA_SECURITY_PROTOCOL` …, `config.ts`); default plain text. */
  readonly security?: KafkaSecurity
  /** Extra librdkafka properties, applied last. */
  readonly producerConfig?: Readonly<Record<string, RdKafkaValue>>
  readonly consumerConfig?: Readonly<Record<string, RdKafkaValue>>
}

export interface ResolvedKafkaOptions {
  readonly servers: ReadonlyArray<string>
  readonly url: string
  readonly clientId: string
  readonly knownTopics: ReadonlyArray<string>
  readonly connectTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly messageTimeoutMs: number
  readonly compression: "none" | "gzip" | "snappy" | "lz4" | "zstd"
  readonly lingerMs: number
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly retryBackoff: { readonly initialMs: number; readonly maxMs: number }
  readonly logLevel: number
  readonly security: KafkaSecurity
  readonly producerConfig: Readonly<Record<string, RdKafkaValue>>
  readonly consumerConfig: Readonly<Record<string, RdKafkaValue>>
}

export const resolveKafkaOptions = (options: KafkaBrokerOptions): ResolvedKafkaOptions => ({
  ...resolveClientOptions("kafka", options),
  clientId: options.clientId ?? "dcent",
  messageTimeoutMs: options.messageTimeoutMs ?? 30_000,
  compression: options.compression ?? "lz4",
  lingerMs: options.lingerMs ?? 5,
  sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
  heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3_000,
  logLevel: options.logLevel ?? 0,
  security: options.security ?? plaintextKafka,
  producerConfig: options.producerConfig ?? {},
  consumerConfig: options.consumerConfig ?? {},
})

/** Properties shared by every client of one broker instance. */
export const commonConfig = (o: ResolvedKafkaOptions): KafkaJS.CommonConstructorConfig => ({
  "bootstrap.servers": o.servers.join(","),
  "client.id": o.clientId,
  log_level: o.logLevel,
  // Connection attempts to a dead broker give up (and are retried) quickly.
  "socket.connection.setup.timeout.ms": Math.max(1_000, o.connectTimeoutMs),
  "reconnect.backoff.ms": 100,
  "reconnect.backoff.max.ms": 2_000,
  ...kafkaSecurityProperties(o.security),
})

export const producerConfig = (o: ResolvedKafkaOptions): KafkaJS.ProducerConstructorConfig => ({
  "enable.idempotence": true,
  acks: -1,
  "compression.type": o.compression,
  "linger.ms": o.lingerMs,
  "message.timeout.ms": o.messageTimeoutMs,
  // Same partition for a key as the Java client (murmur2), whichever language produces.
  partitioner: "murmur2_random",
  // The producer gets a `kafkaJS` block (it carries the logger, `kafka-log.ts`), which switches the
  // client to KafkaJS's defaults; these keep librdkafka's: retry until `message.timeout.ms`, not 5 times.
  retries: 2_147_483_647,
  "retry.backoff.ms": 100,
  "retry.backoff.max.ms": 1_000,
  "socket.timeout.ms": 60_000,
  ...o.producerConfig,
})

export const consumerConfig = (
  o: ResolvedKafkaOptions,
  groupId: string,
  fromBeginning: boolean,
): KafkaJS.ConsumerConstructorConfig => ({
  "group.id": groupId,
  "enable.auto.commit": false,
  "auto.offset.reset": fromBeginning ? "earliest" : "latest",
  "session.timeout.ms": o.sessionTimeoutMs,
  "heartbeat.interval.ms": o.heartbeatIntervalMs,
  "partition.assignment.strategy": "roundrobin",
  "allow.auto.create.topics": false,
  ...o.consumerConfig,
})

const codes = KafkaJS.ErrorCodes

/** librdkafka codes meaning "cannot reach / no answer from the cluster". */
const unavailableCodes = new Set<number>([
  codes.ERR__TRANSPORT,
  codes.ERR__RESOLVE,
  codes.ERR__MSG_TIMED_OUT,
  codes.ERR__ALL_BROKERS_DOWN,
  codes.ERR__TIMED_OUT,
  codes.ERR__TIMED_OUT_QUEUE,
  codes.ERR__DESTROY,
  codes.ERR__STATE,
  codes.ERR_REQUEST_TIMED_OUT,
  codes.ERR_NETWORK_EXCEPTION,
  codes.ERR_BROKER_NOT_AVAILABLE,
  codes.ERR_COORDINATOR_NOT_AVAILABLE,
])

export const errorCode = (cause: unknown): number | undefined => {
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "number") {
    return cause.code
  }
  return undefined
}

export const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

export const isUnknownTopic = (cause: unknown): boolean => {
  const code = errorCode(cause)
  return code === codes.ERR_UNKNOWN_TOPIC_OR_PART || code === codes.ERR__UNKNOWN_TOPIC
}

/** Maps a client error onto the contract's errors. */
export const classify =
  (url: string, operation: string) =>
  (cause: unknown): BrokerUnavailable | BrokerError => {
    const code = errorCode(cause)
    if (cause instanceof KafkaJS.KafkaJSTimeout || (code !== undefined && unavailableCodes.has(code))) {
      return new BrokerUnavailable({ url, reason: `${operation}: ${errorText(cause)}` })
    }
    return new BrokerError({ operation, reason: errorText(cause) })
  }

export const toKafkaHeaders = (headers: Headers): KafkaJS.IHeaders => {
  const out: KafkaJS.IHeaders = {}
  for (const [name, value] of Object.entries(headers)) out[name] = Buffer.from(value, "utf8")
  return out
}

export const fromKafkaHeaders = (headers: KafkaJS.IHeaders | undefined): Headers => {
  const out: Record<string, string> = {}
  if (headers === undefined) return out
  for (const [name, value] of Object.entries(headers)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value
    if (last === undefined) continue
    out[name] = typeof last === "string" ? last : last.toString("utf8")
  }
  return out
}

/** A view of `bytes` as a Buffer, without copying. */
export const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
