/**
 * The outbox relay: publishes the entries that the event log's commits (`../eventlog`) and
 * `Outbox.add` wrote to the outbox Redis streams (one per key shard) to the broker, at least once.
 *
 * - A consumer group (`XGROUP CREATE outbox <group> 0 MKSTREAM`) shares the entries between the
 *   relays of all replicas; each relay is one consumer (`consumerName`, unique per process and
 *   stable across its restarts).
 * - New entries are read with `XREADGROUP … COUNT batchSize BLOCK blockMs` on a dedicated
 *   connection (`../redis/blockingConnection.ts`): an entry is picked up as soon as it is
 *   committed, and an idle relay sends about one read per `blockMs` instead of polling. A relay
 *   can read several shards' streams in that one read (`OUTBOX_RELAYS`, 2 per process on one
 *   Redis); on a Redis Cluster each shard's stream has its own relay. A read is sent once: a lost
 *   reply fails the round instead of being sent again (which would take the next entries).
 *   On start, after a failed round and every claim period a relay re-reads its own pending
 *   entries (a crash between publish and ack, a read whose reply was lost) on the shared connection.
 * - Batches: each entry is published as `${topic}.${key}` with its payload and headers. All the
 *   entries of a batch (up to `batchSize`, default 500) are handed to the broker at once, in
 *   stream order, without waiting for each other (`publishInOrder.ts`): many produces are in
 *   flight together and the Kafka producer sends them in a few batched requests. Only once the
 *   broker acknowledged them are they acknowledged in Redis: one `XACK` and one `XDEL` (one
 *   `MULTI`) for all the entries of the batch it acknowledged.
 * - Failures: an entry whose publish failed is retried, with the entries of its key behind it,
 *   while the rest of the batch is acknowledged; the retries go out the same way (all at once,
 *   in stream order) under the schedule `RetryPolicies.brokerPublish` (exponential, capped,
 *   jittered; `retry`), each flight bounded by `publishTimeoutMs`, forever: a publishable entry
 *   is never dropped. The next batch is read when the batch is done. An entry that can never be
 *   published (invalid subject or headers, unreadable headers) is moved to the stream
 *   `outbox:dead` with the reason and, with `deadLetterReport` (the service's: a message on its
 *   failure topic), reported through the outbox.
 * - Per-key order within one relay: the entries of one key are produced in stream order, and the
 *   broker keeps the order of one key's messages in flight (Kafka: idempotent producer, one
 *   partition per key, `acks=all`; JetStream: one connection; memory: synchronous). A later entry
 *   of a key is not published again before an earlier failed one succeeded: a failed entry holds
 *   back the rest of its key, which are retried after it, and when the failure is known before
 *   a later entry of the key is sent (refused at once), that entry is not even sent. The one gap:
 *   a broker acknowledging a later message of a partition after failing an earlier one in flight
 *   (librdkafka: a message timeout) — the earlier one then reaches the topic after it, by retry.
 * - Drain (SIGTERM): the step `outbox relay flush` waits (bounded) until the relay has published
 *   everything it found and a further read finds nothing new; it wakes a blocked read
 *   (`CLIENT UNBLOCK`) so the drain does not wait for the BLOCK to time out.
 * - Entries pending longer than `claimIdleMs` with another consumer (a dead relay) are taken
 *   over with `XAUTOCLAIM`. While entries are being retried, the relay keeps them fresh
 *   (`XCLAIM … JUSTID`), so a slow broker does not make live relays steal each other's work.
 * - `lag`: age of the oldest entry not yet published (0 when none), for metrics.
 *
 * Delivery is at least once: a relay dying between publish and ack, or a takeover, publishes an
 * entry again; consumers de-duplicate with the `event-id` header / `EventID`. Two relays do not
 * publish the same entry in the normal case. Across relays, per-key order is not guaranteed (two
 * relays may publish entries of one key concurrently); consumers can order by `Seq`.
 */
import { Cause, Clock, Config, Context, Data, Duration, Effect, Layer, Ref } from "effect"
import { Broker } from "../broker/Broker.ts"
import { headersProblem, subjectOrFail } from "../broker/validate.ts"
import { configFailure } from "../config/errors.ts"
import { blockingConnection } from "../redis/blockingConnection.ts"
import { type RedisError, type RedisUnavailable, reasonOfRedisFailure } from "../redis/errors.ts"
import { allKeyShards, keyShards } from "../redis/keys.ts"
import { Redis, type RedisClient } from "../redis/Redis.ts"
import { type BackoffPolicy, exponentialCapped, RetryPolicies } from "../resilience/schedules.ts"
import { onDrain, until } from "../runtime/Drain.ts"
import { type OutboxEntry, outboxStreamKey } from "./entry.ts"
import { OutboxError } from "./errors.ts"
import { publishInOrder } from "./publishInOrder.ts"

