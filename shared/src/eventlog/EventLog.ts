/**
 * A per-id, append-only event log stored in the service's Redis (under its key prefix). Generic:
 * what an event is comes from an `EventCodec` (the order domain's is `../orders/OrderEventLog.ts`).
 *
 * - `order:<id>:events` is a Redis stream; entry id `<seq>-0`, one field `e` = the record's JSON.
 *   `seq` starts at 1 and has no gaps.
 * - Every commit of events (`append` / `appendAt` / `record`) is ONE Lua script: it checks that the
 *   log still ends where the caller read it (optimistic concurrency — a conflict changes nothing;
 *   `append` retries with the seq Redis reported, `appendAt` reports it so that the caller decides
 *   again, with its state guards checked in the same step), then writes the events, the outbox
 *   entries (the outbox stream of the id's shard, read by `../outbox/OutboxRelay.ts`) and the
 *   state writes, and publishes a wake-up for `follow`. A script is used rather than
 *   WATCH/MULTI/EXEC because WATCH belongs to a connection and the service's Redis connection is
 *   shared by concurrent fibers; the script gives the same all-or-nothing result. Key types are
 *   checked before the first write, so a commit never stops half-way.
 * - State writes without events go through `commitWrites` / `commitIf` (the same script, no seq
 *   check); outbox entries without events through `../outbox/Outbox.ts`. `append` refuses zero
 *   events, so the log is never used as a general transaction.
 * - `follow` is woken by Redis pub/sub (ONE subscriber connection per process, channel
 *   `<prefix>events`, message `<id>:<lastSeq>`, fanned out in memory to the follows of that log)
 *   and by commits of this process. There is no per-follow polling: an idle follow costs nothing
 *   (100,000 open follows are 100,000 map entries, not reads). Pub/sub delivers every message
 *   while the subscription is up; after each (re)subscription every follow re-reads once, which
 *   covers whatever was committed while it was down. Reads go through the shared connection, so
 *   follows cost no extra connections.
 * - Trace context: every committed event carries the W3C `traceparent` of the span that committed
 *   it (`traceContext`), and every outbox entry written with it carries the same in its headers,
 *   so the receiver's handling of the event and the relay's `send` continue the trace of the
 *   request that caused the change (see `../telemetry`).
 *
 * All keys of one commit must live on one Redis node (no Redis Cluster slot spreading).
 */
import { Effect, Schema, Stream } from "effect"
import { redisScript, runScriptReplicated } from "../coordination/redisScript.ts"
import { withTraceCarrier } from "../outbox/entry.ts"
import type { RedisError, RedisUnavailable } from "../redis/errors.ts"
import { isTransientRedisFailure, Redis, type RedisClient } from "../redis/Redis.ts"
import { subscribeToChannel } from "../redis/subscriber.ts"
import { backoff, RetryPolicies } from "../resilience/schedules.ts"
import { currentTraceCarrier, type TraceCarrier } from "../telemetry/traceContext.ts"
import { commitLua, encodeCommit, eventsChannel, orderEventsKey, parseNotification, seqOfStreamId } from "./encoding.ts"
import { EventLogError, type EventLogFailure, SeqGap } from "./errors.ts"
import type { CommitCondition, CommitOptions, OutboxEntry, StateCommit, StateGuard, StateWrite } from "./types.ts"

/** What an event carries that the log itself sets: the trace context of the span that committed it. */
export interface TracedEvent {
  readonly traceContext?: TraceCarrier
}

/** A committed event: its position in its log (1, 2, 3 …, no gaps). */
export interface LoggedEvent extends TracedEvent {
  readonly seq: number
}

/**
 * What the log needs to know of its events (supplied by the domain): how to validate a draft and
 * a record, how a draft becomes the record at a seq, which log a record belongs to, and which
 * record is a log's last (a follow set drops the member after it).
 */
export interface EventCodec<Draft extends TracedEvent, Rec extends LoggedEvent> {
  readonly draft: Schema.Codec<Draft, unknown>
  readonly record: Schema.Codec<Rec, unknown>
  readonly recordOf: (logId: string, seq: number, draft: Draft) => Rec
  readonly logIdOf: (record: Rec) => string
  readonly isLast: (record: Rec) => boolean
}

