/**
 * NATS JetStream adapter (`@nats-io/transport-node` + `@nats-io/jetstream`).
 *
 * - one stream per topic, named after it, capturing `<TOPIC>.>`, file storage; `ensureTopics`
 *   creates missing streams and adds the subject to an existing stream that lacks it;
 * - `publish` is a JetStream publish awaiting the PubAck; headers are NATS headers; the key is
 *   the subject after the topic token;
 * - subscriptions are in `nats-consumer.ts`.
 *
 * Building the layer connects (bounded by `connectTimeoutMs`) and checks that JetStream answers;
 * an unreachable server fails with `BrokerUnavailable`. The connection is drained and closed
 * when the layer's scope closes.
 */
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect, headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import { type BrokerShape, brokerLayer, type MakeBroker, type PublishOptions, type TopicSpec } from "./Broker.ts"
import { BrokerError, type BrokerUnavailable, brokerFailures } from "./errors.ts"
import {
  classifyNats,
  isStreamNotFound,
  isUnavailable,
  type NatsBrokerOptions,
  resolveNatsOptions,
  text,
} from "./nats-client.ts"
import { makeNatsSubscribe } from "./nats-consumer.ts"
import { headersOrFail, subjectOrFail, toBytes, topicSpecsOrFail } from "./validate.ts"

export type { NatsBrokerOptions } from "./nats-client.ts"

/** Builds the JetStream broker service; the connection lives as long as the surrounding scope. */
export const makeNatsBroker: MakeBroker<NatsBrokerOptions> = (input) =>
  Effect.gen(function* () {
    const options = resolveNatsOptions(input)
    const { url } = options
    const { unavailable, bounded } = brokerFailures(url)

    const nc = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          connect({
            servers: [...options.servers],
            name: options.name,
            timeout: options.connectTimeoutMs,
            maxReconnectAttempts: -1,
            reconnectTimeWait: 1_000,
          }),
        catch: (cause) => unavailable(`connect: ${text(cause)}`),
      }).pipe(bounded("connect", options.connectTimeoutMs + 1_000)),
      (connection) =>
        Effect.promise(async () => {
          await connection.drain().catch(() => undefined)
          if (!connection.isClosed()) await connection.close().catch(() => undefined)
        }).pipe(Effect.timeout("10 seconds"), Effect.ignore),
    )
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc, { timeout: options.requestTimeoutMs }),
      catch: (cause) =>
        isUnavailable(cause)
          ? unavailable(`JetStream: ${text(cause)}`)
          : new BrokerError({ operation: "connect", reason: `JetStream is not available: ${text(cause)}` }),
    }).pipe(bounded("JetStream", options.requestTimeoutMs + 1_000))
    const js = jetstream(nc, { timeout: options.requestTimeoutMs })

    const healthCheck: Effect.Effect<void, BrokerUnavailable> = Effect.suspend(() =>
      nc.isClosed()
        ? Effect.fail(unavailable("the connection is closed"))
        : Effect.tryPromise({ try: () => jsm.getAccountInfo(), catch: (cause) => unavailable(text(cause)) }),
    ).pipe(
      bounded("health check", options.requestTimeoutMs),
      Effect.asVoid,
      Effect.withSpan("Broker.healthCheck", { attributes: { "messaging.system": "nats" } }),
    )

    /** Topics created through this instance: wildcard topic tokens expand to these too. */
    const ensured = new Set<string>()

    const streamExists = (operation: string, stream: string): Effect.Effect<boolean, BrokerError | BrokerUnavailable> =>
      Effect.tryPromise({
        try: () => jsm.streams.info(stream).then(() => true),
        catch: (cause) => cause,
      }).pipe(
        Effect.catch((cause) =>
          isStreamNotFound(cause) ? Effect.succeed(false) : Effect.fail(classifyNats(url, operation)(cause)),
        ),
        bounded(operation, options.requestTimeoutMs + 1_000),
      )

    const requireTopic = (operation: string, topic: string) =>
      Effect.flatMap(streamExists(operation, topic), (exists) =>
        exists
          ? Effect.void
          : Effect.fail(
              new BrokerError({ operation, reason: `topic ${topic} does not exist (create it with ensureTopics)` }),
            ),
      )

    const wildcardTopics = Effect.gen(function* () {
      const candidates = [...new Set([...options.knownTopics, ...ensured])]
      const present = yield* Effect.forEach(candidates, (topic) => streamExists("subscribe", topic), {
        concurrency: 8,
      })
      return candidates.filter((_, i) => present[i])
    })

    const publish = (subject: string, payload: Uint8Array | string, publishOptions?: PublishOptions) =>
      Effect.gen(function* () {
        const parsed = yield* subjectOrFail("publish", subject)
        const headers = yield* headersOrFail("publish", publishOptions?.headers)
        const entries = Object.entries(headers)
        const h = entries.length > 0 ? natsHeaders() : undefined
        for (const [name, value] of entries) h?.set(name, value)
        yield* Effect.tryPromise({
          try: () =>
            js.publish(parsed.subject, toBytes(payload), {
              timeout: options.publishTimeoutMs,
              ...(h === undefined ? {} : { headers: h }),
            }),
          catch: (cause) => cause,
        }).pipe(
          Effect.catch((cause) =>
            isUnavailable(cause)
              ? Effect.fail(unavailable(`publish: ${text(cause)}`))
              : // "No responders" (reported as JetStreamNotEnabled) means no stream captures the subject.
                Effect.flatMap(requireTopic("publish", parsed.topic), () =>
                  Effect.fail(new BrokerError({ operation: "publish", reason: text(cause) })),
                ),
          ),
          bounded("publish", options.publishTimeoutMs + 1_000),
        )
      }).pipe(
        // Internal: the PRODUCER span `send <topic>` is the traced facade's (`telemetry/messaging.ts`).
        Effect.withSpan("Broker.publish", {
          attributes: { "messaging.system": "nats", "messaging.destination.name": subject },
        }),
      )

    const ensureStream = (spec: TopicSpec) =>
      Effect.tryPromise({
        try: async () => {
          const subject = `${spec.name}.>`
          try {
            const info = await jsm.streams.info(spec.name)
            const subjects = info.config.subjects ?? []
            if (!subjects.includes(subject)) await jsm.streams.update(spec.name, { subjects: [...subjects, subject] })
          } catch (cause) {
            if (!isStreamNotFound(cause)) throw cause
            await jsm.streams.add({
              name: spec.name,
              subjects: [subject],
              storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
              num_replicas: spec.replicationFactor,
            })
          }
        },
        catch: classifyNats(url, "ensureTopics"),
      })

    const ensureTopics: BrokerShape["ensureTopics"] = (specs) =>
      Effect.gen(function* () {
        const valid = yield* topicSpecsOrFail(specs)
        yield* Effect.forEach(valid, ensureStream, { concurrency: 4, discard: true }).pipe(
          bounded("ensureTopics", options.requestTimeoutMs * 4),
        )
        for (const spec of valid) ensured.add(spec.name)
      }).pipe(Effect.withSpan("Broker.ensureTopics", { attributes: { "messaging.system": "nats" } }))

    const subscribe = makeNatsSubscribe({ js, jsm, options, requireTopic, wildcardTopics })

    return { kind: "nats", publish, subscribe, ensureTopics, healthCheck } satisfies BrokerShape
  })

export const BrokerNats = {
  /** JetStream broker with explicit options. */
  layer: brokerLayer(makeNatsBroker),
} as const
