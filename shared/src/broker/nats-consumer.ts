/**
 * JetStream subscriptions.
 *
 * - A subscription uses one durable pull consumer per stream it reads (one stream for a literal
 *   topic token; every known existing stream for `*`/`>`), named from the group (see `group.ts`),
 *   with `filter_subject` = the pattern restricted to that stream, explicit acks and `ack_wait`.
 *   Members of a group pull from the same durable consumer, so they share its messages.
 * - Messages are handled one at a time per subscription. Success → `ack`; failure → `nak` with a
 *   delay (doubling per delivery); while a handler runs, `working()` is sent every `ack_wait / 2`
 *   so a slow handler is not mistaken for a dead one. When the scope closes, the message being
 *   handled is `nak`ed for immediate redelivery; messages pulled but not yet handled come back
 *   after `ack_wait`, as do those of a member that died without closing.
 * - `ready` is immediate: the consumer exists (its start position is fixed) and the first pull
 *   was issued before `subscribe` returns.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Cause, Duration, Effect, Exit, Fiber, type Scope, Semaphore } from "effect"
import type { BrokerMessage, BrokerShape, SubscribeOptions, Subscription } from "./Broker.ts"
import type { BrokerError, BrokerUnavailable } from "./errors.ts"
import { natsConsumerName } from "./group.ts"
import { classifyNats, fromNatsHeaders, type ResolvedNatsOptions, text } from "./nats-client.ts"
import { redeliveryDelay } from "./options.ts"
import { matchesPattern, patternForTopic, type SubjectPattern } from "./subject.ts"
import { groupOrFail, patternOrFail, subscribedTopicsOrFail } from "./validate.ts"

export interface NatsSubscribeContext {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly options: ResolvedNatsOptions
  readonly requireTopic: (operation: string, topic: string) => Effect.Effect<void, BrokerError | BrokerUnavailable>
  readonly wildcardTopics: Effect.Effect<ReadonlyArray<string>, BrokerError | BrokerUnavailable>
}

/** Creates the durable consumer, or reuses it when another member (or an earlier run) did. */
const ensureConsumer = async (jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig>) => {
  const name = config.durable_name!
  try {
    return await jsm.consumers.add(stream, config)
  } catch (cause) {
    // Exists with a configuration that cannot change (e.g. deliver policy): keep using it, but
    // refuse if it filters other subjects (that would be a different group in our terms).
    const info = await jsm.consumers.info(stream, name).catch(() => undefined)
    if (info === undefined) throw cause
    if (info.config.filter_subject !== undefined && info.config.filter_subject !== config.filter_subject) {
      throw new Error(
        `consumer ${name} on ${stream} exists with filter ${info.config.filter_subject}, not ${config.filter_subject}`,
      )
    }
    return info
  }
}