/** What `appendAt` did: committed, or found the log or a guarded key changed (nothing written). */
export type AppendAtResult<Rec> =
  | { readonly _tag: "Committed"; readonly records: ReadonlyArray<Rec> }
  | { readonly _tag: "Conflict"; readonly lastSeq: number }

export interface EventLogShape<Draft, Rec> {
  /**
   * Assigns lastSeq+1.. to the drafts (at least one) and commits them, the writes and the outbox
   * entries atomically (retried on conflict; `Contention` when it keeps conflicting).
   */
  readonly append: (
    logId: string,
    drafts: ReadonlyArray<Draft>,
    options?: CommitOptions<Rec>,
  ) => Effect.Effect<ReadonlyArray<Rec>, EventLogError>
  /**
   * For a read-decide-commit step: commits the drafts as seqs `expectedLastSeq + 1 …` with the
   * writes and outbox entries only if the log still ends at `expectedLastSeq` and every guarded
   * key still holds what the caller read; else changes nothing and answers `Conflict` (the caller
   * reads and decides again). Never retries by itself.
   */
  readonly appendAt: (
    logId: string,
    expectedLastSeq: number,
    drafts: ReadonlyArray<Draft>,
    options?: CommitOptions<Rec> & { readonly guards?: ReadonlyArray<StateGuard> },
  ) => Effect.Effect<AppendAtResult<Rec>, EventLogError>
  /**
   * Records an event received from elsewhere once. seq === lastSeq+1 → "recorded" (with
   * writes/outbox atomically); seq <= lastSeq → "duplicate" (nothing written); seq > lastSeq+1 →
   * fails `SeqGap {expected, got}`.
   */
  readonly record: (
    event: Rec,
    options?: CommitOptions<Rec>,
  ) => Effect.Effect<"recorded" | "duplicate", EventLogError | SeqGap>
  /** 0 for a log without events. */
  readonly lastSeq: (logId: string) => Effect.Effect<number, EventLogError>
  /** The events with seq > afterSeq, oldest first, at most `limit` (default: all). */
  readonly read: (logId: string, afterSeq: number, limit?: number) => Effect.Effect<ReadonlyArray<Rec>, EventLogError>
  /**
   * Every event after afterSeq, then live ones as they are committed by ANY process sharing this
   * Redis; never skips or repeats; does not end by itself (callers end it, e.g. `takeUntil` the
   * last event). Fails when Redis fails (callers resume from their last seq).
   */
  readonly follow: (logId: string, afterSeq: number) => Stream.Stream<Rec, EventLogError>
  /**
   * Many follows in one: `add` logs to it, `take` their events as they come. A log in a set costs
   * one small record and no fiber, stream or span (a processor holds 100,000 of them). Close it
   * when done (its logs stop being followed).
   */
  readonly followSet: Effect.Effect<FollowSet<Rec>>
  /** Follows running now in this process (for metrics). */
  readonly activeFollows: Effect.Effect<number>
  /**
   * Commits state writes of the log's keys (same hash slot) atomically, without events: keys that
   * change with the log but are not events of it (a status, a set membership).
   */
  readonly commitWrites: (logId: string, writes: ReadonlyArray<StateWrite>) => Effect.Effect<void, EventLogError>
  /**
   * Commits `writes` and `extraOutbox` (no events) only if every condition holds, checked in the
   * same atomic step (a compare-and-set across replicas): true when committed, false (nothing
   * written) when a condition did not hold.
   */
  readonly commitIf: (
    logId: string,
    conditions: ReadonlyArray<CommitCondition>,
    options: StateCommit,
  ) => Effect.Effect<boolean, EventLogError>
}

/**
 * Follows of many logs, taken from together (see `EventLogShape.followSet`). Each log's events
 * come in seq order, never skipped or repeated, from `afterSeq` on; after its last event (the
 * codec's `isLast`) a log leaves the set.
 */
