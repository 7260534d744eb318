/**
 * Holds the `ProcessOrderStream` of the live orders whose stream lease this replica owns, and
 * records every received event once in the buyer-facing event log. Several requestor replicas
 * share one Redis: each live order's stream is held by exactly one of them at a time.
 *
 * Per live order, every replica runs one fiber (a `FiberMap` keyed by the OrderReqID):
 *
 *        ┌──────────────────────── order not live (unknown, FINALISED) ─▶ done
 *        ▼
 *   read the order ─▶ take the lease `lease:order-stream:{id}` (`Lease`: set with PX if free,
 *        ▲                 │ owner token)
 *        │                 │ Redis unreachable: back off (200 ms doubling to 5 s), try again
 *        │                 │ busy: another replica holds it
 *        │                 ├──▶ wait until it would expire (≤ TTL), or a hand-over message ───┐
 *        │                 │                                                                  │
 *        ├─────────────────┼──────────────────────────────────────────────────────────────────┘
 *        │                 ▼ acquired (renewed every TTL/3 while held)
 *        │   read the order ─▶ from_seq = last recorded seq ─▶ ProcessOrderStream(details, from_seq)
 *        │        ▲                                              │ each event: OrderEventLog.record
 *        │        │                                              │ (+ BUYER_NOTIFY / BUYER_FOLLOWUP,
 *        │        └── backoff (exponential, jittered, ≤ 5 s) ◀── │    status writes, atomically)
 *        │            on any break: error, end of stream,        ▼
 *        │            Redis trouble, a seq gap             OrderFinalised ─▶ release ─▶ done
 *        │                                  (every release is announced on `<prefix>stream-handover`)
 *        │
 *        └── lease lost (a renewal found another owner, or none succeeded in time): the stream
 *            is cut at once, and the replica goes back to waiting
 *
 * A (re)connect always resumes from the last *recorded* seq, and the log is shared in Redis, so
 * a break or a hand-over to another replica loses nothing, and a redelivered event is a
 * "duplicate" (recorded once) — even in the short overlap a paused, expired holder could cause.
 * The backoff starts over after a stream that delivered events.
 *
 * Hand-over: a replica that dies stops renewing, and a waiting replica takes over when the lease
 * expires (within `STREAM_LEASE_TTL_SECONDS`, default 6). A replica that stops gracefully (the
 * layer is released after the drain) releases its leases and publishes each order on
 * `<prefix>stream-handover` (one subscriber connection per replica, `redis/subscriber.ts`), which
 * wakes the waiting replicas at once (and starts the order's fiber on a replica that had not seen
 * the order yet).
 * Start-up and a periodic re-scan of `live-orders` (every TTL/2) start the fibers of orders
 * initiated elsewhere.
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { Lease } from "@dcent/shared/coordination/Lease"
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import { isTerminalStatus, orderEventFromProto } from "@dcent/shared/orders/events"
import { Redis } from "@dcent/shared/redis/Redis"
import { subscribeToChannel } from "@dcent/shared/redis/subscriber"
import { Context, Duration, Effect, FiberMap, Layer, Ref, Schedule, Stream } from "effect"
import { RequestorConfig } from "../config.ts"
import { isLive } from "../orders/domain.ts"
import { dropLiveWrite, OrderStore } from "../orders/OrderStore.ts"
import { ProcessorClient } from "../processor/ProcessorClient.ts"
import { StreamOrigins, withOrigin, withReceiveSpan } from "./eventSpans.ts"
import { commitFor, streamRequestFor } from "./recording.ts"

export interface StreamHolderShape {
  /**
   * Starts the order's fiber unless one runs already (idempotent): it holds the order's stream
   * when it gets the lease, else waits for the lease to come free.
   */
  readonly ensure: (orderReqId: string) => Effect.Effect<void>
  /** Whether this replica owns the order's stream lease (and so holds its stream). */
  readonly isHolding: (orderReqId: string) => Effect.Effect<boolean>
  /** How many order streams this replica holds. */
  readonly size: Effect.Effect<number>
  /** This replica's owner token in the stream leases (`requestor@host:httpPort/random`). */
  readonly owner: string
}

/** The lease (see `@dcent/shared/coordination/Lease`) of an order's stream. */
export const streamLeaseName = (orderReqId: string) => `order-stream:${orderReqId}`

/** Pub/sub channel (not prefixed by ioredis, so the prefix is part of the name) of released leases. */
export const handoverChannel = (keyPrefix: string) => `${keyPrefix}stream-handover`

