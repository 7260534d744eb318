/**
 * Kafka adapter (`@confluentinc/kafka-javascript`, its KafkaJS-style promise API over librdkafka).
 *
 * - subject `<TOPIC>.<key>` ↔ Kafka topic `<TOPIC>`, message key `<key>` (UTF-8), headers as
 *   Kafka headers (UTF-8 values);
 * - the producer is idempotent with `acks=all`, lz4 compression and a `KAFKA_LINGER_MS` (20 ms) linger; `publish`
 *   succeeds only after the delivery report, i.e. once the broker has the message; a publish
 *   hands its message to the producer synchronously (topic known) or after the one shared
 *   look-up of its topic, so publishes started one after the other without waiting are produced
 *   in that order (per partition the idempotent producer keeps it, many in flight);
 * - subscriptions are in `kafka-consumer.ts`.
 *
 * Building the layer checks that the cluster answers within `connectTimeoutMs` and fails with
 * `BrokerUnavailable` otherwise (librdkafka itself would retry forever). The producer is watched
 * and replaced when it stops reporting (`kafka-producer.ts`); its librdkafka log goes through the
 * application's logger (`kafka-log.ts`). The producer is flushed and disconnected, and the admin
 * client disconnected, when the layer's scope closes.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Clock, Effect } from "effect"
import { noStackTrace } from "../telemetry/traceContext.ts"
import { type BrokerShape, brokerLayer, type MakeBroker, type PublishOptions } from "./Broker.ts"
import { BrokerError, type BrokerUnavailable, brokerFailures } from "./errors.ts"
import {
  asBuffer,
  classify,
  commonConfig,
  errorText,
  isUnknownTopic,
  type KafkaBrokerOptions,
  producerConfig,
  resolveKafkaOptions,
  toKafkaHeaders,
} from "./kafka-client.ts"
import { makeKafkaSubscribe } from "./kafka-consumer.ts"
import { makeKafkaKeyReader } from "./kafka-keyReader.ts"
import { makeKafkaLogger } from "./kafka-log.ts"
import { makeWatchedProducer } from "./kafka-producer.ts"
import { headersOrFail, subjectOrFail, toBytes, topicSpecsOrFail } from "./validate.ts"

export type { KafkaBrokerOptions } from "./kafka-client.ts"

/** librdkafka's syslog level for the producer at least: warnings. */
const producerLogLevel = 4

/** A topic look-up got no answer in time. */
class LookupTimeout extends Error {}

/** The look-up before a publish failed (`cause`), as opposed to the produce itself. */
class LookupFailed extends Error {
  constructor(cause: unknown) {
    super("topic look-up failed", { cause })
  }
}