export interface FollowSet<Rec> {
  /**
   * Follows log `logId` after `afterSeq` as the member `key` (a log may have several members,
   * e.g. several watchers); a key already in the set starts over from there.
   */
  readonly add: (key: string, logId: string, afterSeq: number) => void
  /** Stops the member's follow. */
  readonly remove: (key: string) => void
  readonly has: (key: string) => boolean
  readonly size: () => number
  /**
   * Waits until some member has events and answers them with its key (at most a page per member
   * per take), or answers none when `wakeUp` was called meanwhile. One taker at a time. Fails
   * when the log cannot be read (the set stays usable: the failed members are read again next time).
   */
  readonly take: Effect.Effect<ReadonlyArray<FollowedEvent<Rec>>, EventLogError>
  /** Makes a waiting (or the next) `take` answer at once, with no events if there are none. */
  readonly wakeUp: () => void
  /** Stops every member's follow. */
  readonly close: () => void
}

/** An event taken from a `FollowSet`, for its member `key`. */
export interface FollowedEvent<Rec> {
  readonly key: string
  readonly record: Rec
}

export interface EventLogOptions {
  /** Records per read while `follow` catches up (default 256). */
  readonly pageSize?: number
  /** Attempts of a commit that keeps meeting concurrent appends (default 200). */
  readonly maxCommitAttempts?: number
}

export interface Waiter<Rec extends LoggedEvent> {
  readonly logId: string
  /** The last seq this follow has emitted. */
  cursor: number
  /** Events handed over by notifications, contiguous after `cursor`, not emitted yet. */
  buffer: Array<Rec>
  /** Something was committed that `buffer` does not hold: read the log. */
  dirty: boolean
  wake: (() => void) | undefined
  /** A follow set's member: `wake` stays armed (the set takes what is ready). */
  readonly sticky: boolean
}

/** Wakes the follows of this process and hands them the events the notifications carry (exported for its unit test). */
export class Waiters<Rec extends LoggedEvent> {
  private readonly byLog = new Map<string, Set<Waiter<Rec>>>()
  /** Events handed over and not taken yet, per follow, beyond which it reads the log instead. */
  private readonly maxBuffered: number

  constructor(maxBuffered: number) {
    this.maxBuffered = maxBuffered
  }

  register(logId: string, cursor: number, stickyWake?: () => void): Waiter<Rec> {
    const waiter: Waiter<Rec> = {
      logId,
      cursor,
      buffer: [],
      dirty: false,
      wake: stickyWake,
      sticky: stickyWake !== undefined,
    }
    let set = this.byLog.get(logId)
    if (set === undefined) {
      set = new Set()
      this.byLog.set(logId, set)
    }
    set.add(waiter)
    return waiter
  }

  unregister(logId: string, waiter: Waiter<Rec>) {
    const set = this.byLog.get(logId)
    if (set === undefined) return
    set.delete(waiter)
    if (set.size === 0) this.byLog.delete(logId)
  }

  has(logId: string) {
    return this.byLog.has(logId)
  }

  /** Whether some follow of `logId` has not reached `lastSeq` yet (a notification would change something). */
  behind(logId: string, lastSeq: number): boolean {
    const set = this.byLog.get(logId)
    if (set === undefined) return false
    for (const waiter of set) if (Waiters.reached(waiter) < lastSeq) return true
    return false
  }

  /**
   * The log now ends at `lastSeq`; `records` (oldest first, ending at `lastSeq`) are the
   * events just committed, when known. A follow whose emitted + buffered events reach right up
   * to them takes them as they are; any other follow behind `lastSeq` reads the log.
   */
  notify(logId: string, lastSeq: number, records: ReadonlyArray<Rec> = []) {
    const set = this.byLog.get(logId)
    if (set === undefined) return
    const first = records[0]?.seq
    for (const waiter of set) {
      const reached = Waiters.reached(waiter)
      if (lastSeq <= reached) continue
      if (first !== undefined && first <= reached + 1 && !waiter.dirty) {
        for (const record of records) if (record.seq > reached) waiter.buffer.push(record)
        // A follow whose taker lags (a slow client) holds no unbounded backlog: it reads the log.
        if (waiter.buffer.length > this.maxBuffered) {
          waiter.buffer = []
          waiter.dirty = true
        }
        Waiters.wake(waiter)
      } else {
        waiter.dirty = true
        Waiters.wake(waiter)
      }
    }
  }

  notifyAll() {
    for (const set of this.byLog.values()) {
      for (const waiter of set) {
        waiter.dirty = true
        Waiters.wake(waiter)
      }
    }
  }

  get size() {
    let size = 0
    for (const set of this.byLog.values()) size += set.size
    return size
  }

