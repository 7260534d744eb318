/**
 * The per-order, append-only event log, stored in the service's Redis (under its key prefix).
 *
 * - `order:<id>:events` is a Redis stream; entry id `<seq>-0`, one field `e` = the record's JSON.
 *   `seq` starts at 1 and has no gaps.
 * - Every commit (`append` / `appendAt` / `record`) is ONE Lua script: it checks that the log still
 *   ends where the caller read it (optimistic concurrency — a conflict changes nothing; `append`
 *   retries with the seq Redis reported, `appendAt` reports it so that the caller decides again,
 *   with its state guards checked in the same step), then writes the events, the outbox entries
 *   (stream `outbox`, read by `OutboxRelay`) and the state writes, and publishes a wake-up for
 *   `follow`. A script is used
 *   rather than WATCH/MULTI/EXEC because WATCH belongs to a connection and the service's Redis
 *   connection is shared by concurrent fibers; the script gives the same all-or-nothing result.
 *   Key types are checked before the first write, so a commit never stops half-way.
 * - `follow` is woken by Redis pub/sub (ONE subscriber connection per process, channel
 *   `<prefix>events`, message `<orderReqId>:<lastSeq>`, fanned out in memory to the follows of
 *   that order) and by commits of this process. There is no per-follow polling: an idle follow
 *   costs nothing (100,000 open follows are 100,000 map entries, not reads). Pub/sub delivers
 *   every message while the subscription is up; after each (re)subscription every follow
 *   re-reads once, which covers whatever was committed while it was down. Reads go through the
 *   shared connection, so follows cost no extra connections.
 *
 * - Trace context: every committed event carries the W3C `traceparent` of the span that committed
 *   it (`traceContext`; on the wire `OrderEvent.trace_context`), and every outbox entry written
 *   with it carries the same in its headers, so the requestor's handling of the event and the
 *   relay's `send` continue the trace of the request that caused the change (see `../telemetry`).
 *
 * All keys of one commit must live on one Redis node (no Redis Cluster slot spreading).
 */
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { redisScript, runScriptReplicated } from "../coordination/redisScript.ts"
import { EventDraft, OrderEventRecord, OrderEventRecordJson, recordOf } from "../orders/events.ts"
import type { RedisError, RedisUnavailable } from "../redis/errors.ts"
import { isTransientRedisFailure, Redis, type RedisClient } from "../redis/Redis.ts"
import { subscribeToChannel } from "../redis/subscriber.ts"
import { backoff, RetryPolicies } from "../resilience/schedules.ts"
import { currentTraceCarrier, type TraceCarrier, traceparentHeader } from "../telemetry/traceContext.ts"
import { commitLua, encodeCommit, eventsChannel, orderEventsKey, parseNotification, seqOfStreamId } from "./encoding.ts"
import { EventLogError, SeqGap } from "./errors.ts"
import type { CommitCondition, CommitOptions, OutboxEntry, StateGuard } from "./types.ts"

export { orderEventsKey, outboxStreamKey } from "./encoding.ts"
export { EventLogError, SeqGap } from "./errors.ts"
export type { CommitCondition, CommitOptions, OutboxEntry, StateGuard, StateWrite } from "./types.ts"

/** What `appendAt` did: committed, or found the log or a guarded key changed (nothing written). */
export type AppendAtResult =
  | { readonly _tag: "Committed"; readonly records: ReadonlyArray<OrderEventRecord> }
  | { readonly _tag: "Conflict"; readonly lastSeq: number }

