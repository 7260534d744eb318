/**
 * The public read side: an order's recorded events after a seq, then the live ones, ending after
 * `OrderFinalised`. `WatchOrder` (gRPC) and SSE (`GET /api/v1/orders/{id}/events`) both read it;
 * both sit on `OrderEventLog.follow`, so they never skip or repeat an event and agree with each
 * other and with `GET /api/v1/orders/{id}`.
 *
 * `shutdown` ends every open watch (drain, SIGTERM), so the servers do not wait for long-lived
 * streams when the service stops; `signalReconnect` adds the "reconnect elsewhere from your last
 * seq" signal each protocol sends then.
 */
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import {
  type Catalogue,
  type DeliveryStages,
  DisconnectReasons,
  type StreamKinds,
} from "@dcent/shared/metrics/catalogue"
import { trackEventStream } from "@dcent/shared/metrics/streams"
import { isTerminalStatus, type OrderEventRecord } from "@dcent/shared/orders/events"
import { Context, Deferred, Effect, Layer, Stream } from "effect"
import { NotFound, Unavailable } from "../orders/errors.ts"
import { OrderStore } from "../orders/OrderStore.ts"
import { deliverySpan } from "./eventSpans.ts"

export interface WatchResult {
  /** The events; ends after `OrderFinalised`, or at shutdown. Fails when Redis fails mid-way. */
  readonly events: Stream.Stream<OrderEventRecord, Unavailable>
  /** True when the order is finalised and nothing follows `fromSeq` (SSE answers 204 then). */
  readonly complete: boolean
}

export interface OrderEventsShape {
  /** NOT_FOUND for an unknown order. */
  readonly watch: (orderReqId: string, fromSeq: number) => Effect.Effect<WatchResult, NotFound | Unavailable>
  /** Ends every open watch. */
  readonly shutdown: Effect.Effect<void>
  /** True once `shutdown` ran: a watch that ended before `OrderFinalised` was cut short by it. */
  readonly isShuttingDown: () => boolean
}

/**
 * Stream metrics of a public watch (`dcent_streams_open`, `dcent_stream_disconnects_total`, the
 * delivery latency of live events): a watch interrupted before `OrderFinalised` lost its client;
 * one that ends early was ended by shutdown.
 */
export const trackWatch = (
  catalogue: Catalogue,
  kind: typeof StreamKinds.Sse | typeof StreamKinds.WatchOrder,
  stage: typeof DeliveryStages.Sse | typeof DeliveryStages.WatchOrder,
) =>
  trackEventStream<OrderEventRecord>(catalogue, {
    kind,
    stage,
    occurredAt: (record) => record.occurredAt,
    isTerminal: (record) => isTerminalStatus(record.status),
    onInterrupt: DisconnectReasons.ClientClosed,
    onEarlyEnd: DisconnectReasons.Shutdown,
    liveOnly: true,
  })

/**
 * Appends `onCutShort(lastSeq)` to `events` when they ended without `OrderFinalised` because the
 * service is shutting down — the "reconnect elsewhere" signal of WatchOrder (UNAVAILABLE) and SSE
 * (`event: reconnect`). `lastSeq` is the seq of the last event sent (or `fromSeq`).
 */
export const signalReconnect = <E, R, B, E2>(
  events: Stream.Stream<OrderEventRecord, E, R>,
  fromSeq: number,
  isShuttingDown: () => boolean,
  onCutShort: (lastSeq: number) => Stream.Stream<B, E2>,
): Stream.Stream<OrderEventRecord | B, E | E2, R> =>
  Stream.suspend(() => {
    let lastSeq = fromSeq
    let finalised = false
    return events.pipe(
      Stream.tap((record) =>
        Effect.sync(() => {
          lastSeq = record.seq
          finalised = isTerminalStatus(record.status)
        }),
      ),
      Stream.concat(Stream.suspend(() => (!finalised && isShuttingDown() ? onCutShort(lastSeq) : Stream.empty))),
    )
  })

export class OrderEvents extends Context.Service<OrderEvents, OrderEventsShape>()("dcent/requestor/OrderEvents") {
  static readonly make = Effect.gen(function* () {
    const eventLog = yield* OrderEventLog
    const store = yield* OrderStore
    const stopping = yield* Deferred.make<void>()

    const toUnavailable = (error: { readonly unavailable: boolean; readonly message: string }) =>
      error.unavailable ? Effect.fail(Unavailable.of("redis", error.message)) : Effect.die(error)

    const watch = Effect.fn("OrderEvents.watch")(function* (orderReqId: string, fromSeq: number) {
      const order = yield* store.get(orderReqId)
      if (order === undefined) return yield* NotFound.order(orderReqId)
      const from = Math.max(0, Math.floor(fromSeq))
      if (order.status === "FINALISED") {
        const lastSeq = yield* eventLog.lastSeq(orderReqId).pipe(Effect.catch(toUnavailable))
        if (from >= lastSeq) return { events: Stream.empty, complete: true }
      }
      const events = eventLog.follow(orderReqId, from).pipe(
        Stream.takeUntil((record) => isTerminalStatus(record.status)),
        Stream.tap(deliverySpan),
        Stream.catch((error) => Stream.fromEffect(toUnavailable(error))),
        Stream.interruptWhen(Deferred.await(stopping)),
      )
      return { events, complete: false }
    })

    let shuttingDown = false
    const shutdown = Effect.sync(() => {
      shuttingDown = true
    }).pipe(Effect.andThen(Deferred.succeed(stopping, undefined)), Effect.asVoid)

    return OrderEvents.of({ watch, shutdown, isShuttingDown: () => shuttingDown })
  })

  static readonly layer: Layer.Layer<OrderEvents, never, OrderEventLog | OrderStore> = Layer.effect(
    OrderEvents,
    OrderEvents.make,
  )
}