  /**
   * The last seq the follow has emitted or holds. Not `cursor + buffer.length`: a read that
   * overtook a hand-over leaves events at or below the cursor in the buffer (dropped when taken),
   * and counting them would skip as many events of the next hand-over.
   */
  static reached(waiter: Waiter<LoggedEvent>): number {
    return Math.max(waiter.cursor, waiter.buffer.at(-1)?.seq ?? 0)
  }

  private static wake(waiter: Waiter<LoggedEvent>) {
    const wake = waiter.wake
    if (!waiter.sticky) waiter.wake = undefined
    wake?.()
  }
}

/** Resumes after a wake-up of `waiter` (or at once when it has something to do already). */
const awaitWake = (waiter: Waiter<LoggedEvent>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (waiter.dirty || waiter.buffer.length > 0) {
      resume(Effect.void)
      return
    }
    waiter.wake = () => resume(Effect.void)
    return Effect.sync(() => {
      waiter.wake = undefined
    })
  })

const commitScript = redisScript("eventlog-commit", commitLua)

/** An append met a concurrent append (retried under `RetryPolicies.appendConflict`). */
const appendConflict = { _tag: "AppendConflict" } as const

const traceContextField = (carrier: TraceCarrier): { traceContext?: TraceCarrier } =>
  Object.keys(carrier).length === 0 ? {} : { traceContext: carrier }

/** A draft stamped with `carrier` unless it names its own trace context. */
const withEventCarrier =
  (carrier: TraceCarrier) =>
  <Draft extends TracedEvent>(draft: Draft): Draft =>
    draft.traceContext === undefined ? { ...draft, ...traceContextField(carrier) } : draft

type StreamEntries = ReadonlyArray<[id: string, fields: ReadonlyArray<string> | null]>

/**
 * An event log over the service's `Redis` for the events `codec` describes; `name` names its spans
 * (`<name>.append`, …). The domain wraps it in its service (`../orders/OrderEventLog.ts`).
 */
