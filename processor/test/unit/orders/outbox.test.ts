import { describe, expect, it } from "vitest"
import type { OrderEventRecord } from "../../../../shared/src/orders/events.ts"
import type { OutboxIntent } from "../../../src/orders/decision.ts"
import type { OrderDetails } from "../../../src/orders/model.ts"
import { outboxEntries, proposalFailure } from "../../../src/orders/outbox.ts"

const details: OrderDetails = {
  orderReqId: "ORD-1",
  sessionId: "SESSION-1",
  buyerId: "B",
  notificationType: "GChat",
  industry: "Steel",
  location: { lat: 1, lng: 2 },
  priority: "LOW",
  products: [],
  deliveryDate: "",
}

const record = (
  seq: number,
  status: OrderEventRecord["status"],
  extra: Partial<OrderEventRecord> = {},
): OrderEventRecord => ({
  orderReqId: "ORD-1",
  seq,
  eventId: `event-${seq}`,
  status,
  occurredAt: "2030-01-01T00:00:00.000Z",
  message: `message ${seq}`,
  details: { Reason: "buyer" },
  ...extra,
})

describe("outbox entries of a decision", () => {
  it("one message per intent, keyed by the order, with the event's seq and a per-seller EventID", () => {
    const intents: Array<OutboxIntent> = [
      {
        _tag: "EventMessage",
        eventIndex: 0,
        topic: "SELLER_NOTIFY",
        key: "PRP_REQUEST",
        sellerId: "S-1",
        message: "Paused",
      },
      { _tag: "EventMessage", eventIndex: 0, topic: "SELLER_NOTIFY", key: "PRP_REQUEST", sellerId: "S-2" },
      { _tag: "EventMessage", eventIndex: 5, topic: "SELLER_NOTIFY", key: "PRP_REQUEST", sellerId: "S-3" },
    ]
    const entries = outboxEntries(details, intents, [record(7, "OrderPaused")])
    expect(entries).toHaveLength(2)
    const [first, second] = entries.map((entry) => ({ ...entry, payload: JSON.parse(entry.payload) }))
    expect(first).toMatchObject({
      topic: "SELLER_NOTIFY",
      key: "ORD-1",
      headers: { "event-type": "PRP_REQUEST", "event-id": "event-7:S-1" },
      payload: {
        EventID: "event-7:S-1",
        OrderReqID: "ORD-1",
        SessionID: "SESSION-1",
        Key: "PRP_REQUEST",
        Message: "Paused",
        Seq: 7,
        Status: "OrderPaused",
        SellerID: "S-1",
        Reason: "buyer",
      },
    })
    expect(second?.payload).toMatchObject({ EventID: "event-7:S-2", Message: "message 7", SellerID: "S-2" })
  })

  it("SellersSelected intents become the notifier's SELLER_NOTIFY entries", () => {
    const entries = outboxEntries(
      details,
      [
        {
          _tag: "SellersSelected",
          eventIndex: 0,
          sellers: [{ SellerID: "S-1", Name: "One", DistanceKm: 1.25, DistanceSource: "straight_line" }],
        },
      ],
      [record(1, "SellersSelected")],
    )
    expect(entries).toHaveLength(1)
    expect(JSON.parse(entries[0]!.payload)).toMatchObject({
      EventID: "event-1:S-1",
      Key: "PRP_REQUEST",
      Seq: 1,
      SellerID: "S-1",
      Industry: "Steel",
      Priority: "LOW",
      NotificationType: "GChat",
    })
  })

  it("PRP_FAILURES carries the reason, the status and the original request", () => {
    const entry = proposalFailure({
      orderReqId: "ORD-1",
      sessionId: "",
      operation: "proposal-submission",
      code: "order_paused",
      reason: "order ORD-1 is paused",
      status: 409,
      request: { OrderReqID: "ORD-1" },
      timestamp: "2026-01-02T03:04:05.000Z",
    })
    expect(entry.topic).toBe("PRP_FAILURES")
    expect(entry.headers["event-type"]).toBe("PRP_SUBMISSION")
    expect(JSON.parse(entry.payload)).toMatchObject({
      Key: "PRP_SUBMISSION",
      Code: "order_paused",
      Reason: "order ORD-1 is paused",
      HttpStatus: 409,
      Request: { OrderReqID: "ORD-1" },
      Timestamp: "2026-01-02T03:04:05.000Z",
    })
  })
})