export type { OutboxEntry } from "./entry.ts"
export { OutboxError } from "./errors.ts"

/** An outbox stream entry as read: its stream id and raw fields (`null`: deleted while pending). */
export interface StreamEntry {
  readonly id: string
  readonly fields: ReadonlyArray<string> | null
}

export interface OutboxRelayOptions {
  /** This relay's consumer name: unique per live process, stable across its restarts (e.g. host + service). */
  readonly consumerName: string
  /** Consumer group shared by the relays of one service (default `outbox-relay`). */
  readonly group?: string
  /** Entries read, published together and acknowledged together per round (default 500). */
  readonly batchSize?: number
  /** Longest one read waits for a new entry (`XREADGROUP … BLOCK`; default 1 500 ms). */
  readonly blockMs?: number
  /** Entries of other consumers pending longer than this are taken over (default 30 000 ms). */
  readonly claimIdleMs?: number
  /** How often to look for such entries (default 5 000 ms). */
  readonly claimEveryMs?: number
  /**
   * Retry backoff (publish and Redis steps): first pause and cap, doubling, ±20 % jitter
   * (default `RetryPolicies.brokerPublish`: 100 ms → 10 000 ms).
   */
  readonly retry?: { readonly initialMs: number; readonly maxMs: number }
  /** Bound on one publish attempt: the broker's acknowledgements of one flight (default 15 000 ms). */
  readonly publishTimeoutMs?: number
  /**
   * The report of an entry moved to `outbox:dead` (the service's: a message on its failure topic
   * with the reason and the entry as it was), added to the outbox in the same Redis transaction;
   * `at` is when it was moved (ISO 8601, from the `Clock`). Unset: `outbox:dead` only.
   */
  readonly deadLetterReport?: (entry: StreamEntry, reason: string, at: string) => OutboxEntry
  /** Longest the drain (SIGTERM) waits for the outbox to empty (default 5 000 ms). */
  readonly drainFlushMs?: number
}

export interface OutboxRelayStats {
  readonly published: number
  /** Failed publish attempts (each was retried). */
  readonly failedAttempts: number
  readonly deadLettered: number
  readonly claimed: number
}

export interface OutboxRelayShape {
  /** Age in ms of the oldest unpublished entry; 0 when the outbox is empty. */
  readonly lag: Effect.Effect<number, OutboxError>
  /** Entries waiting in the outbox (published ones are deleted). */
  readonly backlog: Effect.Effect<number, OutboxError>
  readonly stats: Effect.Effect<OutboxRelayStats>
}

/** The dead-letter stream beside an outbox shard's stream (same hash tag: one MULTI moves an entry). */
export const deadLetterStreamKey = (stream: string): string => `${stream}:dead`

export const defaultOutboxGroup = "outbox-relay"

/** An entry as read by a relay, with the outbox stream it came from (a relay may read several). */
interface Entry extends StreamEntry {
  readonly stream: string
}

/** `entries`' ids by their stream, in read order. */
const idsByStream = (entries: ReadonlyArray<{ readonly stream: string; readonly id: string }>) => {
  const byStream = new Map<string, Array<string>>()
  for (const entry of entries) {
    const ids = byStream.get(entry.stream)
    if (ids === undefined) byStream.set(entry.stream, [entry.id])
    else ids.push(entry.id)
  }
  return byStream
}

/** The fields of an outbox stream entry, or why they are unusable. */
export const parseOutboxFields = (
  fields: ReadonlyArray<string>,
): { readonly _tag: "Entry"; readonly entry: OutboxEntry } | { readonly _tag: "Invalid"; readonly reason: string } => {
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!)
  const topic = map.get("topic")
  const key = map.get("key")
  const payload = map.get("payload")
  if (topic === undefined || key === undefined || payload === undefined) {
    return { _tag: "Invalid", reason: "missing topic, key or payload" }
  }
  let headers: Record<string, string> = {}
  try {
    const parsed: unknown = JSON.parse(map.get("headers") ?? "{}")
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      return { _tag: "Invalid", reason: "headers are not a JSON object" }
    }
    headers = parsed as Record<string, string>
  } catch {
    return { _tag: "Invalid", reason: "headers are not JSON" }
  }
  const problem = headersProblem(headers)
  if (problem !== undefined) return { _tag: "Invalid", reason: problem }
  return { _tag: "Entry", entry: { topic, key, headers, payload } }
}

