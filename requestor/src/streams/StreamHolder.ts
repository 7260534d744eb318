/**
 * Holds the `ProcessOrderStream` of the live orders in the shards this replica owns, and records
 * every received event once in the buyer-facing event log. Several requestor replicas share one
 * Redis: each live order's stream is held by exactly one of them at a time.
 *
 * Ownership is by shard, not by order: an order belongs to shard `shardOf(OrderReqID,
 * STREAM_SHARDS)`, and the shards are leased among the live replicas (`ShardLeases`: one claim
 * script per replica every TTL/3, fair shares, taken over when a replica dies or stops). So the
 * background cost of a live order is zero: no per-order lease, no per-order renewal, no re-scan
 * loop; 100,000 live orders cost the same Redis traffic as ten.
 *
 *   shard acquired ─▶ read `live-orders` once, start a fiber for each of its orders
 *   order initiated ─▶ here, when its shard is ours; else announced on `<prefix>stream-orders`,
 *                      and the owner of its shard starts it
 *   shard lost (given back to balance, or a claim found another owner / none succeeded in time)
 *              ─▶ the fibers of its orders are interrupted at once; the new owner resumes them
 *
 * Per order, one fiber (a `FiberMap` keyed by the OrderReqID):
 *
 *   read the order ─▶ from_seq = last recorded seq ─▶ ProcessOrderStream(details, from_seq)
 *        ▲                                              │ each event: OrderEventLog.record
 *        │                                              │ (+ BUYER_NOTIFY / BUYER_FOLLOWUP,
 *        └── backoff (exponential, jittered, ≤ 5 s) ◀── │    status writes, atomically)
 *            on any break: error, end of stream,        ▼
 *            Redis trouble, a seq gap             OrderFinalised ─▶ done
 *
 * A (re)connect always resumes from the last *recorded* seq, and the log is shared in Redis, so
 * a break or a hand-over to another replica loses nothing, and a redelivered event is a
 * "duplicate" (recorded once) — even in the short overlap a paused, expired holder could cause.
 * The backoff starts over after a stream that delivered events. Sessions open at most
 * `openConcurrency` at a time (their reads and the call), so taking 100,000 orders over is a
 * steady ramp, not a storm.
 *
 * A missed announcement (the subscriber was reconnecting) is caught by the re-read of the owned
 * shards after every resubscription and by a slow safety re-read (`resyncInterval`, default 60 s).
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { shardLeases, shardOf } from "@dcent/shared/coordination/ShardLeases"
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { isTerminalStatus, orderEventFromProto } from "@dcent/shared/orders/events"
import { Redis } from "@dcent/shared/redis/Redis"
import { subscribeToChannel } from "@dcent/shared/redis/subscriber"
import { Context, Duration, Effect, FiberMap, Layer, Random, Ref, Schedule, Semaphore, Stream } from "effect"
import { RequestorConfig } from "../config.ts"
import { isLive } from "../orders/domain.ts"
import { dropLiveWrite, OrderStore } from "../orders/OrderStore.ts"
import { ProcessorClient } from "../processor/ProcessorClient.ts"
import { StreamOrigins, withOrigin, withReceiveSpan } from "./eventSpans.ts"
import { commitFor, streamRequestFor } from "./recording.ts"

export interface StreamHolderShape {
  /**
   * Makes sure the order's stream is held (idempotent): started here when its shard is ours,
   * else announced to the replica that owns the shard.
   */
  readonly ensure: (orderReqId: string) => Effect.Effect<void>
  /** Whether this replica holds the order's stream (its shard is ours and its fiber runs). */
  readonly isHolding: (orderReqId: string) => Effect.Effect<boolean>
  /** How many order streams this replica holds. */
  readonly size: Effect.Effect<number>
  /** The shards this replica owns. */
  readonly shards: Effect.Effect<ReadonlySet<number>>
  /** This replica's owner token in the shard leases (`requestor@host:httpPort/random`). */
  readonly owner: string
}

/** The shard set (see `@dcent/shared/coordination/ShardLeases`) of the order streams. */
export const streamShardSet = "order-streams"

/** The shard an order's stream belongs to. */
export const streamShardOf = (orderReqId: string, shards: number) => shardOf(orderReqId, shards)

