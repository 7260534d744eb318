/**
 * Broker configuration from the environment (Effect `Config`, so a bad value fails with a
 * `ConfigError` naming the variable).
 *
 * | variable                   | default            | meaning                                        |
 * |----------------------------|--------------------|------------------------------------------------|
 * | `BROKER_URL`               | `kafka://`         | `kafka://h1:9092,h2:9092`, `nats://h:4222`, `memory://` |
 * | `KAFKA_BOOTSTRAP_SERVERS`  | `127.0.0.1:9092`   | used when `BROKER_URL` is `kafka://` with no host |
 * | `KAFKA_TOPIC_PARTITIONS`   | `3`                | partitions of the eight topics (`ensureTopics`) |
 * | `KAFKA_REPLICATION_FACTOR` | `1`                | replication factor (Kafka) / replicas (JetStream) |
 * | `KAFKA_MIN_INSYNC_REPLICAS` | 2 from replication factor 3 on, else 1 (none set with 1 replica) | the topics' `min.insync.replicas` (Kafka): an `acks=all` write succeeds once this many replicas have it |
 * | `KAFKA_LOG_LEVEL`          | `0`                | librdkafka syslog level 0–7; 0 keeps it quiet   |
 * | `KAFKA_LINGER_MS`          | `20`               | producer `linger.ms`: how long a batch may wait to fill |
 * | `BROKER_CLIENT_ID`         | `dcent`            | Kafka `client.id` / NATS connection name        |
 *
 * Kafka credentials (`kafkaSecurityConfig`; what AWS MSK, Confluent and Redpanda Cloud need):
 *
 * | variable                   | default            | meaning                                        |
 * |----------------------------|--------------------|------------------------------------------------|
 * | `KAFKA_SECURITY_PROTOCOL`  | `PLAINTEXT`        | `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` |
 * | `KAFKA_SASL_MECHANISM`     | `SCRAM-SHA-512`    | with SASL: `SCRAM-SHA-512`, `SCRAM-SHA-256`, `PLAIN` |
 * | `KAFKA_SASL_USERNAME`      |                    | required with SASL                             |
 * | `KAFKA_SASL_PASSWORD`      |                    | required with SASL; never logged               |
 * | `KAFKA_SSL_CA_FILE`        | system roots       | PEM CA of the brokers' certificates (SSL, SASL_SSL) |
 */
import { accessSync, constants } from "node:fs"
import { Config, Effect, Option, Redacted } from "effect"
import { configFailure } from "../config/errors.ts"
import type { TopicSpec } from "./Broker.ts"
import { BrokerError } from "./errors.ts"
import { allTopicNames } from "./topics.ts"

export type BrokerKind = "kafka" | "nats" | "memory"

export interface BrokerUrl {
  readonly kind: BrokerKind
  /** `host:port` entries; empty for `memory`. */
  readonly servers: ReadonlyArray<string>
  /** Normalised URL, used in error messages: `kafka://h1:9092,h2:9092`. */
  readonly url: string
}

export class InvalidBrokerUrl extends Error {
  readonly input: string
  constructor(input: string, reason: string) {
    super(`${JSON.stringify(input)}: ${reason}`)
    this.name = "InvalidBrokerUrl"
    this.input = input
  }
}

const defaultPorts: Record<Exclude<BrokerKind, "memory">, number> = { kafka: 9092, nats: 4222 }

/** `host`, `host:port`, `[v6]`, `[v6]:port` → `host:port` (default port added). */
const parseServer = (input: string, entry: string, defaultPort: number): string => {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d+))?$/.exec(entry)
  if (match === null) throw new InvalidBrokerUrl(input, `${JSON.stringify(entry)} is not host[:port]`)
  const host = match[1]!
  const port = match[2] === undefined ? defaultPort : Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidBrokerUrl(input, `port ${match[2]} of ${JSON.stringify(entry)} is not in 1..65535`)
  }
  return `${host}:${port}`
}

const parseServers = (input: string, list: string, defaultPort: number): Array<string> =>
  list
    .split(",")
    .map((entry) => entry.trim())
    .map((entry) => {
      if (entry.length === 0) throw new InvalidBrokerUrl(input, "it has an empty server entry")
      return parseServer(input, entry, defaultPort)
    })

