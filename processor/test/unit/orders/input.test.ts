import { issueDetails } from "@dcent/shared/http/errors"
import { Exit, Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Priority } from "../../../../shared/src/generated/dcent/orders/v1/order.ts"
import {
  parseFinaliseRequest,
  parseFollowUpRequest,
  parseOrderDetails,
  parseStreamRequest,
} from "../../../src/grpc/requests.ts"
import { orderIdOf, SellerFollowUpBody } from "../../../src/orders/api.ts"
import { followUpContentOf } from "../../../src/orders/http.ts"
import { EditLockBody, ProposalSubmission } from "../../../src/proposals/api.ts"

/** Decodes like HttpApi does for a body (all problems), answering the value or the detail paths. */
const decode = <S extends Schema.Top>(schema: S, input: unknown) => {
  const exit = Schema.decodeUnknownExit(schema as unknown as Schema.Codec<S["Type"], unknown>)(input, { errors: "all" })
  if (Exit.isSuccess(exit)) return { ok: true as const, value: exit.value }
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error("expected a schema failure")
  const error = reason.error as { issue: Parameters<typeof issueDetails>[0] }
  return { ok: false as const, details: issueDetails(error.issue, "body") }
}

const seedBody = {
  OrderReqID: "ORD-001",
  Seller: "SELLER-001",
  ProposalDictObj: { ProposalID: "PROP-001", Price: 1000.0, DeliveryDate: "2025-11-01T00:00:00Z" },
}

describe("POST /api/v1/proposal-submissions body", () => {
  it("accepts the seed README's body as written (past delivery date included)", () => {
    const result = decode(ProposalSubmission, seedBody)
    expect(result).toEqual({ ok: true, value: seedBody })
  })

  it("accepts a numeric-string Price, a date-only DeliveryDate, a Currency and the seed's OrderReqId spelling", () => {
    const result = decode(ProposalSubmission, {
      OrderReqId: "ORD-001",
      Seller: "SELLER-001",
      ProposalDictObj: { ProposalID: "PROP-001", Price: " 1000.50 ", DeliveryDate: "2025-11-01", Currency: "inr" },
    })
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.value.ProposalDictObj.Price).toBe(1000.5)
    expect(orderIdOf(result.value)).toBe("ORD-001")
  })

  it.each([
    [{ ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, Price: "abc" } }, ["body.ProposalDictObj.Price"]],
    [{ ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, Price: "" } }, ["body.ProposalDictObj.Price"]],
    [{ ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, Price: 0 } }, ["body.ProposalDictObj.Price"]],
    [{ ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, Price: -5 } }, ["body.ProposalDictObj.Price"]],
    [{ ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, Price: "1e400" } }, ["body.ProposalDictObj.Price"]],
    [
      { ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, DeliveryDate: "next week" } },
      ["body.ProposalDictObj.DeliveryDate"],
    ],
    [
      { ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, DeliveryDate: "2025-13-45" } },
      ["body.ProposalDictObj.DeliveryDate"],
    ],
    [
      { ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, Currency: "EURO" } },
      ["body.ProposalDictObj.Currency"],
    ],
    [
      { ...seedBody, ProposalDictObj: { ...seedBody.ProposalDictObj, ProposalID: "has space" } },
      ["body.ProposalDictObj.ProposalID"],
    ],
    [{ ...seedBody, OrderReqID: "ORD..1" }, ["body.OrderReqID"]],
    [{ Seller: "SELLER-001", ProposalDictObj: seedBody.ProposalDictObj }, ["body.OrderReqID"]],
    [{ OrderReqID: "ORD-001", ProposalDictObj: seedBody.ProposalDictObj }, ["body.Seller"]],
    [{ OrderReqID: "ORD-001", Seller: "SELLER-001" }, ["body.ProposalDictObj"]],
    [
      { OrderReqID: "ORD-001", Seller: "SELLER-001", ProposalDictObj: { Price: "x", DeliveryDate: "y" } },
      ["body.ProposalDictObj.ProposalID", "body.ProposalDictObj.Price", "body.ProposalDictObj.DeliveryDate"],
    ],
  ])("rejects %j naming %j", (input, paths) => {
    const result = decode(ProposalSubmission, input)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.details.map((detail) => detail.path)).toEqual(expect.arrayContaining(paths))
    for (const detail of result.details) expect(detail.problem).not.toBe("")
  })

  it.each([null, [], "text", 42])("rejects a body that is not an object (%j)", (input) => {
    expect(decode(ProposalSubmission, input).ok).toBe(false)
  })
})

describe("POST /api/v1/followup body (seller)", () => {
  const base = { OrderReqID: "ORD-001", ProposalID: "PROP-001" }

  it("accepts the seed's nesting, the flat form and a plain string", () => {
    const nested = decode(SellerFollowUpBody, {
      ...base,
      Message: { content: { URLs: ["https://x.example/a.pdf"], MessageType: "markdown", Message: "*Soon*" } },
    })
    const flat = decode(SellerFollowUpBody, { ...base, TransactionUUID: "t-1", Message: { Message: "Soon" } })
    const plain = decode(SellerFollowUpBody, { ...base, Message: "Soon" })
    expect(nested.ok && followUpContentOf(nested.value.Message)).toEqual({
      urls: ["https://x.example/a.pdf"],
      messageType: "markdown",
      text: "*Soon*",
    })
    expect(flat.ok && followUpContentOf(flat.value.Message)).toEqual({ urls: [], messageType: "text", text: "Soon" })
    expect(plain.ok && followUpContentOf(plain.value.Message)).toEqual({ urls: [], messageType: "text", text: "Soon" })
  })

  it("rejects an empty message, an unknown MessageType, a missing ProposalID", () => {
    expect(decode(SellerFollowUpBody, { ...base, Message: "" }).ok).toBe(false)
    expect(
      decode(SellerFollowUpBody, { ...base, Message: { content: { MessageType: "video", Message: "x" } } }).ok,
    ).toBe(false)
    const missing = decode(SellerFollowUpBody, { OrderReqID: "ORD-001", Message: "x" })
    expect(!missing.ok && missing.details.map((detail) => detail.path)).toContain("body.ProposalID")
  })
})

