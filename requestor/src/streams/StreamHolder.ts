/**
 * Holds exactly one `ProcessOrderStream` per live order in this process (a `FiberMap` keyed by
 * the OrderReqID) and records every received event once in the buyer-facing event log.
 *
 * One holder's life:
 *
 *   read the order ─▶ from_seq = last recorded seq ─▶ ProcessOrderStream(details, from_seq)
 *        ▲                                              │ each event: OrderEventLog.record
 *        │                                              │ (+ BUYER_NOTIFY / BUYER_FOLLOWUP,
 *        └── backoff (exponential, jittered, ≤ 5 s) ◀── │    status writes, atomically)
 *            on any break: error, end of stream,        ▼
 *            Redis trouble, a seq gap             OrderFinalised ─▶ done
 *
 * A reconnect always resumes from the last *recorded* seq, so a break loses nothing and a
 * redelivered event is a "duplicate" (recorded once). The backoff starts over after a stream
 * that delivered events. Start-up resumes every order in `live-orders`; a periodic re-scan heals
 * holders that stopped (e.g. an order initiated by another replica).
 */
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import { isTerminalStatus, orderEventFromProto } from "@dcent/shared/orders/events"
import { Context, Duration, Effect, FiberMap, Layer, Ref, Schedule, Stream } from "effect"
import { isLive } from "../orders/domain.ts"
import { dropLiveWrite, OrderStore } from "../orders/OrderStore.ts"
import { ProcessorClient } from "../processor/ProcessorClient.ts"
import { commitFor, streamRequestFor } from "./recording.ts"

export interface StreamHolderShape {
  /** Starts the order's holder unless one runs already (idempotent). */
  readonly ensure: (orderReqId: string) => Effect.Effect<void>
  /** Whether a holder runs for the order in this process. */
  readonly isHolding: (orderReqId: string) => Effect.Effect<boolean>
  /** How many holders run. */
  readonly size: Effect.Effect<number>
}

export interface StreamHolderOptions {
  /** First reconnect delay (default 200 ms); doubles per failed attempt, ±20 % jitter. */
  readonly retryBase?: Duration.Input
  /** Longest reconnect delay (default 5 s). */
  readonly retryCap?: Duration.Input
  /** Re-scan of `live-orders` (default 30 s). */
  readonly rescanInterval?: Duration.Input
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
    const holders = yield* FiberMap.make<string>()
    const retryBase = options.retryBase ?? "200 millis"
    const retryCap = options.retryCap ?? "5 seconds"

    const backoff = Schedule.min([Schedule.exponential(retryBase).pipe(Schedule.jittered), Schedule.spaced(retryCap)])

    /** One connection: open, record until it breaks or the order is finalised. */
    const session = (orderReqId: string): Effect.Effect<SessionEnd> =>
      Effect.gen(function* () {
        const order = yield* store.get(orderReqId)
        if (order === undefined) return { _tag: "NotLive", reason: "the order is unknown" } as const
        if (!isLive(order.status)) return { _tag: "NotLive", reason: `the order is ${order.status}` } as const
        const fromSeq = yield* eventLog.lastSeq(orderReqId)
        const recorded = yield* Ref.make(0)
        const finalised = yield* Ref.make(false)
        yield* Effect.logDebug("opening order stream").pipe(Effect.annotateLogs({ fromSeq }))

        const outcome = yield* processor.openStream(streamRequestFor(order, fromSeq)).pipe(
          Stream.mapEffect((event) =>
            Effect.gen(function* () {
              const record = yield* orderEventFromProto(event)
              if (record.orderReqId !== orderReqId) {
                return yield* Effect.fail(
                  new Error(`stream of ${orderReqId} delivered an event of ${record.orderReqId}`),
                )
              }
              const result = yield* eventLog.record(record, commitFor(order, record))
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

    const hold = (orderReqId: string) =>
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
      }).pipe(Effect.annotateLogs({ orderReqId }), Effect.withSpan("StreamHolder.hold", { attributes: { orderReqId } }))

    // Holders run with the layer's context (not the caller's: an HTTP request ends, its order's
    // stream must not), and are interrupted when the layer is released.
    const runHolder = yield* FiberMap.runtime(holders)<never>()
    const ensure = (orderReqId: string) =>
      Effect.sync(() => {
        runHolder(orderReqId, hold(orderReqId), { onlyIfMissing: true })
      })

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
        resumeLive.pipe(
          Effect.ignore,
          Effect.repeat(Schedule.spaced(options.rescanInterval ?? "30 seconds")),
          Effect.delay(options.rescanInterval ?? "30 seconds"),
        ),
      ),
      Effect.forkScoped,
    )

    return StreamHolder.of({
      ensure,
      isHolding: (orderReqId) => FiberMap.has(holders, orderReqId),
      size: FiberMap.size(holders),
    })
  })

  static readonly layer: Layer.Layer<StreamHolder, never, OrderEventLog | OrderStore | ProcessorClient> = Layer.effect(
    StreamHolder,
    StreamHolder.make(),
  )
}
