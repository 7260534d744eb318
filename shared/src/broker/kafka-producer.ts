/**
 * The Kafka adapter's producer, replaced when it stops working.
 *
 * librdkafka reports every message it was handed: delivered, or failed (`_MSG_TIMED_OUT` at the
 * latest after `message.timeout.ms`). A producer holding sends with no report for longer than that
 * is wedged — seen once in the chaos suite: an idempotent producer a few seconds old when Kafka
 * restarted never delivered, nor timed out, a message again, while a fresh one in the other
 * process published normally. A fatal error (the idempotent producer's `ERR__FATAL`) leaves a
 * producer unusable too. Either way a new producer takes its place; the old one is flushed briefly
 * and disconnected. The old one's publishes fail by their own bound and their callers retry (the
 * outbox relay): at least once, consumers drop duplicates by event id.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Clock, Effect, Schedule, type Scope } from "effect"
import type { BrokerError, BrokerUnavailable } from "./errors.ts"
import { errorCode } from "./kafka-client.ts"

/** What the watch needs of a KafkaJS producer (the real one, or a test's). */
export interface ProducerClient {
  readonly connect: () => Promise<void>
  readonly send: (record: KafkaJS.ProducerRecord) => Promise<Array<KafkaJS.RecordMetadata>>
  readonly flush: (args?: { timeout?: number }) => Promise<void>
  readonly disconnect: () => Promise<void>
}

export interface WatchedProducerOptions<Client extends ProducerClient> {
  readonly create: () => Client
  /** Connects a new client within the adapter's bound, with the adapter's errors. */
  readonly connect: (client: Client) => Effect.Effect<void, BrokerUnavailable | BrokerError>
  /** Sends waiting with no report for longer than this: the producer is wedged. */
  readonly stallMs: number
  /** How often the watch looks. */
  readonly checkEveryMs: number
}

export interface WatchedProducer {
  /** Hands the record to the current producer; settles with its delivery report. */
  readonly send: (record: KafkaJS.ProducerRecord) => Promise<Array<KafkaJS.RecordMetadata>>
  /** Producers replaced so far. */
  readonly replacements: () => number
}

interface Slot<Client> {
  readonly client: Client
  /** Sends handed over whose report has not come. */
  waiting: number
  /** The last report, or when the producer last went from idle to waiting. */
  heardAt: number
  fatal: boolean
}

const isFatal = (error: unknown): boolean =>
  errorCode(error) === KafkaJS.ErrorCodes.ERR__FATAL ||
  (typeof error === "object" && error !== null && "fatal" in error && error.fatal === true)

/** Flushes (bounded) and disconnects; never fails. */
const close = (client: ProducerClient, flushMs: number) =>
  Effect.promise(async () => {
    await client.flush({ timeout: flushMs }).catch(() => undefined)
    await client.disconnect().catch(() => undefined)
  }).pipe(Effect.timeout(flushMs + 1_000), Effect.ignore)

/**
 * Connects a producer (failing like `connect` when the first cannot connect) and watches it until
 * the scope closes, when the current producer is flushed (5 s at most) and disconnected.
 */
export const makeWatchedProducer = <Client extends ProducerClient>(
  options: WatchedProducerOptions<Client>,
): Effect.Effect<WatchedProducer, BrokerUnavailable | BrokerError, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const now = () => clock.currentTimeMillisUnsafe()
    const open = (client: Client): Slot<Client> => ({ client, waiting: 0, heardAt: now(), fatal: false })

    const first = options.create()
    yield* options.connect(first).pipe(Effect.onError(() => close(first, 0)))
    let slot = open(first)
    let replaced = 0

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const started = now()
        yield* close(slot.client, 5_000)
        // A step of the graceful drain (see runtime/Drain.ts): logged with its duration.
        yield* Effect.logInfo("kafka producer flushed and disconnected").pipe(
          Effect.annotateLogs({ durationMs: now() - started }),
        )
      }),
    )

    const heard = (of: Slot<Client>) => {
      of.waiting -= 1
      of.heardAt = now()
    }
    const send = (record: KafkaJS.ProducerRecord) => {
      const current = slot
      if (current.waiting === 0) current.heardAt = now()
      current.waiting += 1
      return current.client.send(record).then(
        (metadata) => {
          heard(current)
          return metadata
        },
        (error: unknown) => {
          heard(current)
          if (isFatal(error)) current.fatal = true
          throw error
        },
      )
    }

    const replaceIfBroken = Effect.gen(function* () {
      const current = slot
      const silentMs = now() - current.heardAt
      if (!current.fatal && !(current.waiting > 0 && silentMs > options.stallMs)) return
      const reason = current.fatal
        ? "a fatal error"
        : `no delivery report for ${silentMs} ms with ${current.waiting} sends waiting`
      const next = options.create()
      const connected = yield* options.connect(next).pipe(
        Effect.as(true),
        Effect.catch((error) =>
          Effect.logWarning("kafka producer is broken and its replacement could not connect; trying again").pipe(
            Effect.annotateLogs({ reason, error: error.reason }),
            Effect.andThen(close(next, 0)),
            Effect.as(false),
          ),
        ),
      )
      if (!connected) return
      slot = open(next)
      replaced += 1
      yield* Effect.logError("kafka producer replaced").pipe(Effect.annotateLogs({ reason, replacements: replaced }))
      yield* close(current.client, 1_000)
    })
    yield* replaceIfBroken.pipe(
      // A client that throws on creation must not end the watch.
      Effect.catchDefect((defect) =>
        Effect.logWarning("kafka producer replacement failed").pipe(Effect.annotateLogs({ error: String(defect) })),
      ),
      Effect.repeat(Schedule.spaced(options.checkEveryMs)),
      Effect.forkScoped,
    )

    return { send, replacements: () => replaced } satisfies WatchedProducer
  })