/** Pub/sub channel (ioredis does not prefix channels) announcing orders whose stream must be held. */
export const streamOrdersChannel = (keyPrefix: string) => `${keyPrefix}stream-orders`

export interface StreamHolderOptions {
  /** First reconnect delay (default 200 ms); doubles per failed attempt, ±20 % jitter. */
  readonly retryBase?: Duration.Input
  /** Longest reconnect delay (default 5 s). */
  readonly retryCap?: Duration.Input
  /** Safety re-read of `live-orders` for the owned shards (default 60 s). */
  readonly resyncInterval?: Duration.Input
  /** Shard lease TTL (default 6 s), claimed every third of it. */
  readonly leaseTtl?: Duration.Input
  /** Number of shards (default 64); the same on every replica. */
  readonly shards?: number
  /** Sessions opening at once (default 64). */
  readonly openConcurrency?: number
  /** Owner token in the leases (default `requestor@<host>/<random>`); unique per process. */
  readonly owner?: string
  /** Each shard claim's lateness in ms (a metric). */
  readonly onClaimLag?: (lagMs: number) => void
}

/** How one connection ended. */
type SessionEnd =
  | { readonly _tag: "Finalised" }
  | { readonly _tag: "NotLive"; readonly reason: string }
  | { readonly _tag: "Broken"; readonly progress: boolean; readonly reason: string }

/** A break without progress: retried with growing delays. */
class NoProgress {
  readonly _tag = "NoProgress"
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

export class StreamHolder extends Context.Service<StreamHolder, StreamHolderShape>()("dcent/requestor/StreamHolder") {
  static readonly make = Effect.fn("StreamHolder.make")(function* (options: StreamHolderOptions = {}) {
    const eventLog = yield* OrderEventLog
    const store = yield* OrderStore
    const processor = yield* ProcessorClient
    const redis = yield* Redis
    const holders = yield* FiberMap.make<string>()
    const retryBase = options.retryBase ?? "200 millis"
    const retryCap = options.retryCap ?? "5 seconds"
    const leaseTtlMs = Math.max(
      3,
      Math.round(Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "6 seconds"))),
    )
    const resyncInterval = options.resyncInterval ?? "60 seconds"
    const shardCount = Math.max(1, Math.floor(options.shards ?? 64))
    const opening = yield* Semaphore.make(Math.max(1, Math.floor(options.openConcurrency ?? 64)))
    const owner = options.owner ?? `requestor@${hostname()}/${randomUUID().slice(0, 8)}`
    /** The orders whose fiber runs here, by shard (interrupted together when the shard is lost). */
    const byShard = new Map<number, Set<string>>()
    /** The span that asked for an order's stream (e.g. `POST /api/v1/initiate`): its next call joins that trace. */
    const origins = new StreamOrigins()

    const backoff = Schedule.min([Schedule.exponential(retryBase).pipe(Schedule.jittered), Schedule.spaced(retryCap)])

    /** One connection: open, record until it breaks or the order is finalised. */
    const session = (orderReqId: string): Effect.Effect<SessionEnd> =>
      Effect.gen(function* () {
        const [order, fromSeq] = yield* opening.withPermits(1)(
          Effect.all([store.get(orderReqId), eventLog.lastSeq(orderReqId)], { concurrency: 2 }),
        )
        if (order === undefined) return { _tag: "NotLive", reason: "the order is unknown" } as const
        if (!isLive(order.status)) return { _tag: "NotLive", reason: `the order is ${order.status}` } as const
        const origin = origins.take(orderReqId)
        const recorded = yield* Ref.make(0)
        const finalised = yield* Ref.make(false)
        yield* Effect.logDebug("opening order stream").pipe(Effect.annotateLogs({ fromSeq }))

        const outcome = yield* processor.openStream(streamRequestFor(order, fromSeq)).pipe(
          withOrigin(origin),
          Stream.mapEffect((event) =>
            Effect.gen(function* () {
              const record = yield* orderEventFromProto(event)
              if (record.orderReqId !== orderReqId) {
                return yield* Effect.fail(
                  new Error(`stream of ${orderReqId} delivered an event of ${record.orderReqId}`),
                )
              }
              const result = yield* eventLog.record(record, commitFor(order, record)).pipe(withReceiveSpan(record))
              if (result === "recorded") yield* Ref.update(recorded, (n) => n + 1)
              yield* Effect.logDebug("order event").pipe(
                Effect.annotateLogs({ seq: record.seq, status: record.status, result }),
              )
              if (isTerminalStatus(record.status)) yield* Ref.set(finalised, true)
              return record
            }),
          ),
          Stream.takeUntil((record) => isTerminalStatus(record.status)),
          Stream.runDrain,
          Effect.exit,
        )
        const progress = (yield* Ref.get(recorded)) > 0
        if (yield* Ref.get(finalised)) return { _tag: "Finalised" } as const
        const reason =
          outcome._tag === "Success"
            ? "the processor ended the stream before OrderFinalised"
            : messageOf(outcome.cause.reasons[0]?._tag === "Fail" ? outcome.cause.reasons[0].error : outcome.cause)
        return { _tag: "Broken", progress, reason } as const
      }).pipe(
        // Reading the order or the log failed (Redis trouble): a break without progress.
        Effect.catch((error) => Effect.succeed({ _tag: "Broken", progress: false, reason: messageOf(error) } as const)),
      )

