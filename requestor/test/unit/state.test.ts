/** The buyer's view of an order, derived from the stored order and its recorded events. */
import type { EventStatus, OrderEventRecord } from "@dcent/shared/orders/events"
import { describe, expect, it } from "vitest"
import type { StoredOrder } from "../../src/orders/domain.ts"
import { deriveOrderState, detail, sellersOf } from "../../src/orders/state.ts"
import { orderView } from "../../src/orders/views.ts"

const stored: StoredOrder = {
  details: {
    orderReqId: "ORD-1",
    buyerId: "B-1",
    industry: "Electronics",
    location: { lat: 12.97, lng: 77.59 },
    products: [{ name: "LED", quantity: 5, attributes: {} }],
    deliveryDate: "2025-11-01",
    priority: "HIGH",
  },
  status: "SUBMITTED",
  sessionId: "S-1",
  notificationType: "GChat",
  registeredAt: "2025-01-01T00:00:00.000Z",
  submittedAt: "2025-01-01T00:00:01.000Z",
  updatedAt: "2025-01-01T00:00:01.000Z",
}

let seq = 0
const event = (
  status: EventStatus,
  details: Record<string, string> = {},
  extra: { proposalId?: string; followUpId?: string } = {},
): OrderEventRecord => {
  seq += 1
  return {
    orderReqId: "ORD-1",
    seq,
    eventId: `e-${seq}`,
    status,
    ...extra,
    occurredAt: new Date(Date.UTC(2025, 0, 1, 0, 1, seq)).toISOString(),
    message: `${status} #${seq}`,
    details,
  }
}

const sellers = JSON.stringify([
  { SellerID: "SELLER-001", Name: "Acme", DistanceKm: 1.25, DistanceSource: "straight_line" },
  { SellerID: "SELLER-002", Name: "Beta", DistanceKm: 3.5, DistanceSource: "road" },
])