/** Milliseconds part of a stream id (`1700000000000-3` → 1700000000000). */
export const streamIdMs = (id: string): number => Number(id.split("-")[0])

/** The relay's retry policy: `retry` when given, else `RetryPolicies.brokerPublish` (never gives up). */
export const relayRetryPolicy = (retry?: OutboxRelayOptions["retry"]): BackoffPolicy =>
  retry === undefined
    ? RetryPolicies.brokerPublish
    : { base: Duration.millis(retry.initialMs), max: Duration.millis(retry.maxMs) }

/** Client-side bound on a blocking read beyond its BLOCK: a dead connection fails instead of hanging. */
const readMarginMs = 1_000

/**
 * Relays per process on one Redis; the shards' streams are dealt out among them. Measured with
 * `make bench-write` (50 in flight, alternating runs against one relay per shard): two relays
 * gave 1.17–1.21× the submissions/s at 0.79–0.84× the service CPU per submission; one relay
 * doubled the p99 to the topic. A chaos run with two relays once missed two messages: a read whose
 * reply was lost (a timeout, or ioredis sending it again after a reconnect) left its entries
 * pending with the relay for `claimIdleMs`; reads are now sent once and the relay reads its own
 * pending entries every claim period, whatever the number of relays.
 */
const relaysOnOneRedis = 2

/** `OUTBOX_RELAYS` (1–16, default 2): relays per process on one Redis (see above). */
export const outboxRelaysConfig: Config.Config<number> = Config.Int("OUTBOX_RELAYS").pipe(
  Config.withDefault(relaysOnOneRedis),
  Config.mapEffect((n) =>
    n >= 1 && n <= keyShards ? Effect.succeed(n) : configFailure(`OUTBOX_RELAYS must be 1..${keyShards}, got ${n}`),
  ),
)

/** Pause after a failed round (Redis down) before the next. */
const roundRetryMs = 500

/** Some entries of a flight are not published yet (internal: drives the retry schedule). */
class NotYetPublished extends Data.TaggedError("NotYetPublished")<{ readonly remaining: number }> {}

/** An outbox entry ready to publish. */
interface Publishable {
  readonly stream: string
  readonly id: string
  /** The message key: entries of one key keep their stream order. */
  readonly key: string
  readonly subject: string
  readonly payload: string
  readonly headers: Record<string, string>
}

const errorText = (error: unknown) =>
  error !== null && typeof error === "object" && "message" in error ? String(error.message) : String(error)

