import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { OrderEvent, StreamingResponseStatus } from "../../../src/generated/dcent/orders/v1/order.ts"
import {
  defaultPriority,
  Location,
  NotificationType,
  OrderStatus,
  Priority,
  ProposalStatus,
  priorityFromProto,
  priorityToProto,
} from "../../../src/orders/domain.ts"
import {
  EventDraft,
  EventStatus,
  eventStatuses,
  eventStatusFromProto,
  eventStatusToProto,
  makeDraft,
  type OrderEventRecord,
  OrderEventRecordJson,
  orderEventFromProto,
  orderEventToProto,
  recordOf,
} from "../../../src/orders/events.ts"

const record: OrderEventRecord = {
  orderReqId: "ORD-001",
  seq: 7,
  eventId: "b2d9d1b4-0d7f-4b8e-9f3a-5f0c7a1b2c3d",
  status: "NewProposal",
  proposalId: "PROP-001",
  occurredAt: "2025-01-02T03:04:05.678Z",
  message: "SELLER-001 proposed 120 EUR",
  details: { price: "120", currency: "EUR" },
}

describe("EventStatus", () => {
  it("has exactly the twelve lifecycle statuses", () => {
    expect([...eventStatuses].sort()).toEqual(
      [
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
      ].sort(),
    )
    expect(Schema.is(EventStatus)("OrderPaused")).toBe(true)
    expect(Schema.is(EventStatus)("Bogus")).toBe(false)
  })

  it("maps one-to-one onto the proto enum", () => {
    const protos = eventStatuses.map(eventStatusToProto)
    expect(new Set(protos).size).toBe(eventStatuses.length)
    expect(protos).not.toContain(StreamingResponseStatus.STREAMING_RESPONSE_STATUS_UNSPECIFIED)
    for (const status of eventStatuses) expect(eventStatusFromProto(eventStatusToProto(status))).toBe(status)
    expect(eventStatusToProto("OrderFinalised")).toBe(StreamingResponseStatus.STREAMING_RESPONSE_STATUS_ORDER_FINALISED)
    expect(eventStatusToProto("ProposalAccepted")).toBe(
      StreamingResponseStatus.STREAMING_RESPONSE_STATUS_PROPOSAL_ACCEPTED,
    )
    expect(eventStatusFromProto(StreamingResponseStatus.STREAMING_RESPONSE_STATUS_UNSPECIFIED)).toBeUndefined()
    expect(eventStatusFromProto(StreamingResponseStatus.UNRECOGNIZED)).toBeUndefined()
    // every known proto value except UNSPECIFIED / UNRECOGNIZED has a status
    const known = Object.values(StreamingResponseStatus).filter((v) => v > 0)
    for (const value of known) expect(eventStatusFromProto(value)).toBeDefined()
  })
})

describe("OrderEventRecord", () => {
  it("survives the proto round trip (also through the wire encoding)", async () => {
    const proto = orderEventToProto(record)
    expect(proto).toMatchObject({
      orderReqId: "ORD-001",
      seq: 7,
      streamingResponseStatus: StreamingResponseStatus.STREAMING_RESPONSE_STATUS_NEW_PROPOSAL,
      proposalId: "PROP-001",
      followUpId: "",
      details: { price: "120", currency: "EUR" },
    })
    expect(proto.occurredAt).toEqual(new Date(record.occurredAt))
    expect(await Effect.runPromise(orderEventFromProto(proto))).toEqual(record)
    const wire = OrderEvent.decode(OrderEvent.encode(proto).finish())
    expect(await Effect.runPromise(orderEventFromProto(wire))).toEqual(record)
  })

  it("treats empty proposal / follow-up ids on the wire as absent", async () => {
    const { proposalId: _, ...withoutProposal } = record
    const back = await Effect.runPromise(orderEventFromProto(orderEventToProto(withoutProposal)))
    expect(back).toEqual(withoutProposal)
    expect("proposalId" in back).toBe(false)
    expect("followUpId" in back).toBe(false)
  })

  it("rejects proto events that are not valid records", async () => {
    const proto = orderEventToProto(record)
    const unknownStatus = await Effect.runPromise(
      Effect.flip(orderEventFromProto({ ...proto, streamingResponseStatus: StreamingResponseStatus.UNRECOGNIZED })),
    )
    expect(unknownStatus._tag).toBe("InvalidOrderEvent")
    expect(unknownStatus.message).toContain("streaming_response_status")
    const noTime = await Effect.runPromise(Effect.flip(orderEventFromProto({ ...proto, occurredAt: undefined })))
    expect(noTime.message).toContain("occurred_at")
    const seqZero = await Effect.runPromise(Effect.flip(orderEventFromProto({ ...proto, seq: 0 })))
    expect(seqZero._tag).toBe("InvalidOrderEvent")
    const noEventId = await Effect.runPromise(Effect.flip(orderEventFromProto({ ...proto, eventId: "" })))
    expect(noEventId._tag).toBe("InvalidOrderEvent")
    const noOrder = await Effect.runPromise(Effect.flip(orderEventFromProto({ ...proto, orderReqId: "" })))
    expect(noOrder.message).toContain("order_req_id")
    const fractionalSeq = await Effect.runPromise(Effect.flip(orderEventFromProto({ ...proto, seq: 1.5 })))
    expect(fractionalSeq.message).toContain("seq")
  })

  it("round-trips through its JSON form", () => {
    const json = Schema.encodeSync(OrderEventRecordJson)(record)
    expect(JSON.parse(json)).toEqual(record)
    expect(Schema.decodeUnknownSync(OrderEventRecordJson)(json)).toEqual(record)
    expect(() => Schema.decodeUnknownSync(OrderEventRecordJson)('{"seq":1}')).toThrow()
  })

  it("builds drafts and records", () => {
    const draft = makeDraft("OrderPaused", "paused by the buyer", {
      details: { reason: "buyer" },
      occurredAt: new Date("2025-05-05T00:00:00Z"),
    })
    expect(Schema.is(EventDraft)(draft)).toBe(true)
    expect(draft.eventId).toMatch(/^[0-9a-f-]{36}$/)
    expect(draft.occurredAt).toBe("2025-05-05T00:00:00.000Z")
    expect("proposalId" in draft).toBe(false)
    expect(makeDraft("OrderPaused", "x").eventId).not.toBe(draft.eventId)
    expect(recordOf("ORD-9", 3, draft)).toEqual({ orderReqId: "ORD-9", seq: 3, ...draft })
  })
})

describe("domain values", () => {
  it("validates statuses, priority, notification type and location", () => {
    expect(Schema.is(OrderStatus)("PAUSED")).toBe(true)
    expect(Schema.is(OrderStatus)("paused")).toBe(false)
    expect(Schema.is(ProposalStatus)("EDITLOCK")).toBe(true)
    expect(Schema.is(Priority)("LOW")).toBe(true)
    expect(defaultPriority).toBe("MEDIUM")
    expect(Schema.is(NotificationType)("GChat")).toBe(true)
    expect(Schema.is(NotificationType)("Slack")).toBe(false)
    expect(Schema.is(Location)({ lat: 12.97, lng: 77.59 })).toBe(true)
    expect(Schema.is(Location)({ lat: 91, lng: 0 })).toBe(false)
    expect(Schema.is(Location)({ lat: 0, lng: Number.NaN })).toBe(false)
  })

  it("maps priority to and from the proto enum", () => {
    for (const priority of ["HIGH", "MEDIUM", "LOW"] as const) {
      expect(priorityFromProto(priorityToProto(priority))).toBe(priority)
    }
    expect(priorityFromProto(0)).toBe("MEDIUM")
  })
})