describe("POST /api/v1/edit-lock body", () => {
  it("accepts an optional TtlSeconds between 1 and 86400", () => {
    expect(decode(EditLockBody, { OrderReqID: "ORD-001", ProposalID: "PROP-001" }).ok).toBe(true)
    expect(decode(EditLockBody, { OrderReqID: "ORD-001", ProposalID: "PROP-001", TtlSeconds: 30 }).ok).toBe(true)
    for (const ttl of [0, -1, 1.5, 86_401, "30"]) {
      const result = decode(EditLockBody, { OrderReqID: "ORD-001", ProposalID: "PROP-001", TtlSeconds: ttl })
      expect(!result.ok && result.details.map((detail) => detail.path)).toEqual(["body.TtlSeconds"])
    }
  })
})

describe("gRPC requests", () => {
  const request = {
    orderReqId: "ORD-001",
    sessionId: "SESSION-123",
    buyerId: "BUYER-1",
    notificationType: "gchat",
    industry: " Electronics ",
    location: { lat: 12.97, lng: 77.59 },
    priority: Priority.PRIORITY_UNSPECIFIED,
    products: [{ productId: "SKU", name: "LED", quantity: 5, unit: "pcs", attributes: { w: "50" } }],
    deliveryDate: "2025-11-01",
    fromSeq: 0,
  }

  it("turns an OrderStreamRequest into order details (canonical notification type, default priority MEDIUM)", () => {
    const details = parseOrderDetails(request)
    expect(Result.isSuccess(details) && details.success).toMatchObject({
      orderReqId: "ORD-001",
      notificationType: "GChat",
      industry: "Electronics",
      priority: "MEDIUM",
      location: { lat: 12.97, lng: 77.59 },
      products: [{ productId: "SKU", quantity: 5, attributes: { w: "50" } }],
    })
    const high = parseOrderDetails({ ...request, priority: Priority.PRIORITY_HIGH })
    expect(Result.isSuccess(high) && high.success.priority).toBe("HIGH")
  })

  it("names every bad field of a new order", () => {
    const details = parseOrderDetails({
      ...request,
      orderReqId: "bad id",
      sessionId: "",
      industry: "",
      notificationType: "Fax",
      location: { lat: 91, lng: 0 },
      deliveryDate: "someday",
      products: [{ productId: "", name: "x", quantity: -1, unit: "", attributes: {} }],
    })
    expect(Result.isFailure(details) && details.failure.details.map((detail) => detail.path)).toEqual([
      "order_req_id",
      "session_id",
      "industry",
      "notification_type",
      "location.lat",
      "delivery_date",
      "products[0].quantity",
    ])
    const noLocation = parseOrderDetails({ ...request, location: undefined })
    expect(Result.isFailure(noLocation) && noLocation.failure.message).toContain("location: required")
  })

  it("requires only the order id (and a valid from_seq) to resume a stream", () => {
    expect(Result.isSuccess(parseStreamRequest({ ...request, industry: "", fromSeq: 7 }))).toBe(true)
    expect(Result.isFailure(parseStreamRequest({ ...request, orderReqId: "" }))).toBe(true)
    expect(Result.isFailure(parseStreamRequest({ ...request, fromSeq: -1 }))).toBe(true)
  })

  it("validates follow-ups: audience, message, message type; generates a transaction uuid when absent", () => {
    const ok = parseFollowUpRequest(
      {
        orderReqId: "ORD-001",
        transactionUuid: "",
        audienceProposalIds: ["PROP-001"],
        message: { urls: [], messageType: "", text: "Hi" },
      },
      () => "generated",
    )
    expect(Result.isSuccess(ok) && ok.success).toMatchObject({
      transactionUuid: "generated",
      content: { messageType: "text", text: "Hi" },
    })
    const bad = parseFollowUpRequest(
      {
        orderReqId: "ORD-001",
        transactionUuid: "t 1",
        audienceProposalIds: [],
        message: { urls: [], messageType: "video", text: "" },
      },
      () => "generated",
    )
    expect(Result.isFailure(bad) && bad.failure.details.map((detail) => detail.path)).toEqual([
      "transaction_uuid",
      "audience_proposal_ids",
      "message.text",
      "message.message_type",
    ])
  })

  it("finalise: an empty proposal_id means no winner", () => {
    const none = parseFinaliseRequest({ orderReqId: "ORD-001", transactionUuid: "t", proposalId: "" }, () => "x")
    expect(Result.isSuccess(none) && none.success).toEqual({
      orderReqId: "ORD-001",
      transactionUuid: "t",
      proposalId: undefined,
    })
    const bad = parseFinaliseRequest({ orderReqId: "ORD-001", transactionUuid: "t", proposalId: "a|b" }, () => "x")
    expect(Result.isFailure(bad)).toBe(true)
  })
})