export interface OrderEventLogShape {
  /**
   * Processor side: assigns lastSeq+1.. to the drafts and commits them, the writes and the outbox
   * entries atomically (retried on conflict). `drafts` may be empty (writes and outbox only).
   */
  readonly append: (
    orderReqId: string,
    drafts: ReadonlyArray<EventDraft>,
    options?: CommitOptions,
  ) => Effect.Effect<ReadonlyArray<OrderEventRecord>, EventLogError>
  /**
   * Processor side, for a read-decide-commit step: commits the drafts as seqs
   * `expectedLastSeq + 1 …` with the writes and outbox entries only if the log still ends at
   * `expectedLastSeq` and every guarded key still holds what the caller read; else changes nothing
   * and answers `Conflict` (the caller reads and decides again). Never retries by itself.
   */
  readonly appendAt: (
    orderReqId: string,
    expectedLastSeq: number,
    drafts: ReadonlyArray<EventDraft>,
    options?: CommitOptions & { readonly guards?: ReadonlyArray<StateGuard> },
  ) => Effect.Effect<AppendAtResult, EventLogError>
  /**
   * Requestor side: records a received event once. seq === lastSeq+1 → "recorded" (with
   * writes/outbox atomically); seq <= lastSeq → "duplicate" (nothing written); seq > lastSeq+1 →
   * fails `SeqGap {expected, got}`.
   */
  readonly record: (
    event: OrderEventRecord,
    options?: CommitOptions,
  ) => Effect.Effect<"recorded" | "duplicate", EventLogError | SeqGap>
  /** 0 for an order without events. */
  readonly lastSeq: (orderReqId: string) => Effect.Effect<number, EventLogError>
  /** The events with seq > afterSeq, oldest first, at most `limit` (default: all). */
  readonly read: (
    orderReqId: string,
    afterSeq: number,
    limit?: number,
  ) => Effect.Effect<ReadonlyArray<OrderEventRecord>, EventLogError>
  /**
   * Every event after afterSeq, then live ones as they are committed by ANY process sharing this
   * Redis; never skips or repeats; does not end by itself (callers end it, e.g. `takeUntil`
   * OrderFinalised). Fails when Redis fails (callers resume from their last seq).
   */
  readonly follow: (orderReqId: string, afterSeq: number) => Stream.Stream<OrderEventRecord, EventLogError>
  /**
   * Many follows in one: `add` orders to it, `take` their events as they come. An order in a set
   * costs one small record and no fiber, stream or span (a processor holds 100,000 of them). Close
   * it when done (its orders stop being followed).
   */
  readonly followSet: Effect.Effect<FollowSet>
  /** Follows running now in this process (for metrics). */
  readonly activeFollows: Effect.Effect<number>
  /**
   * Commits `writes` and `extraOutbox` (no events) only if every condition holds, checked in the
   * same atomic step (a compare-and-set across replicas): true when committed, false (nothing
   * written) when a condition did not hold.
   */
  readonly commitIf: (
    orderReqId: string,
    conditions: ReadonlyArray<CommitCondition>,
    options: CommitOptions,
  ) => Effect.Effect<boolean, EventLogError>
}

/**
 * Follows of many orders, taken from together (see `OrderEventLogShape.followSet`). Each order's
 * events come in seq order, never skipped or repeated, from `afterSeq` on; an `OrderFinalised`
 * event is the last of its order (the order leaves the set).
 */
export interface FollowSet {
  /**
   * Follows `orderReqId` after `afterSeq` as the member `key` (an order may have several members,
   * e.g. several watchers); a key already in the set starts over from there.
   */
  readonly add: (key: string, orderReqId: string, afterSeq: number) => void
  /** Stops the member's follow. */
  readonly remove: (key: string) => void
  readonly has: (key: string) => boolean
  readonly size: () => number
  /**
   * Waits until some member has events and answers them with its key (at most a page per member
   * per take), or answers none when `wakeUp` was called meanwhile. One taker at a time. Fails
   * when the log cannot be read (the set stays usable: the failed members are read again next time).
   */
  readonly take: Effect.Effect<ReadonlyArray<FollowedEvent>, EventLogError>
  /** Makes a waiting (or the next) `take` answer at once, with no events if there are none. */
  readonly wakeUp: () => void
  /** Stops every member's follow. */
  readonly close: () => void
}