/**
 * Parses a broker URL. `kafkaBootstrapServers` is the fallback for `kafka://` without hosts.
 * Throws {@link InvalidBrokerUrl}.
 */
export const parseBrokerUrl = (raw: string, kafkaBootstrapServers?: string): BrokerUrl => {
  const input = raw.trim()
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(input)
  if (match === null)
    throw new InvalidBrokerUrl(raw, "expected kafka://host:port[,host:port], nats://host:port or memory://")
  const scheme = match[1]!.toLowerCase()
  const rest = match[2]!.replace(/\/+$/, "")
  if (/[/?#@]/.test(rest)) {
    throw new InvalidBrokerUrl(raw, "paths, query strings and credentials are not supported")
  }
  switch (scheme) {
    case "memory":
      if (rest.length > 0) throw new InvalidBrokerUrl(raw, "memory:// takes no host")
      return { kind: "memory", servers: [], url: "memory://" }
    case "kafka": {
      let servers: Array<string>
      if (rest.length > 0) servers = parseServers(raw, rest, defaultPorts.kafka)
      else if (kafkaBootstrapServers !== undefined && kafkaBootstrapServers.trim().length > 0)
        servers = parseServers(kafkaBootstrapServers, kafkaBootstrapServers.trim(), defaultPorts.kafka)
      else throw new InvalidBrokerUrl(raw, "kafka:// names no host and KAFKA_BOOTSTRAP_SERVERS is empty")
      return { kind: "kafka", servers, url: `kafka://${servers.join(",")}` }
    }
    case "nats": {
      if (rest.length === 0) throw new InvalidBrokerUrl(raw, "nats:// needs a host, e.g. nats://127.0.0.1:4222")
      const servers = parseServers(raw, rest, defaultPorts.nats)
      return { kind: "nats", servers, url: `nats://${servers.join(",")}` }
    }
    default:
      throw new InvalidBrokerUrl(raw, `unknown scheme "${scheme}" (expected kafka, nats or memory)`)
  }
}

/** `BROKER_URL` (+ `KAFKA_BOOTSTRAP_SERVERS` fallback). */
export const brokerUrlConfig: Config.Config<BrokerUrl> = Config.all({
  url: Config.String("BROKER_URL").pipe(Config.withDefault("kafka://")),
  bootstrap: Config.String("KAFKA_BOOTSTRAP_SERVERS").pipe(Config.withDefault("127.0.0.1:9092")),
}).pipe(
  Config.mapEffect(({ url, bootstrap }) =>
    Effect.try({ try: () => parseBrokerUrl(url, bootstrap), catch: (e) => e as InvalidBrokerUrl }).pipe(
      Effect.catch((e) =>
        configFailure(
          e instanceof InvalidBrokerUrl && e.input === bootstrap && bootstrap !== url
            ? `KAFKA_BOOTSTRAP_SERVERS ${e.message}`
            : `BROKER_URL ${e instanceof Error ? e.message : String(e)}`,
        ),
      ),
    ),
  ),
)

const positiveInt = (name: string, fallback: number): Config.Config<number> =>
  Config.Int(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((n) => (n >= 1 ? Effect.succeed(n) : configFailure(`${name} must be >= 1, got ${n}`))),
  )

export interface TopicSettings {
  readonly partitions: number
  readonly replicationFactor: number
  /** Absent with a single replica and no `KAFKA_MIN_INSYNC_REPLICAS`: the topic is created without it. */
  readonly minInsyncReplicas?: number
}

/**
 * The `min.insync.replicas` that goes with a replication factor unless `KAFKA_MIN_INSYNC_REPLICAS`
 * says otherwise: 2 from 3 replicas on (a write is on two brokers before it is acknowledged, and
 * one broker may be down without refusing writes), else 1.
 */
export const defaultMinInsyncReplicas = (replicationFactor: number) => (replicationFactor >= 3 ? 2 : 1)

/**
 * `KAFKA_TOPIC_PARTITIONS` (default 3), `KAFKA_REPLICATION_FACTOR` (default 1) and
 * `KAFKA_MIN_INSYNC_REPLICAS` (default {@link defaultMinInsyncReplicas}; at most the replication
 * factor). With one replica and no `KAFKA_MIN_INSYNC_REPLICAS`, topics are created without a
 * `min.insync.replicas` of their own, as before (a single-node broker needs none).
 */
export const topicSettingsConfig: Config.Config<TopicSettings> = Config.all({
  partitions: positiveInt("KAFKA_TOPIC_PARTITIONS", 3),
  replicationFactor: positiveInt("KAFKA_REPLICATION_FACTOR", 1),
  minInsyncReplicas: Config.option(Config.Int("KAFKA_MIN_INSYNC_REPLICAS")),
}).pipe(
  Config.mapEffect(({ partitions, replicationFactor, minInsyncReplicas }) => {
    if (Option.isNone(minInsyncReplicas) && replicationFactor === 1) {
      return Effect.succeed({ partitions, replicationFactor })
    }
    const minInsync = Option.getOrElse(minInsyncReplicas, () => defaultMinInsyncReplicas(replicationFactor))
    if (minInsync < 1) return configFailure(`KAFKA_MIN_INSYNC_REPLICAS must be >= 1, got ${minInsync}`)
    return minInsync > replicationFactor
      ? configFailure(
          `KAFKA_MIN_INSYNC_REPLICAS (${minInsync}) must not exceed KAFKA_REPLICATION_FACTOR (${replicationFactor})`,
        )
      : Effect.succeed({ partitions, replicationFactor, minInsyncReplicas: minInsync })
  }),
)

/** The eight topics with the given settings. */
export const topicSpecs = (
  settings: TopicSettings,
  names: ReadonlyArray<string> = allTopicNames,
): ReadonlyArray<TopicSpec> => names.map((name) => ({ name, ...settings }))

/** The eight topics as configured by the environment. */
export const topicSpecsConfig: Config.Config<ReadonlyArray<TopicSpec>> = topicSettingsConfig.pipe(
  Config.map((settings) => topicSpecs(settings)),
)

/** `KAFKA_LOG_LEVEL`: librdkafka's syslog level, 0 (quiet, default) … 7 (debug). */
export const kafkaLogLevelConfig: Config.Config<number> = Config.Int("KAFKA_LOG_LEVEL").pipe(
  Config.withDefault(0),
  Config.mapEffect((n) =>
    n >= 0 && n <= 7 ? Effect.succeed(n) : configFailure(`KAFKA_LOG_LEVEL must be 0..7, got ${n}`),
  ),
)

/**
 * `KAFKA_LINGER_MS` (default 20, 0–1000): the producer's `linger.ms`. librdkafka sends one Produce
 * request per partition per batch, and each request costs the broker far more than a message
 * (measured with `test/bench/outbox-relay.ts`: at a steady 1,000 entries/s, 3.4 entries per
 * request at 5 ms, 8.3 at 20 ms). 20 ms keeps topic latency low while cutting broker requests.
 */
export const kafkaLingerMsConfig: Config.Config<number> = Config.Int("KAFKA_LINGER_MS").pipe(
  Config.withDefault(20),
  Config.mapEffect((n) =>
    n >= 0 && n <= 1000 ? Effect.succeed(n) : configFailure(`KAFKA_LINGER_MS must be 0..1000, got ${n}`),
  ),
)

/** `BROKER_URL` for an adapter of one `kind`: another scheme is a configuration mistake, not a fallback. */
export const brokerUrlOfKind = (kind: BrokerKind): Effect.Effect<BrokerUrl, BrokerError | Config.ConfigError> =>
  Effect.gen(function* () {
    const broker = yield* brokerUrlConfig
    if (broker.kind !== kind) {
      return yield* new BrokerError({ operation: "configure", reason: `BROKER_URL is ${broker.url}, not ${kind}://` })
    }
    return broker
  })

/** `BROKER_CLIENT_ID`: Kafka `client.id` / NATS connection name. */
export const clientIdConfig: Config.Config<string> = Config.String("BROKER_CLIENT_ID").pipe(Config.withDefault("dcent"))

// --- Kafka credentials ---------------------------------------------------------------------------

const securityProtocols = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] as const
export type KafkaSecurityProtocol = (typeof securityProtocols)[number]
const saslMechanisms = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] as const
export type KafkaSaslMechanism = (typeof saslMechanisms)[number]

