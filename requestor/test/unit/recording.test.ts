/**
 * What the stream holder commits with each recorded event, the request that (re)opens a stream,
 * and the SSE wire format.
 */

import { liveOrdersKeyOf, retentionKeyOf } from "@dcent/shared/archive/Archiver"
import { Priority as ProtoPriority } from "@dcent/shared/generated/dcent/orders/v1/order"
import { eventStatuses, type OrderEventRecord } from "@dcent/shared/orders/events"
import { describe, expect, it } from "vitest"
import { sseMessage } from "../../src/buyer-streams/sse.ts"
import type { StoredOrder } from "../../src/orders/domain.ts"
import { followUpFingerprint } from "../../src/orders/fingerprint.ts"
import { Keys } from "../../src/orders/OrderStore.ts"
import {
  commitFor,
  messagesFor,
  sessionOf,
  streamRequestFor,
  writesFor,
} from "../../src/processor-streams/recording.ts"

const order: StoredOrder = {
  details: {
    orderReqId: "ORD-7",
    buyerId: "B-7",
    industry: "Electronics",
    location: { lat: 1.5, lng: 2.5 },
    products: [{ productId: "SKU-1", name: "LED", quantity: 3, unit: "pcs", attributes: { colour: "white" } }],
    deliveryDate: "2025-11-01",
    priority: "HIGH",
    sessionId: "S-registered",
  },
  status: "SUBMITTED",
  sessionId: "S-7",
  notificationType: "GChat",
  registeredAt: "2025-01-01T00:00:00.000Z",
  updatedAt: "2025-01-01T00:00:00.000Z",
}

const record = (status: OrderEventRecord["status"], extra: Partial<OrderEventRecord> = {}): OrderEventRecord => ({
  orderReqId: "ORD-7",
  seq: 4,
  eventId: "evt-4",
  status,
  occurredAt: "2025-01-01T00:10:00.000Z",
  message: `${status} happened`,
  details: { SellerID: "SELLER-1" },
  ...extra,
})

describe("topic messages of a recorded event", () => {
  it("BUYER_NOTIFY (ORD_UPDATES) for every buyer-facing status, BUYER_FOLLOWUP for a seller's answer", () => {
    const topics = Object.fromEntries(
      eventStatuses.map((status) => [
        status,
        messagesFor(sessionOf(order), record(status)).map((entry) => entry.topic),
      ]),
    )
    expect(topics).toEqual({
      SellersSelected: ["BUYER_NOTIFY"],
      NewProposal: ["BUYER_NOTIFY"],
      ProposalUpdate: ["BUYER_NOTIFY"],
      ProposalClosed: ["BUYER_NOTIFY"],
      ProposalAccepted: ["BUYER_NOTIFY"],
      EditLock: ["BUYER_NOTIFY"],
      EditUnlock: ["BUYER_NOTIFY"],
      BuyerFollowUp: [],
      SellerFollowUp: ["BUYER_FOLLOWUP"],
      OrderPaused: ["BUYER_NOTIFY"],
      OrderResumed: ["BUYER_NOTIFY"],
      OrderFinalised: ["BUYER_NOTIFY"],
    })
  })

  it("carry the spec payload, keyed by OrderReqID, with the event's id, seq and the buyer's session", () => {
    const [entry] = messagesFor(sessionOf(order), record("NewProposal", { proposalId: "PROP-1" }))
    expect(entry?.key).toBe("ORD-7")
    expect(entry?.headers).toMatchObject({ "event-type": "ORD_UPDATES", "event-id": "evt-4" })
    expect(JSON.parse(entry?.payload ?? "{}")).toEqual({
      EventID: "evt-4",
      OrderReqID: "ORD-7",
      SessionID: "S-7",
      Key: "ORD_UPDATES",
      Message: "NewProposal happened",
      Timestamp: "2025-01-01T00:10:00.000Z",
      Seq: 4,
      Status: "NewProposal",
      ProposalID: "PROP-1",
      SellerID: "SELLER-1",
    })
  })

  it("come from commitFor with the committed records", () => {
    const options = commitFor(sessionOf(order), record("OrderFinalised"))
    expect(options.outbox?.([record("OrderFinalised")]).map((entry) => entry.topic)).toEqual(["BUYER_NOTIFY"])
    expect(options.writes).toEqual(writesFor(record("OrderFinalised")))
  })
})

