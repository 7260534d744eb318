/**
 * Kafka subscriptions: one librdkafka consumer per `subscribe` call.
 *
 * - `group.id` is the group (plus the pattern unless it is `<TOPIC>.>`, see `group.ts`);
 *   auto-commit is off: the offset after a message is committed only once its handler
 *   succeeded. Messages whose subject does not match the key pattern are committed and skipped.
 * - A handler failure waits a backoff (doubling per consecutive failure of that message) and
 *   then seeks the partition back to the message, so it is fetched again and nothing after it
 *   on that partition is handled first: per-key order survives retries.
 * - When the subscription's scope closes, the running handler is interrupted (its message is
 *   not committed) and the consumer leaves the group; the partition's next owner starts at the
 *   last committed offset and gets the message again.
 * - `ready` completes when the first partition assignment arrives (rebalance callback). A new
 *   group without `fromBeginning` is positioned at the partitions' current end *in* that
 *   callback, so everything published after `ready` is delivered.
 * - Handlers of one subscription run one at a time (`partitionsConsumedConcurrently: 1`).
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Cause, Deferred, Duration, Effect, Exit, FiberSet, type Scope } from "effect"
import type { BrokerMessage, BrokerShape, SubscribeOptions, Subscription, TopicLag } from "./Broker.ts"
import { BrokerError, BrokerUnavailable } from "./errors.ts"
import { effectiveGroupId } from "./group.ts"
import { classify, consumerConfig, errorText, fromKafkaHeaders, type ResolvedKafkaOptions } from "./kafka-client.ts"
import { redeliveryDelay } from "./options.ts"
import { matchesPattern, type SubjectPattern } from "./subject.ts"
import { groupOrFail, patternOrFail, subscribedTopicsOrFail } from "./validate.ts"

export interface KafkaSubscribeContext {
  readonly kafka: KafkaJS.Kafka
  readonly admin: KafkaJS.Admin
  readonly options: ResolvedKafkaOptions
  readonly requireTopic: (operation: string, topic: string) => Effect.Effect<void, BrokerError | BrokerUnavailable>
  readonly wildcardTopics: Effect.Effect<ReadonlyArray<string>, BrokerUnavailable>
}

const ASSIGN = -175 // RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS

type Assignment = Array<{ topic: string; partition: number; offset?: number }>

/**
 * For partitions without a committed offset and `fromBeginning: false`: the partitions' high
 * watermarks, so the consumer starts exactly where the log ends at assignment time (librdkafka
 * would only resolve "latest" later, when it starts fetching, losing what was published between).
 * `initial` lists those partitions; committing them pins the group's start, so a later rebalance
 * does not jump to a newer end before anything was committed.
 */
const positionAtEnd = async (
  admin: KafkaJS.Admin,
  groupId: string,
  assignment: Assignment,
  timeout: number,
): Promise<{ readonly assignment: Assignment; readonly initial: Assignment }> => {
  const topics = [...new Set(assignment.map((tp) => tp.topic))]
  const committed = await admin.fetchOffsets({ groupId, topics, timeout })
  const committedOf = (topic: string, partition: number) => {
    const offset = committed.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition)?.offset
    return offset === undefined ? -1 : Number(offset)
  }
  const ends = new Map<string, number>()
  for (const topic of topics) {
    if (assignment.every((tp) => tp.topic !== topic || committedOf(topic, tp.partition) >= 0)) continue
    for (const p of await admin.fetchTopicOffsets(topic, {
      timeout,
      isolationLevel: KafkaJS.IsolationLevel.READ_UNCOMMITTED,
    })) {
      ends.set(`${topic}/${p.partition}`, Number(p.high))
    }
  }
  const initial: Assignment = []
  const positioned = assignment.map((tp) => {
    const committedOffset = committedOf(tp.topic, tp.partition)
    if (committedOffset >= 0) return { ...tp, offset: committedOffset }
    const end = ends.get(`${tp.topic}/${tp.partition}`)
    if (end === undefined) return tp
    initial.push({ ...tp, offset: end })
    return { ...tp, offset: end }
  })
  return { assignment: positioned, initial }
}