/** How the Kafka clients authenticate and encrypt (`KAFKA_SECURITY_PROTOCOL` and friends). */
export interface KafkaSecurity {
  readonly protocol: KafkaSecurityProtocol
  readonly sasl?: {
    readonly mechanism: KafkaSaslMechanism
    readonly username: string
    readonly password: Redacted.Redacted<string>
  }
  /** Path of the PEM CA file (librdkafka reads it). */
  readonly caFile?: string
}

export const plaintextKafka: KafkaSecurity = { protocol: "PLAINTEXT" }

const oneOf = <A extends string>(name: string, values: ReadonlyArray<A>, fallback: A): Config.Config<A> =>
  Config.String(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((value) => {
      const upper = value.trim().toUpperCase() as A
      return values.includes(upper)
        ? Effect.succeed(upper)
        : configFailure(`${name} must be one of ${values.join(", ")}, got ${JSON.stringify(value)}`)
    }),
  )

/**
 * `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`,
 * `KAFKA_SSL_CA_FILE` (table above). SASL without a username or password, or a CA file that
 * cannot be read, fails start-up naming the variable; the password stays `Redacted`.
 */
export const kafkaSecurityConfig: Config.Config<KafkaSecurity> = Config.all({
  protocol: oneOf("KAFKA_SECURITY_PROTOCOL", securityProtocols, "PLAINTEXT"),
  mechanism: oneOf("KAFKA_SASL_MECHANISM", saslMechanisms, "SCRAM-SHA-512"),
  username: Config.option(Config.NonEmptyString("KAFKA_SASL_USERNAME")),
  password: Config.option(Config.Redacted("KAFKA_SASL_PASSWORD")),
  caFile: Config.option(Config.NonEmptyString("KAFKA_SSL_CA_FILE")),
}).pipe(
  Config.mapEffect(({ protocol, mechanism, username, password, caFile }) =>
    Effect.gen(function* () {
      const usesSasl = protocol.startsWith("SASL_")
      const usesTls = protocol.endsWith("SSL")
      if (usesSasl && Option.isNone(username)) {
        return yield* configFailure(`KAFKA_SASL_USERNAME is required with KAFKA_SECURITY_PROTOCOL=${protocol}`)
      }
      if (usesSasl && Option.isNone(password)) {
        return yield* configFailure(`KAFKA_SASL_PASSWORD is required with KAFKA_SECURITY_PROTOCOL=${protocol}`)
      }
      if (Option.isSome(caFile)) {
        if (!usesTls) return yield* configFailure(`KAFKA_SSL_CA_FILE needs KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL`)
        const problem = yield* Effect.try({
          try: () => accessSync(caFile.value, constants.R_OK),
          catch: (cause) => (cause instanceof Error && "code" in cause ? String(cause.code) : "unreadable"),
        }).pipe(Effect.flip, Effect.option)
        if (Option.isSome(problem)) return yield* configFailure(`KAFKA_SSL_CA_FILE (${caFile.value}): ${problem.value}`)
      }
      return {
        protocol,
        ...(usesSasl && Option.isSome(username) && Option.isSome(password)
          ? { sasl: { mechanism, username: username.value, password: password.value } }
          : {}),
        ...(Option.isSome(caFile) ? { caFile: caFile.value } : {}),
      } satisfies KafkaSecurity
    }),
  ),
)

/** The librdkafka properties of `security` (the password in clear: hand them to the client only, never log them). */
export const kafkaSecurityProperties = (security: KafkaSecurity): Record<string, string> => ({
  "security.protocol": security.protocol.toLowerCase(),
  ...(security.sasl === undefined
    ? {}
    : {
        "sasl.mechanisms": security.sasl.mechanism,
        "sasl.username": security.sasl.username,
        "sasl.password": Redacted.value(security.sasl.password),
      }),
  ...(security.caFile === undefined ? {} : { "ssl.ca.location": security.caFile }),
})