describe("state writes of a recorded event", () => {
  it("move the order's status and take a finalised order out of live-orders", () => {
    const at = "2025-01-01T00:10:00.000Z"
    expect(writesFor(record("OrderPaused"))).toEqual([
      { op: "hset", key: Keys.order("ORD-7"), field: "status", value: "PAUSED" },
      { op: "hset", key: Keys.order("ORD-7"), field: "updatedAt", value: at },
    ])
    expect(writesFor(record("OrderResumed"))[0]).toEqual({
      op: "hset",
      key: Keys.order("ORD-7"),
      field: "status",
      value: "SUBMITTED",
    })
    expect(writesFor(record("OrderFinalised"))).toEqual([
      { op: "hset", key: Keys.order("ORD-7"), field: "status", value: "FINALISED" },
      { op: "hset", key: Keys.order("ORD-7"), field: "updatedAt", value: at },
      { op: "srem", key: liveOrdersKeyOf("ORD-7"), member: "ORD-7" },
      { op: "zadd", key: retentionKeyOf("ORD-7"), score: Date.parse(at), member: "ORD-7" },
    ])
    expect(writesFor(record("NewProposal"))).toEqual([
      { op: "hset", key: Keys.order("ORD-7"), field: "updatedAt", value: at },
    ])
  })

  it("start retention when the order ends (finalised, or paused by expiry) and stop it on a resume", () => {
    const at = "2025-01-01T00:10:00.000Z"
    const paused = (reason: string) => record("OrderPaused", { details: { Reason: reason } })
    expect(writesFor(paused("expired"))).toContainEqual({
      op: "zadd",
      key: retentionKeyOf("ORD-7"),
      score: Date.parse(at),
      member: "ORD-7",
    })
    expect(writesFor(paused("buyer")).some((write) => write.key === retentionKeyOf("ORD-7"))).toBe(false)
    expect(writesFor(record("OrderResumed"))).toContainEqual({
      op: "zrem",
      key: retentionKeyOf("ORD-7"),
      member: "ORD-7",
    })
  })
})

describe("the stream request", () => {
  it("carries the details the processor needs, the session, and from_seq", () => {
    expect(streamRequestFor(order, 12)).toEqual({
      orderReqId: "ORD-7",
      sessionId: "S-7",
      buyerId: "B-7",
      notificationType: "GChat",
      industry: "Electronics",
      location: { lat: 1.5, lng: 2.5 },
      priority: ProtoPriority.PRIORITY_HIGH,
      products: [{ productId: "SKU-1", name: "LED", quantity: 3, unit: "pcs", attributes: { colour: "white" } }],
      deliveryDate: "2025-11-01",
      fromSeq: 12,
    })
  })
})

describe("follow-up fingerprints", () => {
  const command = {
    orderReqId: "O",
    transactionUuid: "t-1",
    transactionUuidGiven: true,
    audience: ["P1"],
    message: { urls: [], messageType: "text" as const, text: "hi" },
  }
  it("ignore the TransactionUUID and see content changes", () => {
    expect(followUpFingerprint(command)).toBe(followUpFingerprint({ ...command, transactionUuid: "t-2" }))
    expect(followUpFingerprint(command)).not.toBe(
      followUpFingerprint({ ...command, message: { ...command.message, text: "hello" } }),
    )
  })
})

describe("SSE messages", () => {
  it("id = seq, event = status, data = the event as one JSON line", () => {
    const text = sseMessage(
      record("SellerFollowUp", { proposalId: "P-1", followUpId: "F-1", message: "line one\nline two" }),
    )
    const lines = text.split("\n")
    expect(lines.slice(0, 2)).toEqual(["id: 4", "event: SellerFollowUp"])
    expect(lines[2]?.startsWith("data: ")).toBe(true)
    expect(lines.slice(3)).toEqual(["", ""])
    expect(JSON.parse(lines[2]?.slice(6) ?? "")).toEqual({
      OrderReqID: "ORD-7",
      Seq: 4,
      EventID: "evt-4",
      Status: "SellerFollowUp",
      ProposalID: "P-1",
      FollowUpID: "F-1",
      OccurredAt: "2025-01-01T00:10:00.000Z",
      Message: "line one\nline two",
      Details: { SellerID: "SELLER-1" },
    })
  })
})