export const makeKafkaSubscribe =
  (ctx: KafkaSubscribeContext): BrokerShape["subscribe"] =>
  <E, R>(opts: SubscribeOptions<E, R>): Effect.Effect<Subscription, BrokerError | BrokerUnavailable, R | Scope.Scope> =>
    Effect.gen(function* () {
      const { options, admin } = ctx
      const { url } = options
      const pattern = yield* patternOrFail("subscribe", opts.subject)
      yield* groupOrFail(opts.group)
      const topics = yield* subscribedTopicsOrFail(pattern, ctx)
      const groupId = effectiveGroupId(opts.group, pattern)
      const fromBeginning = opts.fromBeginning === true
      const ready = yield* Deferred.make<void>()

      let pinStart = (_: Assignment) => {}
      /** Partitions on which this consumer committed (or is committing) a handled message. */
      const committing = new Set<string>()
      const rebalance = async (err: { code: number }, assignment: Assignment): Promise<Assignment | undefined> => {
        if (err.code !== ASSIGN) return undefined
        let positioned: Assignment | undefined
        if (!fromBeginning && assignment.length > 0) {
          // On failure librdkafka's own "latest" applies; only the exactness of `ready` suffers.
          const result = await positionAtEnd(admin, groupId, assignment, options.requestTimeoutMs).catch(
            () => undefined,
          )
          positioned = result?.assignment
          if (result !== undefined && result.initial.length > 0) pinStart(result.initial)
        }
        Deferred.doneUnsafe(ready, Exit.void)
        return positioned
      }

      // Released last (finalizers run in reverse): after the handler fibers were interrupted.
      const consumer = yield* Effect.acquireRelease(
        Effect.sync(() =>
          ctx.kafka.consumer({ ...consumerConfig(options, groupId, fromBeginning), rebalance_cb: rebalance }),
        ),
        (client) =>
          Effect.promise(() => client.disconnect().catch(() => undefined)).pipe(
            Effect.timeout("15 seconds"),
            Effect.ignore,
          ),
      )
      // Runs after the assignment took effect (the callback returns first); best effort.
      pinStart = (initial) =>
        setTimeout(() => {
          // Never move a position back that a handled message already committed.
          const pins = initial.filter((tp) => !committing.has(`${tp.topic}/${tp.partition}`))
          if (pins.length === 0) return
          consumer
            .commitOffsets(pins.map((tp) => ({ topic: tp.topic, partition: tp.partition, offset: String(tp.offset) })))
            .catch(() => undefined)
        }, 0)
      yield* Effect.tryPromise({ try: () => consumer.connect(), catch: classify(url, "subscribe") }).pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(options.connectTimeoutMs),
          orElse: () =>
            Effect.fail(
              new BrokerUnavailable({
                url,
                reason: `subscribe: consumer did not connect within ${options.connectTimeoutMs} ms`,
              }),
            ),
        }),
      )
      yield* Effect.tryPromise({
        try: () => consumer.subscribe({ topics: [...topics] }),
        catch: classify(url, "subscribe"),
      })

      const runPromise = yield* FiberSet.makeRuntimePromise<R>()
      const handle = messageHandler(consumer, pattern, opts, options, committing)
      yield* Effect.tryPromise({
        try: () =>
          consumer.run({
            partitionsConsumedConcurrently: 1,
            eachMessage: async (payload) => {
              await runPromise(handle(payload))
            },
          }),
        catch: classify(url, "subscribe"),
      })

      return { ready: Deferred.await(ready), lag: groupLag(admin, groupId, topics, fromBeginning, options) }
    }).pipe(
      Effect.withSpan("Broker.subscribe", {
        attributes: { "messaging.system": "kafka", subject: opts.subject, group: opts.group },
      }),
    )