describe("deriveOrderState", () => {
  it("is the stored order before any event", () => {
    const state = deriveOrderState({ ...stored, status: "REGISTERED" }, [])
    expect(state).toMatchObject({ status: "REGISTERED", lastSeq: 0, selectedSellers: [], proposals: [], notes: [] })
    expect(orderView(state)).toMatchObject({
      OrderReqID: "ORD-1",
      Status: "REGISTERED",
      Location: { Lat: 12.97, Lng: 77.59 },
      Priority: "HIGH",
      LastSeq: 0,
    })
  })

  it("follows a whole lifecycle", () => {
    seq = 0
    const events = [
      event("SellersSelected", { Count: "2", Sellers: sellers, ExpiresAt: "2025-01-01T00:30:00.000Z" }),
      event(
        "NewProposal",
        { SellerID: "SELLER-001", Price: "1000", Currency: "INR", DeliveryDate: "2025-11-01", Version: "1" },
        { proposalId: "PROP-1" },
      ),
      event(
        "NewProposal",
        { SellerID: "SELLER-002", Price: "900", DeliveryDate: "2025-11-03", Version: "1" },
        { proposalId: "PROP-2" },
      ),
      event("EditLock", { SellerID: "SELLER-001", ExpiresAt: "2025-01-01T00:05:00.000Z" }, { proposalId: "PROP-1" }),
      event(
        "ProposalUpdate",
        { SellerID: "SELLER-001", Price: "950", Currency: "INR", DeliveryDate: "2025-11-02", Version: "2" },
        { proposalId: "PROP-1" },
      ),
      event(
        "BuyerFollowUp",
        { SellerID: "SELLER-002", MessageType: "text", Text: "terms?", URLs: "[]", TransactionUUID: "tx-1" },
        { proposalId: "PROP-2", followUpId: "F-1" },
      ),
      event("EditUnlock", { SellerID: "SELLER-001", Reason: "released" }, { proposalId: "PROP-1" }),
      event(
        "BuyerFollowUp",
        {
          SellerID: "SELLER-001",
          MessageType: "text",
          Text: "terms?",
          URLs: "[]",
          TransactionUUID: "tx-1",
          DeliveredAfterUnlock: "true",
        },
        { proposalId: "PROP-1", followUpId: "F-1" },
      ),
      event(
        "SellerFollowUp",
        { SellerID: "SELLER-002", MessageType: "text", Text: "30 days", URLs: '["https://x.example/terms"]' },
        { proposalId: "PROP-2", followUpId: "F-2" },
      ),
    ]
    const live = deriveOrderState(stored, events)
    expect(live.status).toBe("SUBMITTED")
    expect(live.expiresAt).toBe("2025-01-01T00:30:00.000Z")
    expect(live.selectedSellers).toEqual([
      { sellerId: "SELLER-001", name: "Acme", distanceKm: 1.25, distanceSource: "straight_line" },
      { sellerId: "SELLER-002", name: "Beta", distanceKm: 3.5, distanceSource: "road" },
    ])
    expect(live.proposals.map((p) => [p.proposalId, p.status, p.price, p.currency, p.version, p.deliveryDate])).toEqual(
      [
        ["PROP-1", "SUBMITTED", 950, "INR", 2, "2025-11-02"],
        ["PROP-2", "SUBMITTED", 900, undefined, 1, "2025-11-03"],
      ],
    )
    expect(live.proposals[0]?.editLockExpiresAt).toBeUndefined()
    expect(live.notes).toEqual([
      {
        followUpId: "F-1",
        seq: 6,
        at: events[5]?.occurredAt,
        messageType: "text",
        text: "terms?",
        urls: [],
        transactionUuid: "tx-1",
        audience: ["PROP-2", "PROP-1"],
      },
    ])
    expect(live.proposals[1]?.notes).toEqual([
      {
        followUpId: "F-2",
        seq: 9,
        at: events[8]?.occurredAt,
        messageType: "text",
        text: "30 days",
        urls: ["https://x.example/terms"],
      },
    ])
    expect(live.lastSeq).toBe(9)

    const paused = deriveOrderState(stored, [...events, event("OrderPaused", { Reason: "expired", ExpiresAt: "x" })])
    expect(paused).toMatchObject({ status: "PAUSED", pausedReason: "expired" })
    expect(paused.expiresAt).toBeUndefined()

    const resumed = deriveOrderState(stored, [
      ...events,
      event("OrderPaused", { Reason: "buyer", Note: "holiday" }),
      event("OrderResumed", { ExpiresAt: "2025-01-02T00:00:00.000Z", PausedReason: "buyer" }),
    ])
    expect(resumed).toMatchObject({ status: "SUBMITTED", expiresAt: "2025-01-02T00:00:00.000Z" })
    expect(resumed.pausedReason).toBeUndefined()

    const finalised = deriveOrderState({ ...stored, status: "FINALISED" }, [
      ...events,
      event("ProposalAccepted", { SellerID: "SELLER-001", Price: "950" }, { proposalId: "PROP-1" }),
      event("ProposalClosed", { SellerID: "SELLER-002", Price: "900" }, { proposalId: "PROP-2" }),
      event("OrderFinalised", { AcceptedProposalID: "PROP-1", Proposals: "2" }),
    ])
    expect(finalised).toMatchObject({ status: "FINALISED", acceptedProposalId: "PROP-1", lastSeq: 15 })
    expect(finalised.finalisedAt).toBeDefined()
    expect(finalised.expiresAt).toBeUndefined()
    expect(finalised.proposals.map((p) => [p.proposalId, p.status, p.version])).toEqual([
      ["PROP-1", "ACCEPTED", 2],
      ["PROP-2", "CLOSED", 1],
    ])
    const view = orderView(finalised)
    expect(view).toMatchObject({ Status: "FINALISED", AcceptedProposalID: "PROP-1", LastSeq: 15 })
    expect(view.Proposals[0]).toMatchObject({
      ProposalID: "PROP-1",
      Status: "ACCEPTED",
      Price: 950,
      SellerID: "SELLER-001",
    })
    expect(view.Notes[0]).toMatchObject({ FollowUpID: "F-1", Audience: ["PROP-2", "PROP-1"], Message: "terms?" })
  })

  it("is the same whatever order the events come in, and ignores repeats", () => {
    seq = 0
    const events = [
      event("SellersSelected", { Sellers: sellers }),
      event("NewProposal", { SellerID: "SELLER-001", Price: "10" }, { proposalId: "P" }),
      event("EditLock", { ExpiresAt: "2025-01-01T00:10:00.000Z" }, { proposalId: "P" }),
    ]
    const inOrder = deriveOrderState(stored, events)
    const shuffled = deriveOrderState(stored, [events[2]!, events[0]!, events[1]!, events[1]!])
    expect(shuffled).toEqual(inOrder)
    expect(inOrder.proposals[0]).toMatchObject({ status: "EDITLOCK", editLockExpiresAt: "2025-01-01T00:10:00.000Z" })
  })

  it("never fails on missing or unreadable details", () => {
    seq = 0
    const state = deriveOrderState(stored, [
      event("SellersSelected", { Sellers: "not json" }),
      event("NewProposal", { Price: "a lot" }, { proposalId: "P" }),
      event("ProposalUpdate", {}, {}),
      event("OrderPaused"),
    ])
    expect(state.selectedSellers).toEqual([])
    expect(state.proposals).toEqual([
      { proposalId: "P", status: "SUBMITTED", version: 1, notes: [], updatedAt: expect.any(String) },
    ])
    expect(state).toMatchObject({ status: "PAUSED", pausedReason: "buyer", lastSeq: 4 })
  })
})

describe("event details", () => {
  it("are read by name, any letter case", () => {
    expect(detail({ ExpiresAt: "a" }, "ExpiresAt")).toBe("a")
    expect(detail({ expiresat: "b" }, "ExpiresAt")).toBe("b")
    expect(detail({}, "ExpiresAt")).toBeUndefined()
  })

  it("sellers come as JSON objects, JSON ids, or a SellerIDs list", () => {
    expect(sellersOf({ Sellers: '[{"sellerId":"A","distanceKm":2}]' })).toEqual([{ sellerId: "A", distanceKm: 2 }])
    expect(sellersOf({ Sellers: '["A","B"]' })).toEqual([{ sellerId: "A" }, { sellerId: "B" }])
    expect(sellersOf({ SellerIDs: "A, B" })).toEqual([{ sellerId: "A" }, { sellerId: "B" }])
    expect(sellersOf({})).toEqual([])
  })
})