export class OutboxRelay extends Context.Service<OutboxRelay, OutboxRelayShape>()("dcent/OutboxRelay") {
  static readonly make = Effect.fn("OutboxRelay.make")(function* (options: OutboxRelayOptions) {
    const redis = yield* Redis
    const broker = yield* Broker
    const consumer = options.consumerName
    const group = options.group ?? defaultOutboxGroup
    const batchSize = options.batchSize ?? 500
    const blockMs = options.blockMs ?? 1_500
    const claimIdleMs = options.claimIdleMs ?? 30_000
    const claimEveryMs = options.claimEveryMs ?? 5_000
    const retrySchedule = exponentialCapped(relayRetryPolicy(options.retry))
    const publishTimeout = Duration.millis(options.publishTimeoutMs ?? 15_000)

    const stats = yield* Ref.make<OutboxRelayStats>({ published: 0, failedAttempts: 0, deadLettered: 0, claimed: 0 })
    const count = (field: keyof OutboxRelayStats, n = 1) =>
      Ref.update(stats, (current) => ({ ...current, [field]: current[field] + n }))

    const toOutboxError = (operation: string) => (error: RedisUnavailable | RedisError) =>
      new OutboxError({ operation, reason: reasonOfRedisFailure(error), detail: error.message, cause: error })

    const run = <A>(operation: string, redisCommand: string, f: (client: RedisClient) => Promise<A>) =>
      redis.use(redisCommand, f).pipe(Effect.mapError(toOutboxError(operation)))

    /** Retries a Redis step under the relay's schedule until it succeeds (the schedule never ends). */
    const persistently = <A>(operation: string, effect: Effect.Effect<A, OutboxError>): Effect.Effect<A> =>
      Effect.suspend(() => {
        let attempt = 0
        return effect.pipe(
          Effect.tapError((error) => {
            attempt += 1
            // Redis may still be connecting at start-up: a first failure is not news.
            const log = attempt > 1 ? Effect.logWarning : Effect.logDebug
            return log(`outbox ${operation} failed; retrying`).pipe(
              Effect.annotateLogs({ attempt, error: error.message }),
            )
          }),
          Effect.retry({ schedule: retrySchedule }),
          Effect.orDie,
        )
      })

    /**
     * The relay of a set of outbox shard streams: its own reader, loop, claims, lag and backlog.
     * Its streams are read in one `XREADGROUP` and acknowledged in one `MULTI`, so a read and an
     * acknowledgement serve the commits of several shards at once (a relay per shard made about
     * one read and one ack per event at a thousand events/s).
     */
    const relayOf = (streams: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        // Acquired before the loop is forked, so it is closed after the loop was interrupted.
        // A read hands out entries as it replies: never sent twice (a lost reply fails the round).
        const reader = yield* blockingConnection(redis, { sendsOnce: true })

        const ensureGroup = run("create group", "XGROUP", (client) =>
          Promise.all(
            streams.map((stream) =>
              client.xgroup("CREATE", stream, group, "0", "MKSTREAM").catch((error: unknown) => {
                if (errorText(error).includes("BUSYGROUP")) return "OK"
                throw error
              }),
            ),
          ),
        )

        /** A stream's name as a reply gives it (with the client's key prefix, if any) → our name for it. */
        const streamNamed = new Map<string, string>()
        const streamOf = (replied: string): string => {
          let stream = streamNamed.get(replied)
          if (stream === undefined) {
            // No stream name is the end of another (`outbox:{shard-1}`, `outbox:{shard-11}`).
            stream = streams.find((candidate) => replied.endsWith(candidate)) ?? replied
            streamNamed.set(replied, stream)
          }
          return stream
        }

        const toEntries = (reply: unknown): Array<Entry> => {
          // XREADGROUP: [[stream, [[id, fields|null], …]], …] or null
          if (!Array.isArray(reply)) return []
          const entries: Array<Entry> = []
          for (const [replied, items] of reply as Array<[string, Array<[string, Array<string> | null]> | null]>) {
            const stream = streamOf(replied)
            for (const [id, fields] of items ?? []) entries.push({ stream, id, fields })
          }
          return entries
        }

        /** `XREADGROUP` of every stream of this relay from `from` (`0`: our pending ones; `>`: new ones). */
        const readGroup = (client: RedisClient, from: "0" | ">", blockMs?: number) => {
          const ids = streams.map(() => from)
          return blockMs === undefined
            ? client.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "STREAMS", ...streams, ...ids)
            : client.xreadgroup(
                "GROUP",
                group,
                consumer,
                "COUNT",
                batchSize,
                "BLOCK",
                blockMs,
                "STREAMS",
                ...streams,
                ...ids,
              )
        }

        /** Our own pending entries (from `0`), on the shared connection. */
        const readOwn = run("read", "XREADGROUP", (client) => readGroup(client, "0")).pipe(Effect.map(toEntries))

        /** New entries, waiting up to `waitMs` for one; bounded on the client a little above it. */
        const readNew = (waitMs: number) =>
          reader
            .use("XREADGROUP", waitMs + readMarginMs, (client) => readGroup(client, ">", waitMs))
            .pipe(Effect.mapError(toOutboxError("read")), Effect.map(toEntries))

        /** One `XACK` and one `XDEL` per stream for all of `entries`, in one transaction. */
        const ackAndDelete = (entries: ReadonlyArray<{ readonly stream: string; readonly id: string }>) =>
          entries.length === 0
            ? Effect.void
            : run("ack", "XACK", (client) => {
                const transaction = client.multi()
                for (const [stream, ids] of idsByStream(entries)) {
                  transaction.xack(stream, group, ...ids).xdel(stream, ...ids)
                }
                return transaction.exec()
              }).pipe(Effect.asVoid)

        /** Resets the idle time of our pending entries so no other relay takes them over. */
        const touch = (entries: ReadonlyArray<{ readonly stream: string; readonly id: string }>) =>
          entries.length === 0
            ? Effect.void
            : run("touch", "XCLAIM", (client) =>
                Promise.all(
                  [...idsByStream(entries)].map(([stream, ids]) =>
                    client.call("XCLAIM", stream, group, consumer, 0, ...ids, "JUSTID"),
                  ),
                ),
              ).pipe(Effect.ignore)

        const deadLetter = (entry: Entry, reason: string) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            run("dead-letter", "XADD", (client) => {
              const stream = entry.stream
              const transaction = client
                .multi()
                .xadd(deadLetterStreamKey(stream), "*", ...(entry.fields ?? []), "reason", reason, "id", entry.id)
              if (options.deadLetterReport !== undefined) {
                const report = options.deadLetterReport(entry, reason, new Date(now).toISOString())
                transaction.xadd(
                  stream,
                  "*",
                  "topic",
                  report.topic,
                  "key",
                  report.key,
                  "headers",
                  JSON.stringify(report.headers ?? {}),
                  "payload",
                  report.payload,
                )
              }
              return transaction.xack(stream, group, entry.id).xdel(stream, entry.id).exec()
            }).pipe(
              Effect.tap(() => count("deadLettered")),
              Effect.tap(() =>
                Effect.logError("outbox entry can never be published; moved to the dead-letter stream").pipe(
                  Effect.annotateLogs({ id: entry.id, reason, stream: deadLetterStreamKey(entry.stream) }),
                ),
              ),
            ),
          )

        /** The broker's acknowledgement of one entry (bounded per flight by `publishInOrder`). */
        const publishOne = (entry: Publishable) =>
          broker.publish(entry.subject, entry.payload, { headers: entry.headers })

        /**
         * Acknowledges what the broker took, even while the relay is being stopped (it runs as the
         * flight's finalizer). Bounded: if Redis stays down the entries stay pending and are
         * published again later (at least once).
         */
        const acknowledge = (published: ReadonlyArray<Publishable>): Effect.Effect<void> =>
          published.length === 0
            ? Effect.void
            : persistently("ack", ackAndDelete(published)).pipe(
                Effect.timeout("10 seconds"),
                Effect.andThen(count("published", published.length)),
                Effect.catch((error) =>
                  Effect.logWarning("outbox entries published but not acknowledged; they will be published again").pipe(
                    Effect.annotateLogs({ count: published.length, error: String(error) }),
                  ),
                ),
              )

        /**
         * Publishes `entries` (stream order) until the broker took every one: all at once, then
         * what failed (with the rest of its key) again under the retry schedule.
         */
        const deliver = (entries: ReadonlyArray<Publishable>): Effect.Effect<void> =>
          Effect.suspend(() => {
            let remaining = entries
            let attempt = 0
            return Effect.suspend(() =>
              publishInOrder({ items: remaining, publish: publishOne, timeout: publishTimeout, acknowledge }),
            ).pipe(
              Effect.flatMap((outcome) => {
                remaining = outcome.remaining
                if (remaining.length === 0) return Effect.void
                attempt += 1
                return count("failedAttempts", outcome.failed).pipe(
                  Effect.andThen(
                    Effect.logWarning("outbox publish failed; retrying").pipe(
                      Effect.annotateLogs({
                        attempt,
                        published: outcome.published.length,
                        failed: outcome.failed,
                        timedOut: outcome.timedOut,
                        heldBack: outcome.held,
                        cause:
                          outcome.firstFailure === undefined
                            ? `no broker acknowledgement within ${Duration.format(publishTimeout)}`
                            : errorText(Cause.squash(outcome.firstFailure)),
                      }),
                    ),
                  ),
                  // Still ours: no other relay takes them over while we retry.
                  Effect.andThen(touch(remaining)),
                  Effect.andThen(Effect.fail(new NotYetPublished({ remaining: remaining.length }))),
                )
              }),
              Effect.retry({ schedule: retrySchedule }),
              Effect.orDie,
            )
          })

        /** Publishes a batch (stream order) and acknowledges it; dead-letters what can never be published. */
        const publishBatch = Effect.fn("OutboxRelay.publishBatch")(function* (entries: ReadonlyArray<Entry>) {
          const gone: Array<Entry> = []
          const publishable: Array<Publishable> = []
          for (const entry of entries) {
            if (entry.fields === null) {
              // deleted from the stream while pending: nothing left to publish
              gone.push(entry)
              continue
            }
            const parsed = parseOutboxFields(entry.fields)
            if (parsed._tag === "Invalid") {
              yield* persistently("dead-letter", deadLetter(entry, parsed.reason))
              continue
            }
            const { topic, key, headers, payload } = parsed.entry
            const subject = `${topic}.${key}`
            const invalidSubject = yield* Effect.flip(subjectOrFail("publish", subject)).pipe(Effect.option)
            if (invalidSubject._tag === "Some") {
              yield* persistently("dead-letter", deadLetter(entry, invalidSubject.value.message))
              continue
            }
            publishable.push({ stream: entry.stream, id: entry.id, key, subject, payload, headers })
          }
          if (gone.length > 0) yield* persistently("ack", ackAndDelete(gone))
          if (publishable.length > 0) yield* deliver(publishable)
        })

        /** Takes over entries other (dead) consumers left pending; returns them. */
        const claimAbandoned = Effect.gen(function* () {
          const claimed: Array<Entry> = []
          for (const stream of streams) {
            const claimedBefore = claimed.length
            let cursor = "0-0"
            do {
              const reply = yield* run("claim", "XAUTOCLAIM", (client) =>
                client.xautoclaim(stream, group, consumer, claimIdleMs, cursor, "COUNT", batchSize),
              )
              const [next, items, deleted] = reply as [
                string,
                Array<[string, Array<string> | null] | null>,
                Array<string>?,
              ]
              cursor = next
              for (const item of items ?? []) {
                if (item !== null) claimed.push({ stream, id: item[0], fields: item[1] })
              }
              if (deleted !== undefined && deleted.length > 0) {
                yield* ackAndDelete(deleted.map((id) => ({ stream, id })))
              }
            } while (cursor !== "0-0" && claimed.length - claimedBefore < batchSize * 10)
          }
          if (claimed.length > 0) {
            yield* count("claimed", claimed.length)
            yield* Effect.logInfo("outbox entries taken over from another relay").pipe(
              Effect.annotateLogs({ count: claimed.length }),
            )
          }
          return claimed
        })

        /** Rounds that published everything they found and found nothing new: the relay is caught up. */
        let emptyRounds = 0

        const loop = Effect.gen(function* () {
          yield* persistently("create group", ensureGroup)
          /** Publishes our own pending entries (from `0`); `read` says how to read them. */
          const publishOwn = <E>(read: Effect.Effect<ReadonlyArray<Entry>, E>) =>
            Effect.gen(function* () {
              while (true) {
                const own = yield* read
                if (own.length === 0) break
                yield* publishBatch(own)
                if (own.length < batchSize) break
              }
            })
          // Our own entries left pending by a previous run of this consumer.
          yield* publishOwn(persistently("read", readOwn))
          let lastClaim = 0
          /**
           * After a failed round, our own pending entries are read again first: a read whose reply was
           * lost (Redis killed after it handed us entries) left them pending with us, where no other
           * relay would take them before `claimIdleMs`.
           */
          let ownAgain = false
          while (true) {
            const round = Effect.gen(function* () {
              // Inside the round: a failure here (Redis still away, its data and our group gone) goes
              // through the same handling as any other, which re-creates the group.
              if (ownAgain) {
                ownAgain = false
                yield* publishOwn(readOwn)
              }
              const now = yield* Clock.currentTimeMillis
              if (now - lastClaim >= claimEveryMs) {
                lastClaim = now
                // A read's reply can be lost after the server handed us its entries (Redis killed
                // before the reply went out; on a Redis Cluster a fail-over's redirect), leaving
                // them pending with us, where nobody would take them before `claimIdleMs`: read our
                // own again each claim period (chaos runs found such entries published ~30 s late).
                yield* publishOwn(readOwn)
                const claimed = yield* claimAbandoned
                if (claimed.length > 0) yield* publishBatch(claimed)
              }
              // Not past the next XAUTOCLAIM (BLOCK 0 would wait forever).
              const sinceClaim = (yield* Clock.currentTimeMillis) - lastClaim
              const waitMs = Math.max(1, Math.min(blockMs, claimEveryMs - sinceClaim))
              const fresh = yield* readNew(waitMs)
              if (fresh.length > 0) yield* publishBatch(fresh)
              return fresh.length
            })
            const read = yield* round.pipe(
              Effect.catch((error: OutboxError) =>
                Effect.gen(function* () {
                  yield* Effect.logWarning("outbox relay round failed").pipe(
                    Effect.annotateLogs({ error: error.message }),
                  )
                  ownAgain = true
                  if (error.reason === "Refused" && error.detail.includes("NOGROUP"))
                    yield* ensureGroup.pipe(Effect.ignore)
                  yield* Effect.sleep(Duration.millis(roundRetryMs))
                  return batchSize
                }),
              ),
            )
            if (read === 0) emptyRounds += 1
          }
        }).pipe(Effect.annotateLogs({ relay: consumer, group, streams: streams.join(",") }))

        yield* Effect.forkScoped(loop)

        const lag = run("lag", "XRANGE", (client) =>
          Promise.all(streams.map((stream) => client.xrange(stream, "-", "+", "COUNT", 1))),
        ).pipe(
          Effect.flatMap((firsts) =>
            Clock.currentTimeMillis.pipe(
              Effect.map((now) =>
                firsts.reduce((oldest, entries) => {
                  const first = entries[0]
                  return first === undefined ? oldest : Math.max(oldest, now - streamIdMs(first[0]))
                }, 0),
              ),
            ),
          ),
        )
        const backlog = run("backlog", "XLEN", (client) =>
          Promise.all(streams.map((stream) => client.xlen(stream))),
        ).pipe(Effect.map((sizes) => sizes.reduce((sum, size) => sum + size, 0)))

        return { lag, backlog, emptyRounds: () => emptyRounds, wake: reader.wake }
      })

    // On one Redis, `relaysOnOneRedis` relays share the outbox shards' streams (`outboxStreamKey`);
    // on a Redis Cluster, where a read cannot span slots, each shard's stream has its own relay.
    const shardStreams = allKeyShards.map(outboxStreamKey)
    const relayCount = redis.cluster ? keyShards : yield* outboxRelaysConfig
    const relays = yield* Effect.forEach(
      Array.from({ length: relayCount }, (_, relay) => shardStreams.filter((_, shard) => shard % relayCount === relay)),
      (streams) => relayOf(streams),
    )
    const lag = Effect.forEach(relays, (relay) => relay.lag).pipe(Effect.map((lags) => Math.max(0, ...lags)))
    const backlog = Effect.forEach(relays, (relay) => relay.backlog).pipe(
      Effect.map((sizes) => sizes.reduce((sum, size) => sum + size, 0)),
    )
    const emptyRounds = () => relays.map((relay) => relay.emptyRounds())
    const wakeAll = Effect.forEach(relays, (relay) => relay.wake, { discard: true })

    // Drain (SIGTERM): keep publishing until a round finds nothing new (or `drainFlushMs`), so
    // what was committed before the drain goes out now; the rest is published by another relay
    // (the group shares the outbox) or by this one on its next start (its pending entries).
    const drainFlushMs = options.drainFlushMs ?? 5_000
    yield* onDrain({
      name: "outbox relay flush",
      phase: "flush",
      run: () =>
        Effect.suspend(() => {
          const before = emptyRounds()
          // A read blocked since before the drain ends empty only if nothing was committed since
          // it started; woken again each time, in case it was sent after the previous wake.
          // Every shard's relay must have had such an empty round.
          return until(
            Effect.suspend(() =>
              emptyRounds().every((rounds, i) => rounds > (before[i] as number))
                ? Effect.succeed(true)
                : wakeAll.pipe(Effect.as(false)),
            ),
            50,
          )
        }).pipe(
          Effect.timeoutOrElse({
            duration: Duration.millis(drainFlushMs),
            orElse: () =>
              backlog.pipe(
                Effect.orElseSucceed(() => -1),
                Effect.flatMap((left) =>
                  Effect.logWarning("outbox not empty at drain; the other relays or the next start publish it").pipe(
                    Effect.annotateLogs({ left }),
                  ),
                ),
              ),
          }),
        ),
    })

    return OutboxRelay.of({ lag, backlog, stats: Ref.get(stats) })
  })

  /** Starts the relay with the layer; it stops when the layer's scope closes. */
  static readonly layer = (options: OutboxRelayOptions): Layer.Layer<OutboxRelay, Config.ConfigError, Redis | Broker> =>
    Layer.effect(OutboxRelay, OutboxRelay.make(options))
}