export interface StreamHolderOptions {
  /** First reconnect delay (default 200 ms); doubles per failed attempt, ±20 % jitter. */
  readonly retryBase?: Duration.Input
  /** Longest reconnect delay (default 5 s). */
  readonly retryCap?: Duration.Input
  /** Re-scan of `live-orders` (default: half the lease TTL). */
  readonly rescanInterval?: Duration.Input
  /** Stream lease TTL (default 6 s), renewed every third of it. */
  readonly leaseTtl?: Duration.Input
  /** Owner token in the leases (default `requestor@<host>/<random>`); unique per process. */
  readonly owner?: string
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
    const lease = yield* Lease
    const redis = yield* Redis
    const holders = yield* FiberMap.make<string>()
    const retryBase = options.retryBase ?? "200 millis"
    const retryCap = options.retryCap ?? "5 seconds"
    const leaseTtlMs = Math.max(
      3,
      Math.round(Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "6 seconds"))),
    )
    const rescanInterval = options.rescanInterval ?? Duration.millis(Math.ceil(leaseTtlMs / 2))
    const owner = options.owner ?? `requestor@${hostname()}/${randomUUID().slice(0, 8)}`
    /** Orders whose lease this replica owns now. */
    const held = new Set<string>()
    /** The span that asked for an order's stream (e.g. `POST /api/v1/initiate`): its next call joins that trace. */
    const origins = new StreamOrigins()

    const backoff = Schedule.min([Schedule.exponential(retryBase).pipe(Schedule.jittered), Schedule.spaced(retryCap)])

    /** One connection: open, record until it breaks or the order is finalised. */
    const session = (orderReqId: string): Effect.Effect<SessionEnd> =>
      Effect.gen(function* () {
        const order = yield* store.get(orderReqId)
        if (order === undefined) return { _tag: "NotLive", reason: "the order is unknown" } as const
        if (!isLive(order.status)) return { _tag: "NotLive", reason: `the order is ${order.status}` } as const
        const fromSeq = yield* eventLog.lastSeq(orderReqId)
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
          yield* Effect.sleep(Duration.times(Duration.fromInputUnsafe(retryBase), 0.8 + Math.random() * 0.4))
        }
      }).pipe(Effect.withSpan("StreamHolder.hold", { attributes: { orderReqId } }))

    // --- hand-over: a released lease wakes the replicas waiting for it --------------------------

    const wakers = new Map<string, () => void>()
    /** Starts an order's fiber from outside Effect (set once the fiber map's runtime exists). */
    let startTending: ((orderReqId: string) => void) | undefined
    const channel = handoverChannel(redis.keyPrefix)
    yield* subscribeToChannel(redis, {
      channel,
      onMessage: (orderReqId) => {
        const wake = wakers.get(orderReqId)
        // An order initiated elsewhere may not have a fiber here yet (the re-scan would start it later).
        if (wake === undefined) startTending?.(orderReqId)
        else wake()
      },
    })

    /** Sleeps `ms`, or less when the order's lease is handed over. */
    const waitForLease = (orderReqId: string, ms: number) =>
      Effect.callback<void>((resume) => {
        const wake = () => resume(Effect.void)
        wakers.set(orderReqId, wake)
        return Effect.sync(() => {
          if (wakers.get(orderReqId) === wake) wakers.delete(orderReqId)
        })
      }).pipe(Effect.timeoutOption(Duration.millis(ms)), Effect.asVoid)

    const announceRelease = (orderReqId: string) =>
      redis
        .use("PUBLISH", (client) => client.publish(channel, orderReqId))
        .pipe(Effect.timeout("1 second"), Effect.ignore)

    // --- one fiber per live order: hold its stream under the lease, or wait for the lease -------

    /** Holds the stream while owning the lease; `held` says so meanwhile. */
    const holding = (orderReqId: string, takingOver: boolean) =>
      Effect.acquireUseRelease(
        Effect.sync(() => held.add(orderReqId)).pipe(
          Effect.andThen(
            takingOver ? Effect.logInfo("took the order's stream over from another replica") : Effect.void,
          ),
        ),
        () => stream(orderReqId),
        () => Effect.sync(() => held.delete(orderReqId)),
      )

    /** What one round of `tend` ended with. */
    type Round =
      | { readonly _tag: "Done" }
      | { readonly _tag: "Wait"; readonly ms: number; readonly holder?: string }
      | { readonly _tag: "Trouble"; readonly reason: string }

    const round = (orderReqId: string, standingBy: boolean): Effect.Effect<Round> =>
      Effect.gen(function* () {
        const order = yield* store.get(orderReqId)
        if (order === undefined || !isLive(order.status)) {
          // Finished (e.g. finalised on another replica) or gone: nothing to hold. Keep `live-orders` honest.
          yield* eventLog.append(orderReqId, [], { writes: [dropLiveWrite(orderReqId)] }).pipe(Effect.ignore)
          return { _tag: "Done" } as const
        }
        let acquired = false
        const result = yield* lease
          .hold(
            streamLeaseName(orderReqId),
            owner,
            Effect.suspend(() => {
              acquired = true
              return holding(orderReqId, standingBy)
            }),
            { ttlMs: leaseTtlMs },
          )
          // Released (finalised, lost, or a graceful stop): whoever waits may take over now.
          .pipe(Effect.ensuring(Effect.suspend(() => (acquired ? announceRelease(orderReqId) : Effect.void))))
        if (result._tag === "Held") return { _tag: "Done" } as const
        // Come back when the holder's lease would expire (a live holder renews it before), or when woken.
        const ms = Math.min(result.remainingMs, leaseTtlMs) + 10 + Math.floor(Math.random() * 50)
        return { _tag: "Wait", ms, holder: result.owner } as const
      }).pipe(
        Effect.catchTag("LeaseLost", (lost) =>
          Effect.logWarning("stream lease lost; the stream stopped, another replica takes over").pipe(
            Effect.annotateLogs({ reason: lost.reason }),
            Effect.as({ _tag: "Wait", ms: 0 } as const),
          ),
        ),
        Effect.catch((error) => Effect.succeed({ _tag: "Trouble", reason: messageOf(error) } as const)),
      )

    const tend = (orderReqId: string) =>
      Effect.gen(function* () {
        let troubles = 0
        let standingBy = false
        while (true) {
          const outcome = yield* round(orderReqId, standingBy)
          if (outcome._tag === "Done") return
          if (outcome._tag === "Trouble") {
            troubles += 1
            if (troubles === 1 || troubles % 20 === 0) {
              yield* Effect.logWarning("cannot reach the order or its stream lease; retrying").pipe(
                Effect.annotateLogs({ attempt: troubles, reason: outcome.reason }),
              )
            }
            const delayMs = Math.min(
              Duration.toMillis(Duration.fromInputUnsafe(retryCap)),
              Duration.toMillis(Duration.fromInputUnsafe(retryBase)) * 2 ** Math.min(troubles, 10),
            )
            yield* Effect.sleep(Duration.millis(delayMs * (0.8 + Math.random() * 0.4)))
            continue
          }
          troubles = 0
          if (!standingBy) {
            standingBy = true
            yield* Effect.logDebug("another replica holds the order's stream; standing by").pipe(
              Effect.annotateLogs({ holder: outcome.holder }),
            )
          }
          yield* waitForLease(orderReqId, outcome.ms)
        }
      }).pipe(Effect.annotateLogs({ orderReqId, replica: owner }))

    // Holders run with the layer's context (not the caller's: an HTTP request ends, its order's
    // stream must not), and are interrupted when the layer is released.
    const runHolder = yield* FiberMap.runtime(holders)<never>()
    const start = (orderReqId: string) => {
      runHolder(orderReqId, tend(orderReqId), { onlyIfMissing: true })
    }
    startTending = start
    const ensure = (orderReqId: string) =>
      origins.remember(orderReqId).pipe(Effect.andThen(Effect.sync(() => start(orderReqId))))

    const resumeLive = store.liveOrders.pipe(
      Effect.flatMap((ids) => Effect.forEach(ids, ensure, { discard: true }).pipe(Effect.as(ids.length))),
    )

    // Start-up: resume every live order (retrying while Redis is not there yet), then re-scan.
    yield* resumeLive.pipe(
      Effect.tap((count) =>
        count > 0 ? Effect.logInfo("resumed live orders").pipe(Effect.annotateLogs({ count })) : Effect.void,
      ),
      Effect.retry(backoff),
      Effect.andThen(
        resumeLive.pipe(Effect.ignore, Effect.repeat(Schedule.spaced(rescanInterval)), Effect.delay(rescanInterval)),
      ),
      Effect.forkScoped,
    )

    yield* Effect.logInfo("stream holder ready").pipe(Effect.annotateLogs({ replica: owner, leaseTtlMs }))

    return StreamHolder.of({
      ensure,
      isHolding: (orderReqId) => Effect.sync(() => held.has(orderReqId)),
      size: Effect.sync(() => held.size),
      owner,
    })
  })

  /** `STREAM_LEASE_TTL_SECONDS`; the owner token names the host and REST port (unique per process). */
  static readonly layer: Layer.Layer<
    StreamHolder,
    never,
    OrderEventLog | OrderStore | ProcessorClient | Lease | Redis | RequestorConfig
  > = Layer.effect(
    StreamHolder,
    Effect.gen(function* () {
      const config = yield* RequestorConfig
      return yield* StreamHolder.make({
        leaseTtl: Duration.seconds(config.streamLeaseTtlSeconds),
        owner: `requestor@${hostname()}:${config.httpPort}/${randomUUID().slice(0, 8)}`,
      })
    }),
  )
}