/** Builds the Kafka broker service. */
export const makeKafkaBroker: MakeBroker<KafkaBrokerOptions> = (input) =>
  Effect.gen(function* () {
    const options = resolveKafkaOptions(input)
    const { url } = options
    const { unavailable, bounded } = brokerFailures(url)
    if (options.servers.length === 0) return yield* unavailable("no bootstrap servers configured")
    const kafka = new KafkaJS.Kafka(commonConfig(options))

    const admin = yield* Effect.acquireRelease(
      Effect.sync(() => kafka.admin()),
      (client) =>
        Effect.promise(() => client.disconnect().catch(() => undefined)).pipe(
          Effect.timeout("5 seconds"),
          Effect.ignore,
        ),
    )
    yield* Effect.tryPromise({ try: () => admin.connect(), catch: classify(url, "connect") }).pipe(
      bounded("connect", options.connectTimeoutMs),
    )

    const listTopics = (timeoutMs: number) =>
      Effect.tryPromise({
        try: () => admin.listTopics({ timeout: timeoutMs }),
        catch: (cause) => unavailable(errorText(cause)),
      }).pipe(bounded("list topics", timeoutMs + 500))

    const healthCheck: Effect.Effect<void, BrokerUnavailable> = listTopics(options.requestTimeoutMs).pipe(
      Effect.asVoid,
      Effect.withSpan("Broker.healthCheck", { attributes: { "messaging.system": "kafka" } }),
    )
    // Fail fast (and clearly) when nothing answers at the configured address.
    yield* listTopics(options.connectTimeoutMs)

    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const clock = yield* Clock.Clock
    const config = producerConfig(options)
    const producer = yield* makeWatchedProducer({
      // Its warnings and errors always reach the log (a producer that stops delivering must say why).
      create: () =>
        kafka.producer({
          ...config,
          log_level: Math.max(options.logLevel, producerLogLevel),
          kafkaJS: { logger: makeKafkaLogger(runFork, () => clock.currentTimeMillisUnsafe()) },
        }),
      connect: (client) =>
        Effect.tryPromise({ try: () => client.connect(), catch: classify(url, "connect producer") }).pipe(
          bounded("connect producer", options.connectTimeoutMs),
        ),
      // librdkafka reports every message within message.timeout.ms (after its linger).
      stallMs: Number(config["message.timeout.ms"] ?? options.messageTimeoutMs) + options.lingerMs + 5_000,
      checkEveryMs: 1_000,
    })

    /** Topics known to exist (positive answers are cached; a missing topic is looked up each time). */
    const existing = new Set<string>()
    /** Topics created through this instance: wildcard topic tokens expand to these too. */
    const ensured = new Set<string>()

    /**
     * Metadata look-ups of topics not known yet: one per topic at a time, shared by every caller
     * waiting for it. Callers waiting on one look-up resume in the order they asked (one
     * promise), so publishes of a topic not known yet are still produced in call order.
     */
    const lookups = new Map<string, Promise<void>>()
    const lookupMs = options.requestTimeoutMs + 500
    const lookUp = (topic: string): Promise<void> => {
      const pending = lookups.get(topic)
      if (pending !== undefined) return pending
      let timer: ReturnType<typeof setTimeout> | undefined
      const lookup = Promise.race([
        admin.fetchTopicMetadata({ topics: [topic], timeout: options.requestTimeoutMs }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LookupTimeout()), lookupMs)
        }),
      ])
        .then(() => {
          existing.add(topic)
        })
        .finally(() => {
          clearTimeout(timer)
          lookups.delete(topic)
        })
      lookups.set(topic, lookup)
      return lookup
    }
    const lookupError = (operation: string, topic: string, cause: unknown): BrokerError | BrokerUnavailable =>
      cause instanceof LookupTimeout
        ? unavailable(`${operation}: no answer within ${lookupMs} ms`)
        : isUnknownTopic(cause)
          ? new BrokerError({ operation, reason: `topic ${topic} does not exist (create it with ensureTopics)` })
          : classify(url, operation)(cause)

    const requireTopic = (operation: string, topic: string): Effect.Effect<void, BrokerError | BrokerUnavailable> =>
      existing.has(topic)
        ? Effect.void
        : Effect.tryPromise({ try: () => lookUp(topic), catch: (cause) => lookupError(operation, topic, cause) })

    /** Known topics (configured + ensured) that exist now. */
    const wildcardTopics: Effect.Effect<ReadonlyArray<string>, BrokerUnavailable> = Effect.gen(function* () {
      const candidates = [...new Set([...options.knownTopics, ...ensured])]
      if (candidates.length === 0) return []
      const present = new Set(yield* listTopics(options.requestTimeoutMs))
      return candidates.filter((topic) => present.has(topic))
    })

    const publish = (subject: string, payload: Uint8Array | string, publishOptions?: PublishOptions) =>
      Effect.gen(function* () {
        const parsed = yield* subjectOrFail("publish", subject)
        const headers = yield* headersOrFail("publish", publishOptions?.headers)
        const send = () =>
          producer.send({
            topic: parsed.topic,
            messages: [{ key: parsed.key, value: asBuffer(toBytes(payload)), headers: toKafkaHeaders(headers) }],
          })
        // Produced synchronously when the topic is known, so publishes started one after the other
        // are produced in that order (the outbox relay starts a batch's publishes without waiting).
        yield* Effect.tryPromise({
          try: () =>
            existing.has(parsed.topic)
              ? send()
              : lookUp(parsed.topic).then(send, (cause: unknown) => {
                  throw new LookupFailed(cause)
                }),
          catch: (cause) =>
            cause instanceof LookupFailed
              ? lookupError("publish", parsed.topic, cause.cause)
              : classify(url, "publish")(cause),
        }).pipe(bounded("publish", options.messageTimeoutMs + 5_000))
      }).pipe(
        // Internal: the PRODUCER span `send <topic>` is the traced facade's (`telemetry/messaging.ts`).
        Effect.withSpan(
          "Broker.publish",
          { attributes: { "messaging.system": "kafka", "messaging.destination.name": subject } },
          noStackTrace,
        ),
      )

    const ensureTopics: BrokerShape["ensureTopics"] = (specs) =>
      Effect.gen(function* () {
        const valid = yield* topicSpecsOrFail(specs)
        if (valid.length === 0) return
        const present = new Set(yield* listTopics(options.requestTimeoutMs))
        const missing = valid.filter((spec) => !present.has(spec.name))
        if (missing.length > 0) {
          yield* Effect.tryPromise({
            try: () =>
              admin.createTopics({
                timeout: Math.max(options.requestTimeoutMs, 10_000),
                topics: missing.map((spec) => ({
                  topic: spec.name,
                  numPartitions: spec.partitions,
                  replicationFactor: spec.replicationFactor,
                  ...(spec.minInsyncReplicas === undefined
                    ? {}
                    : { configEntries: [{ name: "min.insync.replicas", value: String(spec.minInsyncReplicas) }] }),
                })),
              }),
            catch: classify(url, "ensureTopics"),
          }).pipe(
            // A concurrent creator may have won the race: "already exists" is success.
            Effect.catchIf(
              (error) => error._tag === "BrokerError" && /already exists/i.test(error.reason),
              () => Effect.void,
            ),
          )
        }
        for (const spec of valid) {
          existing.add(spec.name)
          ensured.add(spec.name)
        }
      }).pipe(Effect.withSpan("Broker.ensureTopics", { attributes: { "messaging.system": "kafka" } }))

    const subscribe = makeKafkaSubscribe({ kafka, admin, options, requireTopic, wildcardTopics })

    return {
      kind: "kafka",
      publish,
      subscribe,
      ensureTopics,
      healthCheck,
      readKey: makeKafkaKeyReader(admin, options),
    } satisfies BrokerShape
  })

export const BrokerKafka = {
  /** Kafka broker with explicit options. */
  layer: brokerLayer(makeKafkaBroker),
} as const