    /** Holds the stream until the order is finalised or no longer live (retrying every break). */
    const stream = (orderReqId: string) =>
      Effect.gen(function* () {
        let failures = 0
        // Failures without progress back off; a break after progress reconnects at the base delay.
        const attempt = session(orderReqId).pipe(
          Effect.flatMap((end) => {
            if (end._tag === "Broken" && !end.progress) return Effect.fail(new NoProgress(end.reason))
            return Effect.succeed(end)
          }),
          Effect.tapError((error) =>
            Effect.suspend(() => {
              failures += 1
              const log = failures === 1 || failures % 20 === 0 ? Effect.logWarning : Effect.logDebug
              return log("order stream unavailable; reconnecting").pipe(
                Effect.annotateLogs({ attempt: failures, reason: error.reason }),
              )
            }),
          ),
          Effect.retry(backoff),
        )
        while (true) {
          const end = yield* attempt
          if (end._tag === "Finalised") {
            yield* Effect.logInfo("order finalised; stream closed")
            return
          }
          if (end._tag === "NotLive") {
            yield* Effect.logInfo("order not live; stream holder stops").pipe(
              Effect.annotateLogs({ reason: end.reason }),
            )
            // Keep `live-orders` honest (best effort).
            yield* eventLog.append(orderReqId, [], { writes: [dropLiveWrite(orderReqId)] }).pipe(Effect.ignore)
            return
          }
          failures = 0
          yield* Effect.logInfo("order stream broke; resuming from the last recorded seq").pipe(
            Effect.annotateLogs({ reason: end.reason }),
          )
          yield* Effect.sleep(Duration.times(Duration.fromInputUnsafe(retryBase), yield* Random.nextBetween(0.8, 1.2)))
        }
      }).pipe(Effect.withSpan("StreamHolder.hold", { attributes: { orderReqId } }))

    // --- one fiber per live order of the owned shards -------------------------------------------

    // Holders run with the layer's context (not the caller's: an HTTP request ends, its order's
    // stream must not), and are interrupted when the layer is released.
    const runHolder = yield* FiberMap.runtime(holders)<never>()
    let leases: { readonly holds: (shard: number) => boolean } | undefined
    const holdsShardOf = (orderReqId: string) => leases?.holds(streamShardOf(orderReqId, shardCount)) ?? false

    const start = (orderReqId: string) => {
      if (FiberMap.hasUnsafe(holders, orderReqId)) return
      const shard = streamShardOf(orderReqId, shardCount)
      let members = byShard.get(shard)
      if (members === undefined) {
        members = new Set()
        byShard.set(shard, members)
      }
      const shardMembers = members
      shardMembers.add(orderReqId)
      runHolder(
        orderReqId,
        stream(orderReqId).pipe(
          Effect.annotateLogs({ orderReqId, replica: owner }),
          Effect.ensuring(Effect.sync(() => shardMembers.delete(orderReqId))),
        ),
        { onlyIfMissing: true },
      )
    }

    /** Starts the fibers of the live orders in `shards` (one read of `live-orders`). */
    const startShards = (shards: ReadonlySet<number>) =>
      store.liveOrders.pipe(
        Effect.tap((ids) =>
          Effect.sync(() => {
            for (const id of ids) {
              if (shards.has(streamShardOf(id, shardCount)) && holdsShardOf(id)) start(id)
            }
          }),
        ),
        Effect.retry(backoff),
        Effect.withSpan("StreamHolder.startShards", { attributes: { shards: shards.size } }),
      )

