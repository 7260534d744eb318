/**
 * The events of an order's lifecycle (spec: "gRPC" → stream statuses) as stored in the event log
 * (`../eventlog`) and carried on the order streams.
 *
 * - `OrderEventRecord` is one committed event: `seq` is its position in the order's log (1, 2, 3
 *   …, no gaps), `eventId` is globally unique and stable across redeliveries.
 * - `EventDraft` is what a caller hands to `OrderEventLog.append`: the log assigns `seq`.
 * - `orderEventToProto` / `orderEventFromProto` convert to and from the generated `OrderEvent`.
 */
import { Effect, Schema } from "effect"
import { OrderEvent, StreamingResponseStatus } from "../generated/dcent/orders/v1/order.ts"

export const eventStatuses = [
  "SellersSelected",
  "NewProposal",
  "ProposalUpdate",
  "ProposalClosed",
  "ProposalAccepted",
  "EditLock",
  "EditUnlock",
  "BuyerFollowUp",
  "SellerFollowUp",
  "OrderPaused",
  "OrderResumed",
  "OrderFinalised",
] as const

export const EventStatus = Schema.Literals(eventStatuses)
export type EventStatus = typeof EventStatus.Type

/** The last event of an order: streams end after it. */
export const isTerminalStatus = (status: EventStatus): boolean => status === "OrderFinalised"

const eventFields = {
  eventId: Schema.NonEmptyString,
  status: EventStatus,
  proposalId: Schema.optionalKey(Schema.String),
  followUpId: Schema.optionalKey(Schema.String),
  /** ISO 8601 */
  occurredAt: Schema.String,
  message: Schema.String,
  details: Schema.Record(Schema.String, Schema.String),
  /**
   * W3C trace context (`traceparent`) of the span that committed the event: set by the event log,
   * carried on the order streams, so a receiver's work on the event joins the same trace.
   */
  traceContext: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
}

/** An event before the log gave it a `seq` (the caller supplies `eventId`, e.g. `crypto.randomUUID()`). */
export const EventDraft = Schema.Struct(eventFields)
export type EventDraft = typeof EventDraft.Type

/** One committed event of an order. */
export const OrderEventRecord = Schema.Struct({
  orderReqId: Schema.NonEmptyString,
  seq: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  ...eventFields,
})
export type OrderEventRecord = typeof OrderEventRecord.Type

/** The record as JSON (what the event log stores). */
export const OrderEventRecordJson = Schema.fromJsonString(OrderEventRecord)

/** A draft made into the record at `seq` of `orderReqId`. */
export const recordOf = (orderReqId: string, seq: number, draft: EventDraft): OrderEventRecord => ({
  orderReqId,
  seq,
  eventId: draft.eventId,
  status: draft.status,
  ...(draft.proposalId === undefined ? {} : { proposalId: draft.proposalId }),
  ...(draft.followUpId === undefined ? {} : { followUpId: draft.followUpId }),
  occurredAt: draft.occurredAt,
  message: draft.message,
  details: draft.details,
  ...(draft.traceContext === undefined ? {} : { traceContext: draft.traceContext }),
})

/**
 * The event's own fields as the services' JSON bodies show them (PascalCase, like every REST
 * body): the processor's event log view and the requestor's SSE `data`.
 */
export const eventBodyOf = (record: OrderEventRecord) => ({
  Seq: record.seq,
  EventID: record.eventId,
  Status: record.status,
  ...(record.proposalId === undefined ? {} : { ProposalID: record.proposalId }),
  ...(record.followUpId === undefined ? {} : { FollowUpID: record.followUpId }),
  OccurredAt: record.occurredAt,
  Message: record.message,
  Details: record.details,
})

/**
 * A draft with a fresh `eventId` and `occurredAt` = `options.occurredAt`, else wall time (the
 * event-log tests; the services' decisions pass the `Clock`'s now through `decision.ts`).
 */
export const makeDraft = (
  status: EventStatus,
  message: string,
  options: {
    readonly proposalId?: string | undefined
    readonly followUpId?: string | undefined
    readonly details?: Readonly<Record<string, string>> | undefined
    readonly occurredAt?: Date | undefined
  } = {},
): EventDraft => ({
  eventId: crypto.randomUUID(),
  status,
  ...(options.proposalId === undefined ? {} : { proposalId: options.proposalId }),
  ...(options.followUpId === undefined ? {} : { followUpId: options.followUpId }),
  occurredAt: (options.occurredAt ?? new Date()).toISOString(),
  message,
  details: { ...options.details },
})

