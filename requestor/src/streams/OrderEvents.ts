/**
 * The public read side: an order's recorded events after a seq, then the live ones, ending after
 * `OrderFinalised`. `WatchOrder` (gRPC) and SSE (`GET /api/v1/orders/{id}/events`) both read it;
 * both sit on `OrderEventLog.follow`, so they never skip or repeat an event and agree with each
 * other and with `GET /api/v1/orders/{id}`.
 *
 * `shutdown` ends every open watch (cleanly: the client resumes elsewhere with its last seq), so
 * the servers do not wait for long-lived streams when the service stops.
 */
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import { isTerminalStatus, type OrderEventRecord } from "@dcent/shared/orders/events"
import { Context, Deferred, Effect, Layer, Stream } from "effect"
import { NotFound, Unavailable } from "../orders/errors.ts"
import { OrderStore } from "../orders/OrderStore.ts"

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
}

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
        Stream.catch((error) => Stream.fromEffect(toUnavailable(error))),
        Stream.interruptWhen(Deferred.await(stopping)),
      )
      return { events, complete: false }
    })

    return OrderEvents.of({ watch, shutdown: Deferred.succeed(stopping, undefined).pipe(Effect.asVoid) })
  })

  static readonly layer: Layer.Layer<OrderEvents, never, OrderEventLog | OrderStore> = Layer.effect(
    OrderEvents,
    OrderEvents.make,
  )
}
