import { describe, expect, it } from "vitest"
import type { OrderEventRecord } from "../../../src/orders/events.ts"
import { eventTopicMessage, MessageKeys, topicMessage } from "../../../src/orders/topicMessage.ts"

const record: OrderEventRecord = {
  orderReqId: "ORD-001",
  seq: 4,
  eventId: "ev-4",
  status: "ProposalUpdate",
  proposalId: "PROP-001",
  occurredAt: "2025-01-02T03:04:05.678Z",
  message: "PROP-001 updated",
  details: { Price: "99", EventID: "must-not-win", Seq: "nope" },
}

describe("topic messages", () => {
  it("builds the spec's payload, headers and key for an event", () => {
    const entry = eventTopicMessage(record, {
      topic: "BUYER_NOTIFY",
      key: MessageKeys.OrderUpdates,
      sessionId: "SESSION-123",
      headers: { traceparent: "00-abc-def-01", "event-type": "ignored" },
    })
    expect(entry.topic).toBe("BUYER_NOTIFY")
    expect(entry.key).toBe("ORD-001")
    expect(entry.headers).toEqual({
      traceparent: "00-abc-def-01",
      "event-type": "ORD_UPDATES",
      "event-id": "ev-4",
      "content-type": "application/json",
    })
    const payload = JSON.parse(entry.payload)
    expect(payload).toEqual({
      EventID: "ev-4",
      OrderReqID: "ORD-001",
      SessionID: "SESSION-123",
      Key: "ORD_UPDATES",
      Message: "PROP-001 updated",
      Timestamp: "2025-01-02T03:04:05.678Z",
      Seq: 4,
      Status: "ProposalUpdate",
      ProposalID: "PROP-001",
      Price: "99",
    })
    // the reserved fields come first, in the spec's order
    expect(Object.keys(payload).slice(0, 7)).toEqual([
      "EventID",
      "OrderReqID",
      "SessionID",
      "Key",
      "Message",
      "Timestamp",
      "Seq",
    ])
  })

  it("lets a fan-out give each message its own stable id and extra details", () => {
    const entry = eventTopicMessage(record, {
      topic: "SELLER_NOTIFY",
      key: MessageKeys.ProposalRequest,
      sessionId: "S",
      eventId: `${record.eventId}:SELLER-001`,
      message: "You were selected",
      details: { SellerID: "SELLER-001" },
    })
    expect(entry.headers["event-id"]).toBe("ev-4:SELLER-001")
    expect(JSON.parse(entry.payload)).toMatchObject({
      EventID: "ev-4:SELLER-001",
      Message: "You were selected",
      SellerID: "SELLER-001",
      Price: "99",
    })
  })

  it("builds messages not tied to an event", () => {
    const entry = topicMessage({
      topic: "REQ_failures",
      key: MessageKeys.OrderSubmission,
      orderReqId: "ORD-9",
      sessionId: "S-9",
      message: "initiate failed",
      timestamp: "2026-01-02T03:04:05.678Z",
      fields: { Request: { OrderReqId: "ORD-9" } },
      details: { Reason: "unknown order" },
    })
    const payload = JSON.parse(entry.payload)
    expect(payload).toMatchObject({
      OrderReqID: "ORD-9",
      SessionID: "S-9",
      Key: "ORD_SUBMISSION",
      Seq: 0,
      Reason: "unknown order",
      Request: { OrderReqId: "ORD-9" },
    })
    expect(payload.EventID).toMatch(/^[0-9a-f-]{36}$/)
    expect(new Date(payload.Timestamp).toISOString()).toBe(payload.Timestamp)
    expect(entry.headers["event-id"]).toBe(payload.EventID)
    expect(entry.key).toBe("ORD-9")
  })
})
