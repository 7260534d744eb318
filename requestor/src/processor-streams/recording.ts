/**
 * What recording one streamed event commits besides the event itself (pure, unit-tested):
 *
 * - topic messages: `BUYER_NOTIFY` (key `ORD_UPDATES`) for every event the buyer should hear,
 *   `BUYER_FOLLOWUP` (key `ORD_UPDATES`) when a seller answered a follow-up;
 * - state writes: the order's status on `OrderPaused` / `OrderResumed` / `OrderFinalised` (the
 *   last one also takes the order out of `live-orders`), and `updatedAt`; its `retention`
 *   membership (added on `OrderFinalised` and an expiry's `OrderPaused`, removed on `OrderResumed`).
 *
 * And the `OrderStreamRequest` that opens (or re-opens) the order's stream.
 */
import { Topics } from "@dcent/shared/broker/topics"
import { OrderStreamRequest } from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { priorityToProto } from "@dcent/shared/orders/domain"
import { type EventStatus, eventStatuses, type OrderEventRecord } from "@dcent/shared/orders/events"
import type { OrderCommitOptions, OutboxEntry, StateWrite } from "@dcent/shared/orders/OrderEventLog"
import { eventTopicMessage, MessageKeys } from "@dcent/shared/orders/topicMessage"
import type { StoredOrder } from "../orders/domain.ts"
import { retentionWrite, statusWrites, touchWrite } from "../orders/OrderStore.ts"

/**
 * The events published on `BUYER_NOTIFY`: every status but the follow-ups (the buyer's own are
 * not news to the buyer; a seller's goes to `BUYER_FOLLOWUP`).
 */
export const buyerNotifyStatuses: ReadonlySet<EventStatus> = new Set<EventStatus>(
  eventStatuses.filter((status) => status !== "BuyerFollowUp" && status !== "SellerFollowUp"),
)

export const sessionOf = (order: StoredOrder): string => order.sessionId ?? order.details.sessionId ?? ""

/** The topic messages of one recorded event. */
export const messagesFor = (sessionId: string, record: OrderEventRecord): ReadonlyArray<OutboxEntry> => {
  if (record.status === "SellerFollowUp") {
    return [eventTopicMessage(record, { topic: Topics.BuyerFollowUp, key: MessageKeys.OrderUpdates, sessionId })]
  }
  if (buyerNotifyStatuses.has(record.status)) {
    return [eventTopicMessage(record, { topic: Topics.BuyerNotify, key: MessageKeys.OrderUpdates, sessionId })]
  }
  return []
}

/** The state writes of one recorded event. */
export const writesFor = (record: OrderEventRecord): ReadonlyArray<StateWrite> => {
  switch (record.status) {
    case "OrderPaused":
      return [
        ...statusWrites(record.orderReqId, "PAUSED", record.occurredAt),
        // Paused by expiry: the order ended (unless resumed) and retention starts.
        ...(record.details.Reason === "expired" ? [retentionWrite(record.orderReqId, record.occurredAt)] : []),
      ]
    case "OrderResumed":
      return [
        ...statusWrites(record.orderReqId, "SUBMITTED", record.occurredAt),
        retentionWrite(record.orderReqId, undefined),
      ]
    case "OrderFinalised":
      return [
        ...statusWrites(record.orderReqId, "FINALISED", record.occurredAt),
        retentionWrite(record.orderReqId, record.occurredAt),
      ]
    default:
      return [touchWrite(record.orderReqId, record.occurredAt)]
  }
}

/** `sessionId`: the order's session (`sessionOf`), carried by its topic messages. */
export const commitFor = (sessionId: string, record: OrderEventRecord): OrderCommitOptions => ({
  writes: writesFor(record),
  outbox: (records) => records.flatMap((committed) => messagesFor(sessionId, committed)),
})

/** Opens the order on the processor (idempotently) and asks for its events after `fromSeq`. */
export const streamRequestFor = (order: StoredOrder, fromSeq: number): OrderStreamRequest => {
  const { details } = order
  return OrderStreamRequest.fromPartial({
    orderReqId: details.orderReqId,
    sessionId: sessionOf(order),
    buyerId: details.buyerId,
    notificationType: order.notificationType ?? details.notificationType ?? "",
    industry: details.industry,
    location: { lat: details.location.lat, lng: details.location.lng },
    priority: priorityToProto(details.priority),
    products: details.products.map((product) => ({
      productId: product.productId ?? "",
      name: product.name,
      quantity: product.quantity,
      unit: product.unit ?? "",
      attributes: { ...product.attributes },
    })),
    deliveryDate: details.deliveryDate,
    fromSeq,
  })
}