    /** Stops the fibers of the orders in `shards` at once. */
    const stopShards = (shards: ReadonlyArray<number>) =>
      Effect.forEach(
        shards.flatMap((shard) => [...(byShard.get(shard) ?? [])]),
        (orderReqId) => FiberMap.remove(holders, orderReqId),
        { discard: true },
      )

    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const layerScope = yield* Effect.scope

    // Orders initiated on a replica that does not own their shard reach the owner here.
    yield* subscribeToChannel(redis, {
      channel: streamOrdersChannel(redis.keyPrefix),
      onMessage: (orderReqId) => {
        if (holdsShardOf(orderReqId)) start(orderReqId)
      },
      // Announcements may have been missed while the subscriber reconnected.
      onSubscribed: () => {
        if (leases !== undefined) runFork(resync.pipe(Effect.ignore))
      },
    })

    const shardLeaseSet = yield* shardLeases(redis, {
      name: streamShardSet,
      shards: shardCount,
      owner,
      ttlMs: leaseTtlMs,
      ...(options.onClaimLag === undefined ? {} : { onClaimLag: options.onClaimLag }),
      onChange: (change) =>
        Effect.gen(function* () {
          if (change.lost.length > 0) {
            yield* stopShards(change.lost)
            yield* Effect.logWarning("stream shards lost; their streams stopped, another replica takes over").pipe(
              Effect.annotateLogs({ shards: change.lost.length, reason: change.reason ?? "" }),
            )
          }
          if (change.acquired.length > 0) {
            yield* Effect.logInfo("stream shards acquired; holding their live orders' streams").pipe(
              Effect.annotateLogs({ shards: change.acquired.length }),
            )
            // Off the claim loop: reading live-orders must not delay the next claim.
            yield* startShards(new Set(change.acquired)).pipe(Effect.ignore, Effect.forkIn(layerScope))
          }
        }),
    })
    leases = shardLeaseSet

    const resync = Effect.gen(function* () {
      const owned = yield* shardLeaseSet.owned
      if (owned.size > 0) yield* startShards(owned)
    })
    yield* resync.pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(resyncInterval)),
      Effect.delay(resyncInterval),
      Effect.forkScoped,
    )

    const announce = (orderReqId: string) =>
      redis
        .use("PUBLISH", (client) => client.publish(streamOrdersChannel(redis.keyPrefix), orderReqId))
        .pipe(Effect.timeout("1 second"), Effect.ignore)

    const ensure = (orderReqId: string) =>
      origins
        .remember(orderReqId)
        .pipe(
          Effect.andThen(
            Effect.suspend(() =>
              holdsShardOf(orderReqId) ? Effect.sync(() => start(orderReqId)) : announce(orderReqId),
            ),
          ),
        )

    yield* Effect.logInfo("stream holder ready").pipe(
      Effect.annotateLogs({ replica: owner, leaseTtlMs, shards: shardCount }),
    )

    return StreamHolder.of({
      ensure,
      isHolding: (orderReqId) => Effect.sync(() => holdsShardOf(orderReqId) && FiberMap.hasUnsafe(holders, orderReqId)),
      size: FiberMap.size(holders),
      shards: shardLeaseSet.owned,
      owner,
    })
  })

  /** `STREAM_LEASE_TTL_SECONDS`, `STREAM_SHARDS`; the owner token names the host and REST port (unique per process). */
  static readonly layer: Layer.Layer<
    StreamHolder,
    never,
    OrderEventLog | OrderStore | ProcessorClient | Redis | RequestorConfig
  > = Layer.effect(
    StreamHolder,
    Effect.gen(function* () {
      const config = yield* RequestorConfig
      const claimLag = (yield* Metrics.orUnscraped).catalogue.shardClaimLag
      return yield* StreamHolder.make({
        leaseTtl: Duration.seconds(config.streamLeaseTtlSeconds),
        shards: config.streamShards,
        onClaimLag: (lagMs) => claimLag.observe(lagMs / 1000),
        owner: `requestor@${hostname()}:${config.httpPort}/${randomUUID().slice(0, 8)}`,
      })
    }),
  )
}
