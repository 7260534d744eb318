/**
 * Turns a decision's outbox intents into the topic messages committed with its events (pure:
 * it runs inside `OrderEventLog.append`, once the records' seqs are known).
 */

import { Topics } from "@dcent/shared/broker/topics"
import type { OutboxEntry } from "@dcent/shared/eventlog/types"
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import { eventTopicMessage, MessageKeys, topicMessage } from "@dcent/shared/orders/topicMessage"
import { type OrderToNotify, sellerNotifyEntries } from "../notifications/SellerNotifier.ts"
import type { OutboxIntent } from "./decision.ts"
import type { OrderDetails } from "./model.ts"

export const orderToNotify = (details: OrderDetails): OrderToNotify => ({
  OrderReqID: details.orderReqId,
  SessionID: details.sessionId,
  NotificationType: details.notificationType,
  Industry: details.industry,
  Priority: details.priority,
})

export const outboxEntries = (
  details: OrderDetails,
  intents: ReadonlyArray<OutboxIntent>,
  records: ReadonlyArray<OrderEventRecord>,
): ReadonlyArray<OutboxEntry> =>
  intents.flatMap((intent): ReadonlyArray<OutboxEntry> => {
    const record = records[intent.eventIndex]
    if (record === undefined) return []
    if (intent._tag === "SellersSelected") {
      return sellerNotifyEntries({ order: orderToNotify(details), sellers: intent.sellers, event: record })
    }
    const sellerId = intent.sellerId
    return [
      eventTopicMessage(record, {
        topic: intent.topic,
        key: intent.key,
        sessionId: details.sessionId,
        ...(intent.message === undefined ? {} : { message: intent.message }),
        // One event fanned out to several sellers on one topic: a stable id per seller.
        ...(sellerId === undefined ? {} : { eventId: `${record.eventId}:${sellerId}` }),
        details: { ...intent.details, ...(sellerId === undefined ? {} : { SellerID: sellerId }) },
      }),
    ]
  })

/** A `PRP_FAILURES` message (Key `PRP_SUBMISSION`): a seller-side operation failed. */
export const proposalFailure = (input: {
  readonly orderReqId: string
  readonly sessionId: string
  readonly operation: string
  readonly code: string
  readonly reason: string
  readonly status: number
  readonly details?: ReadonlyArray<{ readonly path: string; readonly problem: string }>
  readonly request: unknown
  /** When it failed (ISO 8601), from the caller's `Clock`. */
  readonly timestamp: string
}): OutboxEntry =>
  topicMessage({
    topic: Topics.ProposalFailures,
    key: MessageKeys.ProposalSubmission,
    orderReqId: input.orderReqId,
    sessionId: input.sessionId,
    message: `${input.operation} failed: ${input.reason}`,
    timestamp: input.timestamp,
    fields: {
      Operation: input.operation,
      Code: input.code,
      Reason: input.reason,
      HttpStatus: input.status,
      Details: input.details ?? [],
      Request: input.request,
    },
  })