export const makeNatsSubscribe =
  (ctx: NatsSubscribeContext): BrokerShape["subscribe"] =>
  <E, R>(opts: SubscribeOptions<E, R>): Effect.Effect<Subscription, BrokerError | BrokerUnavailable, R | Scope.Scope> =>
    Effect.gen(function* () {
      const { options, js, jsm } = ctx
      const pattern = yield* patternOrFail("subscribe", opts.subject)
      yield* groupOrFail(opts.group)
      const streams = yield* subscribedTopicsOrFail(pattern, ctx)
      const name = natsConsumerName(opts.group, pattern)
      // One handler at a time per subscription, whichever stream the message comes from.
      const serial = yield* Semaphore.make(1)
      const handle = messageHandler(pattern, opts, options)

      for (const stream of streams) {
        const config: Partial<ConsumerConfig> = {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          ack_wait: nanos(options.ackWaitMs),
          deliver_policy: opts.fromBeginning === true ? DeliverPolicy.All : DeliverPolicy.New,
          filter_subject: patternForTopic(pattern, stream),
          max_ack_pending: options.maxAckPending,
          max_deliver: -1,
        }
        const create = Effect.tryPromise({
          try: () => ensureConsumer(jsm, stream, config),
          catch: classifyNats(options.url, "subscribe"),
        })
        // Created here, so that errors surface from `subscribe` and the start position is fixed.
        yield* create
        const consumeOnce: Effect.Effect<void, BrokerError | BrokerUnavailable, R> = Effect.scoped(
          Effect.gen(function* () {
            const consumer = yield* Effect.tryPromise({
              try: () => js.consumers.get(stream, name),
              catch: classifyNats(options.url, "subscribe"),
            })
            const messages = yield* Effect.acquireRelease(
              Effect.tryPromise({
                try: () => consumer.consume({ max_messages: options.pullBatch }),
                catch: classifyNats(options.url, "subscribe"),
              }),
              // Not awaited: `close()` resolves only when the outstanding pull request expires.
              (iterator) => Effect.sync(() => void iterator.close().catch(() => undefined)),
            )
            const iterator = messages[Symbol.asyncIterator]()
            const pull = Effect.gen(function* () {
              while (true) {
                const next = yield* Effect.tryPromise({
                  try: () => iterator.next(),
                  catch: classifyNats(options.url, "consume"),
                })
                if (next.done === true) return
                yield* serial.withPermit(handle(next.value))
              }
            })
            // The client keeps pulling from a deleted consumer forever; stop and re-create instead.
            const gone = Effect.promise(async () => {
              for await (const status of messages.status()) {
                if (status.type === "consumer_deleted" || status.type === "consumer_not_found") return
              }
              await new Promise<never>(() => {})
            })
            yield* Effect.raceFirst(pull, gone)
          }),
        )
        // Pulls until the scope closes; if the iterator ends or fails (consumer deleted, ...), the
        // consumer is re-created after a pause.
        const supervised: Effect.Effect<never, never, R> = Effect.gen(function* () {
          let attempt: Effect.Effect<void, BrokerError | BrokerUnavailable, R> = consumeOnce
          while (true) {
            const exit = yield* Effect.exit(attempt)
            yield* Effect.logWarning("JetStream consumer stopped; re-creating it").pipe(
              Effect.annotateLogs({
                stream,
                consumer: name,
                reason: Exit.isFailure(exit)
                  ? text(Cause.squash(exit.cause))
                  : "the consumer was deleted or its message iterator ended",
              }),
            )
            yield* Effect.sleep("1 second")
            attempt = Effect.andThen(create, consumeOnce)
          }
        })
        yield* Effect.forkScoped(supervised)
      }
      // The durable consumer's backlog per stream (= topic): not yet delivered plus not yet acked.
      const lag = Effect.forEach(streams, (stream) =>
        Effect.tryPromise({
          try: () => jsm.consumers.info(stream, name),
          catch: classifyNats(options.url, "lag"),
        }).pipe(Effect.map((info) => ({ topic: stream, messages: info.num_pending + info.num_ack_pending }))),
      )
      return { ready: Effect.void, lag }
    }).pipe(
      Effect.withSpan("Broker.subscribe", {
        attributes: { "messaging.system": "nats", subject: opts.subject, group: opts.group },
      }),
    )

/** The per-message effect: run the handler with in-progress heartbeats, then ack or nak. */
const messageHandler =
  <E, R>(pattern: SubjectPattern, opts: SubscribeOptions<E, R>, options: ResolvedNatsOptions) =>
  (m: JsMsg): Effect.Effect<void, never, R> => {
    const subject = m.subject
    const dot = subject.indexOf(".")
    const topic = dot === -1 ? subject : subject.slice(0, dot)
    if (!matchesPattern(pattern, subject)) return Effect.sync(() => m.ack())
    const message: BrokerMessage = {
      subject,
      topic,
      key: dot === -1 ? "" : subject.slice(dot + 1),
      headers: fromNatsHeaders(m.headers),
      payload: m.data,
      position: `${m.info.stream}:${m.seq}`,
      redelivered: m.redelivered,
    }
    const heartbeat = Effect.sync(() => m.working()).pipe(
      Effect.delay(Duration.millis(Math.max(500, options.ackWaitMs / 2))),
      Effect.forever,
    )
    return Effect.gen(function* () {
      const beating = yield* Effect.forkChild(heartbeat)
      const exit = yield* Effect.exit(opts.handler(message)).pipe(Effect.ensuring(Fiber.interrupt(beating)))
      if (Exit.isSuccess(exit)) {
        m.ack()
        return
      }
      const attempts = m.info.deliveryCount
      m.nak(Duration.toMillis(redeliveryDelay(options.retryBackoff, attempts)))
      yield* Effect.logWarning("broker handler failed; the message will be redelivered").pipe(
        Effect.annotateLogs({
          subject,
          position: message.position,
          group: opts.group,
          attempt: attempts,
          error: text(Cause.squash(exit.cause)),
        }),
      )
    }).pipe(
      // Closing scope: hand the message back at once instead of waiting for ack_wait.
      Effect.onInterrupt(() => Effect.sync(() => m.nak())),
      // Internal: the CONSUMER span `process <topic>` is the traced facade's (`telemetry/messaging.ts`).
      Effect.withSpan("Broker.handle", {
        attributes: { "messaging.system": "nats", subject, group: opts.group, position: message.position },
      }),
    )
  }
