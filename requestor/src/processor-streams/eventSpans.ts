/**
 * Spans of an order event's way through the requestor, each continuing the trace the event
 * carries (`OrderEventRecord.traceContext`, W3C `traceparent`), so one trace runs from the
 * request that caused the event on the processor to the buyer:
 *
 * - `receive OrderEvent` (CONSUMER): the processor's stream delivered the event; recording it
 *   (and the `BUYER_NOTIFY` / `BUYER_FOLLOWUP` outbox entries written with it) happens inside, so
 *   the recorded event and those entries carry this span's context onwards;
 * - `deliver OrderEvent` (PRODUCER): the open watches (`WatchOrder` and SSE) hand the recorded
 *   event to buyers' clients; one span per event however many watch it (`dcent.watches`).
 *
 * And the link from the request that asked for an order's stream (`POST /api/v1/initiate`) to
 * the `ProcessOrderStream` call it causes: the stream holder runs apart from the request (and
 * for the order's whole life, so it does not run inside the request's span), but the span that
 * asked is remembered and becomes the parent of the next call's client span (`StreamOrigins`).
 */
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import { continueFrom, currentSpanOption, noStackTrace } from "@dcent/shared/telemetry/traceContext"
import { Effect, Stream, Tracer } from "effect"

export const eventAttributes = (record: OrderEventRecord) => ({
  "dcent.order_req_id": record.orderReqId,
  "dcent.event.seq": record.seq,
  "dcent.event.status": record.status,
  "dcent.event.id": record.eventId,
})

/** Runs `effect` (recording `record`) in the event's `receive` span. */
export const withReceiveSpan =
  (record: OrderEventRecord) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withSpan(effect, "receive OrderEvent", {
      ...noStackTrace,
      ...continueFrom(record.traceContext),
      kind: "consumer",
      attributes: {
        ...eventAttributes(record),
        "rpc.system": "grpc",
        "rpc.service": "dcent.orders.v1.OrderStreamingService",
        "rpc.method": "ProcessOrderStream",
      },
    })

/** Marks the delivery of `record` to the clients of `watches` open watches (one span per event, not per watch). */
export const deliverySpan = (record: OrderEventRecord, watches: number): Effect.Effect<void> =>
  Effect.void.pipe(
    Effect.withSpan(
      "deliver OrderEvent",
      {
        ...continueFrom(record.traceContext),
        kind: "producer",
        attributes: { ...eventAttributes(record), "dcent.watches": watches },
      },
      noStackTrace,
    ),
  )

/** The span that last asked for each order's stream, until its next stream call takes it. */
export class StreamOrigins {
  private readonly byOrder = new Map<string, Tracer.AnySpan>()
  /** Orders asked for and never streamed here (e.g. another replica holds them) are forgotten beyond this. */
  private readonly limit: number

  constructor(limit = 10_000) {
    this.limit = limit
  }

  /** Remembers the current span (if any) as the origin of the order's next stream call. */
  remember(orderReqId: string): Effect.Effect<void> {
    return Effect.flatMap(currentSpanOption, (span) =>
      Effect.sync(() => {
        if (span === undefined) return
        this.byOrder.delete(orderReqId)
        this.byOrder.set(orderReqId, span)
        if (this.byOrder.size > this.limit) {
          const oldest = this.byOrder.keys().next().value
          if (oldest !== undefined) this.byOrder.delete(oldest)
        }
      }),
    )
  }

  /** The order's origin, once. */
  take(orderReqId: string): Tracer.AnySpan | undefined {
    const span = this.byOrder.get(orderReqId)
    this.byOrder.delete(orderReqId)
    return span
  }
}

/** Runs `stream` (its call) as a child of `origin` when there is one. */
export const withOrigin =
  (origin: Tracer.AnySpan | undefined) =>
  <A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
    origin === undefined ? stream : Stream.provideService(stream, Tracer.ParentSpan, origin)