/** An event taken from a `FollowSet`, for its member `key`. */
export interface FollowedEvent {
  readonly key: string
  readonly record: OrderEventRecord
}

export interface OrderEventLogOptions {
  /** Records per read while `follow` catches up (default 256). */
  readonly pageSize?: number
  /** Attempts of a commit that keeps meeting concurrent appends (default 200). */
  readonly maxCommitAttempts?: number
}

export interface Waiter {
  readonly orderReqId: string
  /** The last seq this follow has emitted. */
  cursor: number
  /** Events handed over by notifications, contiguous after `cursor`, not emitted yet. */
  buffer: Array<OrderEventRecord>
  /** Something was committed that `buffer` does not hold: read the log. */
  dirty: boolean
  wake: (() => void) | undefined
  /** A follow set's member: `wake` stays armed (the set takes what is ready). */
  readonly sticky: boolean
}

/** Wakes the follows of this process and hands them the events the notifications carry (exported for its unit test). */
export class Waiters {
  private readonly byOrder = new Map<string, Set<Waiter>>()
  /** Events handed over and not taken yet, per follow, beyond which it reads the log instead. */
  private readonly maxBuffered: number

  constructor(maxBuffered: number) {
    this.maxBuffered = maxBuffered
  }

  register(orderReqId: string, cursor: number, stickyWake?: () => void): Waiter {
    const waiter: Waiter = {
      orderReqId,
      cursor,
      buffer: [],
      dirty: false,
      wake: stickyWake,
      sticky: stickyWake !== undefined,
    }
    let set = this.byOrder.get(orderReqId)
    if (set === undefined) {
      set = new Set()
      this.byOrder.set(orderReqId, set)
    }
    set.add(waiter)
    return waiter
  }

  unregister(orderReqId: string, waiter: Waiter) {
    const set = this.byOrder.get(orderReqId)
    if (set === undefined) return
    set.delete(waiter)
    if (set.size === 0) this.byOrder.delete(orderReqId)
  }

  has(orderReqId: string) {
    return this.byOrder.has(orderReqId)
  }

  /**
   * The order's log now ends at `lastSeq`; `records` (oldest first, ending at `lastSeq`) are the
   * events just committed, when known. A follow whose emitted + buffered events reach right up
   * to them takes them as they are; any other follow behind `lastSeq` reads the log.
   */
  notify(orderReqId: string, lastSeq: number, records: ReadonlyArray<OrderEventRecord> = []) {
    const set = this.byOrder.get(orderReqId)
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
    for (const set of this.byOrder.values()) {
      for (const waiter of set) {
        waiter.dirty = true
        Waiters.wake(waiter)
      }
    }
  }

  get size() {
    let size = 0
    for (const set of this.byOrder.values()) size += set.size
    return size
  }

  /**
   * The last seq the follow has emitted or holds. Not `cursor + buffer.length`: a read that
   * overtook a hand-over leaves events at or below the cursor in the buffer (dropped when taken),
   * and counting them would skip as many events of the next hand-over.
   */
  static reached(waiter: Waiter): number {
    return Math.max(waiter.cursor, waiter.buffer.at(-1)?.seq ?? 0)
  }

  private static wake(waiter: Waiter) {
    const wake = waiter.wake
    if (!waiter.sticky) waiter.wake = undefined
    wake?.()
  }
}

/** Resumes after a wake-up of `waiter` (or at once when it has something to do already). */
const awaitWake = (waiter: Waiter): Effect.Effect<void> =>
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
  (draft: EventDraft): EventDraft =>
    draft.traceContext === undefined ? { ...draft, ...traceContextField(carrier) } : draft

/** An outbox entry whose headers carry `carrier` unless they carry a trace context already. */
const withCarrier = (entry: OutboxEntry, carrier: TraceCarrier): OutboxEntry =>
  entry.headers?.[traceparentHeader] !== undefined || Object.keys(carrier).length === 0
    ? entry
    : { ...entry, headers: { ...entry.headers, ...carrier } }