export const makeEventLog = <Draft extends TracedEvent, Rec extends LoggedEvent>(
  name: string,
  codec: EventCodec<Draft, Rec>,
  options: EventLogOptions = {},
) =>
  Effect.gen(function* () {
    const redis = yield* Redis
    const decodeDraft = Schema.decodeUnknownEffect(codec.draft)
    const decodeRecord = Schema.decodeUnknownEffect(codec.record)
    const decodeRecordJson = Schema.decodeUnknownEffect(Schema.fromJsonString(codec.record))
    const decodeRecordJsonSync = Schema.decodeUnknownSync(Schema.fromJsonString(codec.record))
    /** The records a notification carries; none when one does not decode (the follows read instead). */
    const recordsOf = (eventsJson: ReadonlyArray<string>): ReadonlyArray<Rec> => {
      try {
        return eventsJson.map((json) => decodeRecordJsonSync(json))
      } catch {
        return []
      }
    }
    const pageSize = options.pageSize ?? 256
    const maxCommitAttempts = options.maxCommitAttempts ?? 200
    const channel = eventsChannel(redis.keyPrefix)
    const waiters = new Waiters<Rec>(pageSize)

    // One subscriber connection for every follow of this layer.
    yield* subscribeToChannel(redis, {
      channel,
      onMessage: (message) => {
        const parsed = parseNotification(message)
        // A commit of this process handed its events over already (`runCommit`): no decode for nothing.
        if (parsed === undefined || !waiters.behind(parsed.logId, parsed.seq)) return
        waiters.notify(parsed.logId, parsed.seq, recordsOf(parsed.eventsJson))
      },
      // Commits may have happened while we were not subscribed.
      onSubscribed: () => waiters.notifyAll(),
    })

    const fail =
      (operation: string, logId: string) =>
      (error: RedisUnavailable | RedisError): EventLogError =>
        new EventLogError({
          operation,
          logId,
          // A connection lost with the command in flight is an outage too (503, retry), not a bug.
          reason: isTransientRedisFailure(error) ? "Unavailable" : "Refused",
          detail: error.message,
          cause: error,
        })

    const failure = (operation: string, logId: string, reason: EventLogFailure, detail: string, cause?: unknown) =>
      new EventLogError({ operation, logId, reason, detail, ...(cause === undefined ? {} : { cause }) })

    /** The log refused its input (a bug of the caller). */
    const invalid = (operation: string, logId: string, detail: string, cause?: unknown) =>
      failure(operation, logId, "Refused", detail, cause)

    const run = <A>(operation: string, logId: string, command: string, f: (client: RedisClient) => Promise<A>) =>
      redis.use(command, f).pipe(Effect.mapError(fail(operation, logId)))

    /** A read: retried (bounded) also when the connection breaks while it is in flight. */
    const runRead = <A>(operation: string, logId: string, command: string, f: (client: RedisClient) => Promise<A>) =>
      redis.useIdempotent(command, f).pipe(Effect.mapError(fail(operation, logId)))

    const lastSeqOf = (operation: string, logId: string) =>
      runRead(operation, logId, "XREVRANGE", (client) =>
        client.xrevrange(orderEventsKey(logId), "+", "-", "COUNT", 1),
      ).pipe(
        Effect.flatMap((entries) => {
          const top = entries[0]
          if (top === undefined) return Effect.succeed(0)
          const seq = seqOfStreamId(top[0])
          return seq === undefined
            ? Effect.fail(failure(operation, logId, "Corrupt", `unexpected stream id ${top[0]}`))
            : Effect.succeed(seq)
        }),
      )

    const lastSeq = Effect.fn(`${name}.lastSeq`)(function* (logId: string) {
      return yield* lastSeqOf("lastSeq", logId)
    })

    /** `{ok: true, lastSeq}` or, on a conflict, `{ok: false, lastSeq: actual}`. */
    const runCommit = (
      operation: string,
      logId: string,
      expectedLastSeq: number,
      events: ReadonlyArray<Rec>,
      outbox: ReadonlyArray<OutboxEntry>,
      writes: ReadonlyArray<StateWrite>,
      conditions: ReadonlyArray<CommitCondition> = [],
      guards: ReadonlyArray<StateGuard> = [],
    ) =>
      Effect.gen(function* () {
        // Outbox entries keep the trace of the change that wrote them: the relay's `send` joins it.
        const carrier = yield* currentTraceCarrier
        const encoded = encodeCommit({
          expectedLastSeq,
          channel,
          logId,
          events: events.map((record) => JSON.stringify(record)),
          outbox: outbox.map((entry) => withTraceCarrier(entry, carrier)),
          writes,
          conditions,
          guards,
        })
        if (encoded._tag === "Invalid") return yield* invalid(operation, logId, encoded.problem)
        const reply = yield* run(operation, logId, "EVALSHA", (client) =>
          // On a Redis Cluster the reply waits until a replica has the commit (fail-over safe).
          runScriptReplicated(client, commitScript, encoded.keys, encoded.args),
        )
        if (!Array.isArray(reply) || reply.length !== 2) {
          return yield* failure(operation, logId, "Refused", `unexpected commit reply ${JSON.stringify(reply)}`)
        }
        const ok = Number(reply[0]) === 1
        const last = Number(reply[1])
        if (ok && events.length > 0) waiters.notify(logId, last, events)
        return { ok, lastSeq: last }
      })

    const outboxFor = (options: CommitOptions<Rec>, records: ReadonlyArray<Rec>) => [
      ...(options.outbox === undefined || records.length === 0 ? [] : options.outbox(records)),
      ...(options.extraOutbox ?? []),
    ]

    const decodeDrafts = (operation: string, logId: string, drafts: ReadonlyArray<Draft>) =>
      Effect.forEach(drafts, (draft) =>
        decodeDraft(draft).pipe(Effect.mapError((error) => invalid(operation, logId, error.message, error))),
      )

    /** A conflicting append is committed again at once at the seq Redis reported, after a backoff. */
    const appendRetry = backoff({ ...RetryPolicies.appendConflict, retries: Math.max(0, maxCommitAttempts - 1) })

    const append = Effect.fn(`${name}.append`)(function* (
      logId: string,
      drafts: ReadonlyArray<Draft>,
      options: CommitOptions<Rec> = {},
    ) {
      yield* Effect.annotateCurrentSpan({ logId, events: drafts.length })
      if (logId === "") return yield* invalid("append", logId, "empty log id")
      // Writes and outbox entries alone are `commitWrites` / `Outbox.add`: an append appends.
      if (drafts.length === 0) return yield* invalid("append", logId, "no events to append")
      const valid = yield* decodeDrafts("append", logId, drafts)
      let expected = yield* lastSeqOf("append", logId)
      const traced = withEventCarrier(yield* currentTraceCarrier)
      let attempts = 0
      const attempt = Effect.suspend(() => {
        attempts += 1
        const records = valid.map((draft, index) => codec.recordOf(logId, expected + 1 + index, traced(draft)))
        return runCommit("append", logId, expected, records, outboxFor(options, records), options.writes ?? []).pipe(
          Effect.flatMap((result) => {
            if (result.ok) return Effect.succeed(records)
            expected = result.lastSeq
            return Effect.fail(appendConflict)
          }),
        )
      })
      return yield* attempt.pipe(
        Effect.retry({ schedule: appendRetry, while: (error) => error === appendConflict }),
        Effect.catchTag("AppendConflict", () =>
          Effect.fail(
            failure("append", logId, "Contention", `gave up after ${attempts} conflicting concurrent appends`),
          ),
        ),
      )
    })

    const appendAt = Effect.fn(`${name}.appendAt`)(function* (
      logId: string,
      expectedLastSeq: number,
      drafts: ReadonlyArray<Draft>,
      options: CommitOptions<Rec> & { readonly guards?: ReadonlyArray<StateGuard> } = {},
    ) {
      yield* Effect.annotateCurrentSpan({ logId, events: drafts.length })
      if (logId === "") return yield* invalid("appendAt", logId, "empty log id")
      if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) {
        return yield* invalid("appendAt", logId, `expectedLastSeq must be >= 0, got ${expectedLastSeq}`)
      }
      const valid = yield* decodeDrafts("appendAt", logId, drafts)
      const traced = withEventCarrier(yield* currentTraceCarrier)
      const records = valid.map((draft, index) => codec.recordOf(logId, expectedLastSeq + 1 + index, traced(draft)))
      const result = yield* runCommit(
        "appendAt",
        logId,
        expectedLastSeq,
        records,
        outboxFor(options, records),
        options.writes ?? [],
        [],
        options.guards ?? [],
      )
      return result.ok
        ? ({ _tag: "Committed", records } as const)
        : ({ _tag: "Conflict", lastSeq: result.lastSeq } as const)
    })

    const record = Effect.fn(`${name}.record`)(function* (event: Rec, options: CommitOptions<Rec> = {}) {
      const eventLogId = codec.logIdOf(event)
      yield* Effect.annotateCurrentSpan({ logId: eventLogId, seq: event.seq })
      const valid = yield* decodeRecord(event).pipe(
        Effect.mapError((error) => invalid("record", eventLogId, error.message, error)),
      )
      const logId = codec.logIdOf(valid)
      // The record carries this side's span (e.g. the requestor's `receive`), a child of the sender's.
      const normalised: Rec = { ...valid, ...traceContextField(yield* currentTraceCarrier) }
      for (let attempt = 1; ; attempt++) {
        const result = yield* runCommit(
          "record",
          logId,
          valid.seq - 1,
          [normalised],
          outboxFor(options, [normalised]),
          options.writes ?? [],
        )
        if (result.ok) return "recorded" as const
        if (result.lastSeq >= valid.seq) return "duplicate" as const
        if (result.lastSeq < valid.seq - 1) {
          return yield* new SeqGap({ logId, expected: result.lastSeq + 1, got: valid.seq })
        }
        // The log moved to exactly seq-1 between the check and now: try again.
        if (attempt >= maxCommitAttempts) {
          return yield* failure("record", logId, "Contention", `gave up after ${attempt} conflicting attempts`)
        }
      }
    })

    const toRecords = (logId: string, entries: StreamEntries) =>
      Effect.forEach(entries, ([id, fields]) => {
        const index = fields?.indexOf("e") ?? -1
        const json = index >= 0 && index % 2 === 0 ? fields?.[index + 1] : undefined
        if (json === undefined) return Effect.fail(failure("read", logId, "Corrupt", `entry ${id} has no field e`))
        return decodeRecordJson(json).pipe(
          Effect.mapError((error) => failure("read", logId, "Corrupt", `entry ${id}: ${error.message}`, error)),
        )
      })

    const readPage = (logId: string, afterSeq: number, limit: number | undefined) =>
      runRead("read", logId, "XRANGE", (client) =>
        limit === undefined
          ? client.xrange(orderEventsKey(logId), `${afterSeq + 1}-0`, "+")
          : client.xrange(orderEventsKey(logId), `${afterSeq + 1}-0`, "+", "COUNT", limit),
      ).pipe(Effect.flatMap((entries) => toRecords(logId, entries)))

    const read = Effect.fn(`${name}.read`)(function* (logId: string, afterSeq: number, limit?: number) {
      const from = Math.max(0, Math.floor(afterSeq))
      if (limit !== undefined && limit <= 0) return []
      return yield* readPage(logId, from, limit)
    })

    const follow = (logId: string, afterSeq: number): Stream.Stream<Rec, EventLogError> =>
      Stream.unwrap(
        Effect.gen(function* () {
          const waiter = yield* Effect.acquireRelease(
            Effect.sync(() => waiters.register(logId, Math.max(0, Math.floor(afterSeq)))),
            (waiter) => Effect.sync(() => waiters.unregister(logId, waiter)),
          )
          /** The first pull reads the log from `afterSeq` (the backlog). */
          let readOnce = false
          const next: Effect.Effect<ReadonlyArray<Rec>, EventLogError> = Effect.gen(function* () {
            while (true) {
              // Handed over by a notification: no read needed.
              if (waiter.buffer.length > 0 && !waiter.dirty) {
                // A read may have overtaken what was handed over meanwhile: never repeat.
                const handed = waiter.buffer.filter((record) => record.seq > waiter.cursor)
                waiter.buffer = []
                const last = handed.at(-1)
                if (last !== undefined) {
                  waiter.cursor = last.seq
                  return handed
                }
                continue
              }
              if (waiter.dirty || waiter.buffer.length > 0 || !readOnce) {
                readOnce = true
                waiter.dirty = false
                waiter.buffer = []
                const page = yield* readPage(logId, waiter.cursor, pageSize)
                // Never repeat: keep only what lies beyond the cursor, in order.
                const fresh = page.filter((record) => record.seq > waiter.cursor)
                const last = fresh.at(-1)
                if (last !== undefined) {
                  waiter.cursor = last.seq
                  // A full page: there may be more; read again before waiting.
                  if (fresh.length >= pageSize) waiter.dirty = true
                  return fresh
                }
              }
              yield* awaitWake(waiter)
            }
          })
          return Stream.fromIterableEffectRepeat(next)
        }),
      )

    const followSet = Effect.sync((): FollowSet<Rec> => {
      const members = new Map<string, Waiter<Rec>>()
      const keyOf = new WeakMap<Waiter<Rec>, string>()
      /** Members with something to do (a wake-up, or events handed over), each at most once. */
      const ready = new Set<Waiter<Rec>>()
      let signal: (() => void) | undefined
      let woken = false
      let closed = false
      const fire = () => {
        const resume = signal
        signal = undefined
        resume?.()
      }
      const drop = (key: string, waiter: Waiter<Rec>) => {
        ready.delete(waiter)
        if (members.get(key) === waiter) members.delete(key)
        waiters.unregister(waiter.logId, waiter)
      }
      const add = (key: string, logId: string, afterSeq: number) => {
        if (closed) return
        const previous = members.get(key)
        if (previous !== undefined) drop(key, previous)
        const waiter: Waiter<Rec> = waiters.register(logId, Math.max(0, Math.floor(afterSeq)), () => {
          ready.add(waiter)
          fire()
        })
        // The backlog after `afterSeq` is read first.
        waiter.dirty = true
        keyOf.set(waiter, key)
        members.set(key, waiter)
        ready.add(waiter)
        fire()
      }
      const remove = (key: string) => {
        const waiter = members.get(key)
        if (waiter !== undefined) drop(key, waiter)
      }
      const isMember = (waiter: Waiter<Rec>) => {
        const key = keyOf.get(waiter)
        return key !== undefined && members.get(key) === waiter
      }
      const awaitReady = Effect.callback<void>((resume) => {
        if (ready.size > 0 || woken || closed) {
          resume(Effect.void)
          return
        }
        signal = () => resume(Effect.void)
        return Effect.sync(() => {
          signal = undefined
        })
      })
      /** What `waiter` emits of `records` (beyond its cursor, up to its log's last event). */
      const emit = (waiter: Waiter<Rec>, records: ReadonlyArray<Rec>, out: Array<FollowedEvent<Rec>>) => {
        const key = keyOf.get(waiter) as string
        for (const record of records) {
          if (record.seq <= waiter.cursor) continue
          waiter.cursor = record.seq
          out.push({ key, record })
          if (codec.isLast(record)) {
            drop(key, waiter)
            return
          }
        }
      }
      const take: Effect.Effect<ReadonlyArray<FollowedEvent<Rec>>, EventLogError> = Effect.gen(function* () {
        while (true) {
          yield* awaitReady
          const batch = [...ready]
          ready.clear()
          const out: Array<FollowedEvent<Rec>> = []
          const toRead: Array<Waiter<Rec>> = []
          for (const waiter of batch) {
            if (!isMember(waiter)) continue
            if (waiter.buffer.length > 0 && !waiter.dirty) {
              const handed = waiter.buffer
              waiter.buffer = []
              emit(waiter, handed, out)
            } else if (waiter.dirty || waiter.buffer.length > 0) {
              waiter.dirty = false
              waiter.buffer = []
              toRead.push(waiter)
            }
          }
          // Members of one log at the same cursor (the watchers of an order) share one read.
          const reads = new Map<string, Array<Waiter<Rec>>>()
          for (const waiter of toRead) {
            const readKey = `${waiter.cursor}\u0000${waiter.logId}`
            const group = reads.get(readKey)
            if (group === undefined) reads.set(readKey, [waiter])
            else group.push(waiter)
          }
          const pages = yield* Effect.forEach(
            reads.values(),
            (group) => {
              const { logId, cursor } = group[0] as Waiter<Rec>
              return readPage(logId, cursor, pageSize).pipe(
                Effect.map((page) => [group, page] as const),
                // Read again on the next take (the caller decides whether to go on).
                Effect.tapError(() =>
                  Effect.sync(() => {
                    for (const waiter of group) if (isMember(waiter)) ready.add(waiter)
                  }),
                ),
              )
            },
            { concurrency: 64 },
          )
          for (const [group, page] of pages) {
            for (const waiter of group) {
              if (!isMember(waiter)) continue
              emit(waiter, page, out)
              // A full page: there may be more.
              if (page.length >= pageSize && isMember(waiter)) {
                waiter.dirty = true
                ready.add(waiter)
              }
            }
          }
          if (out.length > 0 || woken || closed) {
            woken = false
            return out
          }
        }
      })
      return {
        add,
        remove,
        has: (key) => members.has(key),
        size: () => members.size,
        take,
        wakeUp: () => {
          woken = true
          fire()
        },
        close: () => {
          closed = true
          for (const [key, waiter] of [...members]) drop(key, waiter)
          fire()
        },
      }
    })

    const activeFollows = Effect.sync(() => waiters.size)

    const commitWrites = Effect.fn(`${name}.commitWrites`)(function* (
      logId: string,
      writes: ReadonlyArray<StateWrite>,
    ) {
      yield* Effect.annotateCurrentSpan({ logId, writes: writes.length })
      if (logId === "") return yield* invalid("commitWrites", logId, "empty log id")
      if (writes.length === 0) return
      yield* runCommit("commitWrites", logId, -1, [], [], writes)
    })

    const commitIf = Effect.fn(`${name}.commitIf`)(function* (
      logId: string,
      conditions: ReadonlyArray<CommitCondition>,
      options: StateCommit,
    ) {
      yield* Effect.annotateCurrentSpan({ logId })
      if (logId === "") return yield* invalid("commitIf", logId, "empty log id")
      const result = yield* runCommit(
        "commitIf",
        logId,
        -1,
        [],
        options.extraOutbox ?? [],
        options.writes ?? [],
        conditions,
      )
      return result.ok
    })

    return {
      append,
      appendAt,
      record,
      lastSeq,
      read,
      follow,
      followSet,
      activeFollows,
      commitWrites,
      commitIf,
    } satisfies EventLogShape<Draft, Rec>
  }).pipe(Effect.withSpan(`${name}.make`))