// --- proto ---------------------------------------------------------------------------------

const toProtoStatus: Record<EventStatus, StreamingResponseStatus> = {
  SellersSelected: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_SELLERS_SELECTED,
  NewProposal: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_NEW_PROPOSAL,
  ProposalUpdate: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_PROPOSAL_UPDATE,
  ProposalClosed: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_PROPOSAL_CLOSED,
  ProposalAccepted: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_PROPOSAL_ACCEPTED,
  EditLock: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_EDIT_LOCK,
  EditUnlock: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_EDIT_UNLOCK,
  BuyerFollowUp: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_BUYER_FOLLOW_UP,
  SellerFollowUp: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_SELLER_FOLLOW_UP,
  OrderPaused: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_ORDER_PAUSED,
  OrderResumed: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_ORDER_RESUMED,
  OrderFinalised: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_ORDER_FINALISED,
}

const fromProtoStatus = new Map<StreamingResponseStatus, EventStatus>(
  eventStatuses.map((status) => [toProtoStatus[status], status]),
)

export const eventStatusToProto = (status: EventStatus): StreamingResponseStatus => toProtoStatus[status]

/** `undefined` for `UNSPECIFIED`, `UNRECOGNIZED` and values this build does not know. */
export const eventStatusFromProto = (status: StreamingResponseStatus): EventStatus | undefined =>
  fromProtoStatus.get(status)

/** A proto `OrderEvent` that is not a valid `OrderEventRecord`. */
export class InvalidOrderEvent extends Schema.TaggedError<InvalidOrderEvent>()("InvalidOrderEvent", {
  orderReqId: Schema.String,
  seq: Schema.Number,
  reason: Schema.String,
}) {
  override get message() {
    return `invalid order event ${this.orderReqId}#${this.seq}: ${this.reason}`
  }
}

/** Empty `proposalId` / `followUpId` mean "not set" on the wire. */
export const orderEventToProto = (record: OrderEventRecord): OrderEvent =>
  OrderEvent.fromPartial({
    orderReqId: record.orderReqId,
    seq: record.seq,
    eventId: record.eventId,
    streamingResponseStatus: eventStatusToProto(record.status),
    proposalId: record.proposalId ?? "",
    followUpId: record.followUpId ?? "",
    occurredAt: new Date(record.occurredAt),
    message: record.message,
    details: { ...record.details },
    traceContext: { ...record.traceContext },
  })

/**
 * The generated decoder already gave every field its type (strings, a string map); what
 * `OrderEventRecord` adds is checked here directly: a known status, a valid time, a non-empty id
 * and event id, a seq ≥ 1. (A full schema decode per streamed event was ~2 % of the requestor's
 * CPU on the write path, profiled.)
 */
export const orderEventFromProto = (event: OrderEvent): Effect.Effect<OrderEventRecord, InvalidOrderEvent> => {
  const invalid = (reason: string) =>
    Effect.fail(new InvalidOrderEvent({ orderReqId: event.orderReqId, seq: Number(event.seq), reason }))
  const status = eventStatusFromProto(event.streamingResponseStatus)
  if (status === undefined) return invalid(`unknown streaming_response_status ${event.streamingResponseStatus}`)
  const occurredAt = event.occurredAt
  if (occurredAt === undefined || Number.isNaN(occurredAt.getTime())) return invalid("occurred_at is missing")
  const seq = Number(event.seq)
  if (!Number.isSafeInteger(seq) || seq < 1) return invalid(`seq must be an integer >= 1, got ${event.seq}`)
  if (event.orderReqId === "") return invalid("order_req_id is empty")
  if (event.eventId === "") return invalid("event_id is empty")
  const traceContext = event.traceContext ?? {}
  return Effect.succeed({
    orderReqId: event.orderReqId,
    seq,
    eventId: event.eventId,
    status,
    ...(event.proposalId === "" ? {} : { proposalId: event.proposalId }),
    ...(event.followUpId === "" ? {} : { followUpId: event.followUpId }),
    occurredAt: occurredAt.toISOString(),
    message: event.message,
    details: { ...event.details },
    ...(Object.keys(traceContext).length === 0 ? {} : { traceContext: { ...traceContext } }),
  })
}