/**
 * Per topic: Σ over partitions of (high watermark − the group's committed offset); a partition
 * without a commit counts from where the group would start (low watermark with `fromBeginning`,
 * else nothing).
 */
const groupLag = (
  admin: KafkaJS.Admin,
  groupId: string,
  topics: ReadonlyArray<string>,
  fromBeginning: boolean,
  options: ResolvedKafkaOptions,
): Effect.Effect<ReadonlyArray<TopicLag>, BrokerError | BrokerUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      const timeout = options.requestTimeoutMs
      const committed = await admin.fetchOffsets({ groupId, topics: [...topics], timeout })
      return Promise.all(
        topics.map(async (topic) => {
          const partitions = committed.find((entry) => entry.topic === topic)?.partitions ?? []
          let messages = 0
          for (const end of await admin.fetchTopicOffsets(topic, {
            timeout,
            isolationLevel: KafkaJS.IsolationLevel.READ_UNCOMMITTED,
          })) {
            const high = Number(end.high)
            const offset = Number(partitions.find((p) => p.partition === end.partition)?.offset ?? -1)
            const start = offset >= 0 ? offset : fromBeginning ? Number(end.low) : high
            messages += Math.max(0, high - start)
          }
          return { topic, messages }
        }),
      )
    },
    catch: classify(options.url, "lag"),
  })

/** The per-message effect: filter, run the handler, commit or back off and fail (→ seek back). */
const messageHandler = <E, R>(
  consumer: KafkaJS.Consumer,
  pattern: SubjectPattern,
  opts: SubscribeOptions<E, R>,
  options: ResolvedKafkaOptions,
  committing: Set<string>,
) => {
  /** `topic/partition/offset` → failed attempts (this process only). */
  const failures = new Map<string, number>()
  return ({ topic, partition, message }: KafkaJS.EachMessagePayload): Effect.Effect<void, BrokerError, R> => {
    const key = message.key === null ? "" : message.key.toString("utf8")
    const subject = key === "" ? topic : `${topic}.${key}`
    const id = `${topic}/${partition}/${message.offset}`
    const commit = Effect.tryPromise({
      try: () => {
        committing.add(`${topic}/${partition}`)
        return consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
      },
      catch: (cause) => new BrokerError({ operation: "commit", reason: errorText(cause) }),
    })
    if (!matchesPattern(pattern, subject)) return commit

    const attempts = failures.get(id) ?? 0
    const brokerMessage: BrokerMessage = {
      subject,
      topic,
      key,
      headers: fromKafkaHeaders(message.headers),
      payload: message.value ?? new Uint8Array(0),
      position: `${partition}:${message.offset}`,
      redelivered: attempts > 0,
    }
    return Effect.exit(opts.handler(brokerMessage)).pipe(
      Effect.flatMap((exit) => {
        if (Exit.isSuccess(exit)) {
          return commit.pipe(
            Effect.tap(() => Effect.sync(() => failures.delete(id))),
            Effect.tapError(() => Effect.sync(() => failures.set(id, attempts + 1))),
          )
        }
        failures.set(id, attempts + 1)
        return Effect.logWarning("broker handler failed; the message will be redelivered").pipe(
          Effect.annotateLogs({
            subject,
            position: brokerMessage.position,
            group: opts.group,
            attempt: attempts + 1,
            error: errorText(Cause.squash(exit.cause)),
          }),
          Effect.andThen(Effect.sleep(redeliveryDelay(options.retryBackoff, attempts + 1))),
          Effect.andThen(Effect.fail(new BrokerError({ operation: "handle", reason: "handler failed" }))),
        )
      }),
      // Internal: the CONSUMER span `process <topic>` is the traced facade's (`telemetry/messaging.ts`).
      Effect.withSpan("Broker.handle", {
        attributes: { "messaging.system": "kafka", subject, group: opts.group, position: brokerMessage.position },
      }),
    )
  }
}