const decodeRecordJson = Schema.decodeUnknownEffect(OrderEventRecordJson)
const decodeRecordJsonSync = Schema.decodeUnknownSync(OrderEventRecordJson)

/** The records a notification carries; none when one does not decode (the follows read instead). */
const recordsOf = (eventsJson: ReadonlyArray<string>): ReadonlyArray<OrderEventRecord> => {
  try {
    return eventsJson.map((json) => decodeRecordJsonSync(json))
  } catch {
    return []
  }
}
const decodeDraft = Schema.decodeUnknownEffect(EventDraft)
const decodeRecord = Schema.decodeUnknownEffect(OrderEventRecord)

type StreamEntries = ReadonlyArray<[id: string, fields: ReadonlyArray<string> | null]>

export class OrderEventLog extends Context.Service<OrderEventLog, OrderEventLogShape>()("dcent/OrderEventLog") {
  static readonly make = Effect.fn("OrderEventLog.make")(function* (options: OrderEventLogOptions = {}) {
    const redis = yield* Redis
    const pageSize = options.pageSize ?? 256
    const maxCommitAttempts = options.maxCommitAttempts ?? 200
    const channel = eventsChannel(redis.keyPrefix)
    const waiters = new Waiters(pageSize)

    // One subscriber connection for every follow of this layer.
    yield* subscribeToChannel(redis, {
      channel,
      onMessage: (message) => {
        const parsed = parseNotification(message)
        if (parsed === undefined || !waiters.has(parsed.orderReqId)) return
        waiters.notify(parsed.orderReqId, parsed.seq, recordsOf(parsed.eventsJson))
      },
      // Commits may have happened while we were not subscribed.
      onSubscribed: () => waiters.notifyAll(),
    })

    const fail =
      (operation: string, orderReqId: string) =>
      (error: RedisUnavailable | RedisError): EventLogError =>
        new EventLogError({
          operation,
          orderReqId,
          reason: error.message,
          // A connection lost with the command in flight is an outage too (503, retry), not a bug.
          unavailable: isTransientRedisFailure(error),
        })

    const invalid = (operation: string, orderReqId: string, reason: string) =>
      new EventLogError({ operation, orderReqId, reason, unavailable: false })

    const run = <A>(operation: string, orderReqId: string, command: string, f: (client: RedisClient) => Promise<A>) =>
      redis.use(command, f).pipe(Effect.mapError(fail(operation, orderReqId)))

    /** A read: retried (bounded) also when the connection breaks while it is in flight. */
    const runRead = <A>(
      operation: string,
      orderReqId: string,
      command: string,
      f: (client: RedisClient) => Promise<A>,
    ) => redis.useIdempotent(command, f).pipe(Effect.mapError(fail(operation, orderReqId)))

    const lastSeqOf = (operation: string, orderReqId: string) =>
      runRead(operation, orderReqId, "XREVRANGE", (client) =>
        client.xrevrange(orderEventsKey(orderReqId), "+", "-", "COUNT", 1),
      ).pipe(
        Effect.flatMap((entries) => {
          const top = entries[0]
          if (top === undefined) return Effect.succeed(0)
          const seq = seqOfStreamId(top[0])
          return seq === undefined
            ? Effect.fail(invalid(operation, orderReqId, `unexpected stream id ${top[0]}`))
            : Effect.succeed(seq)
        }),
      )

    const lastSeq = Effect.fn("OrderEventLog.lastSeq")(function* (orderReqId: string) {
      return yield* lastSeqOf("lastSeq", orderReqId)
    })

    /** `{ok: true, lastSeq}` or, on a conflict, `{ok: false, lastSeq: actual}`. */
    const commit = (
      operation: string,
      orderReqId: string,
      expectedLastSeq: number,
      events: ReadonlyArray<OrderEventRecord>,
      outbox: ReadonlyArray<OutboxEntry>,
      options: CommitOptions,
      conditions: ReadonlyArray<CommitCondition> = [],
      guards: ReadonlyArray<StateGuard> = [],
    ) =>
      Effect.gen(function* () {
        // Outbox entries keep the trace of the change that wrote them: the relay's `send` joins it.
        const carrier = yield* currentTraceCarrier
        const encoded = encodeCommit({
          expectedLastSeq,
          channel,
          orderReqId,
          events: events.map((record) => JSON.stringify(record)),
          outbox: outbox.map((entry) => withCarrier(entry, carrier)),
          writes: options.writes ?? [],
          conditions,
          guards,
        })
        if (encoded._tag === "Invalid") return yield* invalid(operation, orderReqId, encoded.problem)
        const reply = yield* run(operation, orderReqId, "EVALSHA", (client) =>
          // On a Redis Cluster the reply waits until a replica has the commit (fail-over safe).
          runScriptReplicated(client, commitScript, encoded.keys, encoded.args),
        )
        if (!Array.isArray(reply) || reply.length !== 2) {
          return yield* invalid(operation, orderReqId, `unexpected commit reply ${JSON.stringify(reply)}`)
        }
        const ok = Number(reply[0]) === 1
        const last = Number(reply[1])
        if (ok && events.length > 0) waiters.notify(orderReqId, last, events)
        return { ok, lastSeq: last }
      })

    const outboxFor = (options: CommitOptions, records: ReadonlyArray<OrderEventRecord>) => [
      ...(options.outbox === undefined || records.length === 0 ? [] : options.outbox(records)),
      ...(options.extraOutbox ?? []),
    ]

    /** A conflicting append is committed again at once at the seq Redis reported, after a backoff. */
    const appendRetry = backoff({ ...RetryPolicies.appendConflict, retries: Math.max(0, maxCommitAttempts - 1) })

    const append = Effect.fn("OrderEventLog.append")(function* (
      orderReqId: string,
      drafts: ReadonlyArray<EventDraft>,
      options: CommitOptions = {},
    ) {
      yield* Effect.annotateCurrentSpan({ orderReqId, events: drafts.length })
      if (orderReqId === "") return yield* invalid("append", orderReqId, "empty order id")
      const valid = yield* Effect.forEach(drafts, (draft) =>
        decodeDraft(draft).pipe(Effect.mapError((error) => invalid("append", orderReqId, error.message))),
      )
      if (valid.length === 0) {
        const outbox = outboxFor(options, [])
        if (outbox.length > 0 || (options.writes?.length ?? 0) > 0) {
          yield* commit("append", orderReqId, -1, [], outbox, options)
        }
        return []
      }
      let expected = yield* lastSeqOf("append", orderReqId)
      const traced = withEventCarrier(yield* currentTraceCarrier)
      let attempts = 0
      const attempt = Effect.suspend(() => {
        attempts += 1
        const records = valid.map((draft, index) => recordOf(orderReqId, expected + 1 + index, traced(draft)))
        return commit("append", orderReqId, expected, records, outboxFor(options, records), options).pipe(
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
          Effect.fail(invalid("append", orderReqId, `gave up after ${attempts} conflicting concurrent appends`)),
        ),
      )
    })

    const appendAt = Effect.fn("OrderEventLog.appendAt")(function* (
      orderReqId: string,
      expectedLastSeq: number,
      drafts: ReadonlyArray<EventDraft>,
      options: CommitOptions & { readonly guards?: ReadonlyArray<StateGuard> } = {},
    ) {
      yield* Effect.annotateCurrentSpan({ orderReqId, events: drafts.length })
      if (orderReqId === "") return yield* invalid("appendAt", orderReqId, "empty order id")
      if (!Number.isSafeInteger(expectedLastSeq) || expectedLastSeq < 0) {
        return yield* invalid("appendAt", orderReqId, `expectedLastSeq must be >= 0, got ${expectedLastSeq}`)
      }
      const valid = yield* Effect.forEach(drafts, (draft) =>
        decodeDraft(draft).pipe(Effect.mapError((error) => invalid("appendAt", orderReqId, error.message))),
      )
      const traced = withEventCarrier(yield* currentTraceCarrier)
      const records = valid.map((draft, index) => recordOf(orderReqId, expectedLastSeq + 1 + index, traced(draft)))
      const result = yield* commit(
        "appendAt",
        orderReqId,
        expectedLastSeq,
        records,
        outboxFor(options, records),
        options,
        [],
        options.guards ?? [],
      )
      return result.ok
        ? ({ _tag: "Committed", records } as const)
        : ({ _tag: "Conflict", lastSeq: result.lastSeq } as const)
    })

    const record = Effect.fn("OrderEventLog.record")(function* (event: OrderEventRecord, options: CommitOptions = {}) {
      yield* Effect.annotateCurrentSpan({ orderReqId: event.orderReqId, seq: event.seq })
      const valid = yield* decodeRecord(event).pipe(
        Effect.mapError((error) => invalid("record", event.orderReqId, error.message)),
      )
      // The record carries this side's span (e.g. the requestor's `receive`), a child of the sender's.
      const normalised = recordOf(valid.orderReqId, valid.seq, {
        ...valid,
        ...traceContextField(yield* currentTraceCarrier),
      })
      for (let attempt = 1; ; attempt++) {
        const result = yield* commit(
          "record",
          valid.orderReqId,
          valid.seq - 1,
          [normalised],
          outboxFor(options, [normalised]),
          options,
        )
        if (result.ok) return "recorded" as const
        if (result.lastSeq >= valid.seq) return "duplicate" as const
        if (result.lastSeq < valid.seq - 1) {
          return yield* new SeqGap({ orderReqId: valid.orderReqId, expected: result.lastSeq + 1, got: valid.seq })
        }
        // The log moved to exactly seq-1 between the check and now: try again.
        if (attempt >= maxCommitAttempts) {
          return yield* invalid("record", valid.orderReqId, `gave up after ${attempt} attempts`)
        }
      }
    })

    const toRecords = (orderReqId: string, entries: StreamEntries) =>
      Effect.forEach(entries, ([id, fields]) => {
        const index = fields?.indexOf("e") ?? -1
        const json = index >= 0 && index % 2 === 0 ? fields?.[index + 1] : undefined
        if (json === undefined) return Effect.fail(invalid("read", orderReqId, `entry ${id} has no field e`))
        return decodeRecordJson(json).pipe(
          Effect.mapError((error) => invalid("read", orderReqId, `entry ${id}: ${error.message}`)),
        )
      })

    const readPage = (orderReqId: string, afterSeq: number, limit: number | undefined) =>
      runRead("read", orderReqId, "XRANGE", (client) =>
        limit === undefined
          ? client.xrange(orderEventsKey(orderReqId), `${afterSeq + 1}-0`, "+")
          : client.xrange(orderEventsKey(orderReqId), `${afterSeq + 1}-0`, "+", "COUNT", limit),
      ).pipe(Effect.flatMap((entries) => toRecords(orderReqId, entries)))

    const read = Effect.fn("OrderEventLog.read")(function* (orderReqId: string, afterSeq: number, limit?: number) {
      const from = Math.max(0, Math.floor(afterSeq))
      if (limit !== undefined && limit <= 0) return []
      return yield* readPage(orderReqId, from, limit)
    })

    const follow = (orderReqId: string, afterSeq: number): Stream.Stream<OrderEventRecord, EventLogError> =>
      Stream.unwrap(
        Effect.gen(function* () {
          const waiter = yield* Effect.acquireRelease(
            Effect.sync(() => waiters.register(orderReqId, Math.max(0, Math.floor(afterSeq)))),
            (waiter) => Effect.sync(() => waiters.unregister(orderReqId, waiter)),
          )
          /** The first pull reads the log from `afterSeq` (the backlog). */
          let readOnce = false
          const next: Effect.Effect<ReadonlyArray<OrderEventRecord>, EventLogError> = Effect.gen(function* () {
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
                const page = yield* readPage(orderReqId, waiter.cursor, pageSize)
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

    const followSet = Effect.sync((): FollowSet => {
      const members = new Map<string, Waiter>()
      const keyOf = new WeakMap<Waiter, string>()
      /** Members with something to do (a wake-up, or events handed over), each at most once. */
      const ready = new Set<Waiter>()
      let signal: (() => void) | undefined
      let woken = false
      let closed = false
      const fire = () => {
        const resume = signal
        signal = undefined
        resume?.()
      }
      const drop = (key: string, waiter: Waiter) => {
        ready.delete(waiter)
        if (members.get(key) === waiter) members.delete(key)
        waiters.unregister(waiter.orderReqId, waiter)
      }
      const add = (key: string, orderReqId: string, afterSeq: number) => {
        if (closed) return
        const previous = members.get(key)
        if (previous !== undefined) drop(key, previous)
        const waiter: Waiter = waiters.register(orderReqId, Math.max(0, Math.floor(afterSeq)), () => {
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
      const isMember = (waiter: Waiter) => {
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
      /** What `waiter` emits of `records` (beyond its cursor, up to its order's final event). */
      const emit = (waiter: Waiter, records: ReadonlyArray<OrderEventRecord>, out: Array<FollowedEvent>) => {
        const key = keyOf.get(waiter) as string
        for (const record of records) {
          if (record.seq <= waiter.cursor) continue
          waiter.cursor = record.seq
          out.push({ key, record })
          if (record.status === "OrderFinalised") {
            drop(key, waiter)
            return
          }
        }
      }
      const take: Effect.Effect<ReadonlyArray<FollowedEvent>, EventLogError> = Effect.gen(function* () {
        while (true) {
          yield* awaitReady
          const batch = [...ready]
          ready.clear()
          const out: Array<FollowedEvent> = []
          const toRead: Array<Waiter> = []
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
          const pages = yield* Effect.forEach(
            toRead,
            (waiter) =>
              readPage(waiter.orderReqId, waiter.cursor, pageSize).pipe(
                Effect.map((page) => [waiter, page] as const),
                // Read again on the next take (the caller decides whether to go on).
                Effect.tapError(() =>
                  Effect.sync(() => members.get(waiter.orderReqId) === waiter && ready.add(waiter)),
                ),
              ),
            { concurrency: 64 },
          )
          for (const [waiter, page] of pages) {
            if (!isMember(waiter)) continue
            emit(waiter, page, out)
            // A full page: there may be more.
            if (page.length >= pageSize && isMember(waiter)) {
              waiter.dirty = true
              ready.add(waiter)
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

    const commitIf = Effect.fn("OrderEventLog.commitIf")(function* (
      orderReqId: string,
      conditions: ReadonlyArray<CommitCondition>,
      options: CommitOptions,
    ) {
      yield* Effect.annotateCurrentSpan({ orderReqId })
      if (orderReqId === "") return yield* invalid("commitIf", orderReqId, "empty order id")
      const result = yield* commit("commitIf", orderReqId, -1, [], outboxFor(options, []), options, conditions)
      return result.ok
    })

    return OrderEventLog.of({ append, appendAt, record, lastSeq, read, follow, followSet, activeFollows, commitIf })
  })

  /** The log over the service's `Redis` (default options). */
  static readonly layer: Layer.Layer<OrderEventLog, never, Redis> = Layer.effect(OrderEventLog, OrderEventLog.make())

  static readonly layerWith = (options: OrderEventLogOptions): Layer.Layer<OrderEventLog, never, Redis> =>
    Layer.effect(OrderEventLog, OrderEventLog.make(options))
}
