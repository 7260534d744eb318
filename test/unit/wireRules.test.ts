/**
 * One rule per field on every transport: the requestor's REST bodies, the processor's REST bodies
 * and the processor's gRPC requests decode with the schemas of `@dcent/shared/orders/wire`, so a
 * value one refuses the others refuse too, each naming the field (REST `body.Products[0].Quantity`,
 * gRPC `products[0].quantity`).
 */
import { Priority } from "@dcent/shared/generated/dcent/orders/v1/order"
import { issueDetails } from "@dcent/shared/http/errors"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  parseFinaliseRequest,
  parseFollowUpRequest,
  parseOrderDetails,
  parsePauseRequest,
} from "../../processor/src/grpc/requests.ts"
import { SellerFollowUpBody } from "../../processor/src/orders/api.ts"
import { ProposalSubmission } from "../../processor/src/proposals/api.ts"
import { FollowUpBody, PauseBody, RegisterOrderBody } from "../../requestor/src/orders/schemas.ts"

/** The REST detail paths of a refused body (`[]` when it is accepted). */
const restPaths = <S extends Schema.Decoder<unknown>>(schema: S, input: unknown): ReadonlyArray<string> => {
  const result = Schema.decodeUnknownResult(schema)(input, { errors: "all" })
  return Result.isSuccess(result) ? [] : issueDetails(result.failure.issue, "body").map((detail) => detail.path)
}

/** The gRPC detail paths of a refused request (`[]` when it is accepted). */
const grpcPaths = <A>(result: Result.Result<A, { readonly details: ReadonlyArray<{ readonly path: string }> }>) =>
  Result.isSuccess(result) ? [] : result.failure.details.map((detail) => detail.path)

const restOrder = {
  OrderReqID: "ORD-100",
  BuyerID: "BUYER-1",
  Industry: "Electronics",
  Location: { Lat: 12.9716, Lng: 77.5946 },
  Products: [{ Name: "LED panel", Quantity: 50, Unit: "pcs" }],
  DeliveryDate: "2025-11-01",
}

const grpcOrder = {
  orderReqId: "ORD-100",
  sessionId: "SESSION-1",
  buyerId: "BUYER-1",
  notificationType: "Email",
  industry: "Electronics",
  location: { lat: 12.9716, lng: 77.5946 },
  priority: Priority.PRIORITY_UNSPECIFIED,
  products: [{ productId: "", name: "LED panel", quantity: 50, unit: "pcs", attributes: {} }],
  deliveryDate: "2025-11-01",
  fromSeq: 0,
}

const restProduct = restOrder.Products[0]!
const grpcProduct = grpcOrder.products[0]!

describe("order details: the same rules on REST and gRPC", () => {
  it("accepts the same valid order on both", () => {
    expect(restPaths(RegisterOrderBody, restOrder)).toEqual([])
    expect(grpcPaths(parseOrderDetails(grpcOrder))).toEqual([])
  })

  it.each([
    [
      "a quantity of 0",
      { Products: [{ ...restProduct, Quantity: 0 }] },
      { products: [{ ...grpcProduct, quantity: 0 }] },
      "Products[0].Quantity",
      "products[0].quantity",
    ],
    [
      "a negative quantity",
      { Products: [{ ...restProduct, Quantity: -1 }] },
      { products: [{ ...grpcProduct, quantity: -1 }] },
      "Products[0].Quantity",
      "products[0].quantity",
    ],
    ["no products", { Products: [] }, { products: [] }, "Products", "products"],
    [
      "a product without a name",
      { Products: [{ ...restProduct, Name: " " }] },
      { products: [{ ...grpcProduct, name: " " }] },
      "Products[0].Name",
      "products[0].name",
    ],
    [
      "a unit over 32 characters",
      { Products: [{ ...restProduct, Unit: "u".repeat(33) }] },
      { products: [{ ...grpcProduct, unit: "u".repeat(33) }] },
      "Products[0].Unit",
      "products[0].unit",
    ],
    ["a blank buyer", { BuyerID: "  " }, { buyerId: "  " }, "BuyerID", "buyer_id"],
    [
      "an industry over 100 characters",
      { Industry: "i".repeat(101) },
      { industry: "i".repeat(101) },
      "Industry",
      "industry",
    ],
    [
      "a date that is not a calendar day",
      { DeliveryDate: "2025-02-30" },
      { deliveryDate: "2025-02-30" },
      "DeliveryDate",
      "delivery_date",
    ],
    ["no delivery date", { DeliveryDate: "" }, { deliveryDate: "" }, "DeliveryDate", "delivery_date"],
    ["an order id with a double dot", { OrderReqID: "ORD..1" }, { orderReqId: "ORD..1" }, "OrderReqID", "order_req_id"],
    [
      "a latitude past 90",
      { Location: { Lat: 90.5, Lng: 0 } },
      { location: { lat: 90.5, lng: 0 } },
      "Location.Lat",
      "location.lat",
    ],
  ])("refuses %s on both", (_, rest, grpc, restField, grpcField) => {
    expect(restPaths(RegisterOrderBody, { ...restOrder, ...rest })).toEqual([`body.${restField}`])
    expect(grpcPaths(parseOrderDetails({ ...grpcOrder, ...grpc }))).toEqual([grpcField])
  })

  it("decodes the notification type and the priority into their domain values on both", () => {
    const rest = Schema.decodeUnknownSync(RegisterOrderBody)({
      ...restOrder,
      NotificationType: "sms",
      Priority: "high",
    })
    expect([rest.NotificationType, rest.Priority]).toEqual(["SMS", "HIGH"])
    const grpc = parseOrderDetails({ ...grpcOrder, notificationType: "sms", priority: Priority.PRIORITY_HIGH })
    expect(Result.isSuccess(grpc) && [grpc.success.notificationType, grpc.success.priority]).toEqual(["SMS", "HIGH"])
    expect(grpcPaths(parseOrderDetails({ ...grpcOrder, priority: 7 as Priority }))).toEqual(["priority"])
  })
})

const restFollowUp = { OrderReqID: "ORD-100", Audience: ["PROP-1"], Message: { Message: "Can you ship sooner?" } }
const grpcFollowUp = {
  orderReqId: "ORD-100",
  transactionUuid: "",
  audienceProposalIds: ["PROP-1"],
  message: { text: "Can you ship sooner?", urls: [], messageType: "" },
}
const sellerFollowUp = { OrderReqID: "ORD-100", ProposalID: "PROP-1", Message: { Message: "Shipping Monday" } }

describe("follow-ups: the same rules on the buyer's REST, the seller's REST and gRPC", () => {
  it("accepts the same valid follow-up on all three", () => {
    expect(restPaths(FollowUpBody, restFollowUp)).toEqual([])
    expect(restPaths(SellerFollowUpBody, sellerFollowUp)).toEqual([])
    expect(grpcPaths(parseFollowUpRequest(grpcFollowUp, () => "t"))).toEqual([])
  })

  it.each([
    ["an ftp URL", ["ftp://files.example/a.pdf"]],
    ["a relative URL", ["/a.pdf"]],
    ["a URL over 2048 characters", [`https://x.example/${"a".repeat(2048)}`]],
  ])("refuses %s on all three", (_, urls) => {
    expect(restPaths(FollowUpBody, { ...restFollowUp, Message: { ...restFollowUp.Message, URLs: urls } })).toEqual([
      "body.Message.URLs[0]",
    ])
    expect(
      restPaths(SellerFollowUpBody, { ...sellerFollowUp, Message: { ...sellerFollowUp.Message, URLs: urls } }),
    ).toContain("body.Message.URLs[0]")
    expect(
      grpcPaths(parseFollowUpRequest({ ...grpcFollowUp, message: { ...grpcFollowUp.message, urls } }, () => "t")),
    ).toEqual(["message.urls[0]"])
  })

  it("refuses a blank text on all three", () => {
    expect(restPaths(FollowUpBody, { ...restFollowUp, Message: { Message: "   " } })).toEqual(["body.Message.Message"])
    expect(restPaths(SellerFollowUpBody, { ...sellerFollowUp, Message: { Message: "   " } })).toContain(
      "body.Message.Message",
    )
    expect(
      grpcPaths(
        parseFollowUpRequest({ ...grpcFollowUp, message: { ...grpcFollowUp.message, text: "   " } }, () => "t"),
      ),
    ).toEqual(["message.text"])
  })

  it("accepts a message type in any letter case on all three, as its lower-case value", () => {
    const buyer = Schema.decodeUnknownSync(FollowUpBody)({
      ...restFollowUp,
      Message: { Message: "x", MessageType: "HTML" },
    })
    expect(typeof buyer.Message === "object" && buyer.Message.MessageType).toBe("html")
    const seller = Schema.decodeUnknownSync(SellerFollowUpBody)({
      ...sellerFollowUp,
      Message: { Message: "x", MessageType: "HTML" },
    })
    expect(typeof seller.Message === "object" && "MessageType" in seller.Message && seller.Message.MessageType).toBe(
      "html",
    )
    const grpc = parseFollowUpRequest(
      { ...grpcFollowUp, message: { ...grpcFollowUp.message, messageType: "HTML" } },
      () => "t",
    )
    expect(Result.isSuccess(grpc) && grpc.success.content.messageType).toBe("html")
  })

  it("refuses an audience entry that is not a proposal id on the buyer's REST and on gRPC", () => {
    expect(restPaths(FollowUpBody, { ...restFollowUp, Audience: ["PROP 1"] })).toEqual(["body.Audience[0]"])
    expect(grpcPaths(parseFollowUpRequest({ ...grpcFollowUp, audienceProposalIds: ["PROP 1"] }, () => "t"))).toEqual([
      "audience_proposal_ids[0]",
    ])
  })
})

describe("order actions: the same rules on REST and gRPC", () => {
  it("refuses a pause reason over 500 characters on both, accepts 500", () => {
    expect(restPaths(PauseBody, { Reason: "r".repeat(501) })).toEqual(["body.Reason"])
    expect(
      grpcPaths(parsePauseRequest({ orderReqId: "ORD-1", transactionUuid: "", reason: "r".repeat(501) }, () => "t")),
    ).toEqual(["reason"])
    expect(restPaths(PauseBody, { Reason: "r".repeat(500) })).toEqual([])
    expect(
      grpcPaths(parsePauseRequest({ orderReqId: "ORD-1", transactionUuid: "", reason: "r".repeat(500) }, () => "t")),
    ).toEqual([])
  })

  it("refuses a transaction uuid with a space on both", () => {
    expect(restPaths(PauseBody, { TransactionUUID: "t 1" })).toEqual(["body.TransactionUUID"])
    expect(
      grpcPaths(parseFinaliseRequest({ orderReqId: "ORD-1", transactionUuid: "t 1", proposalId: "" }, () => "t")),
    ).toEqual(["transaction_uuid"])
  })
})

describe("proposal dates and prices: one ISO-date and one numeric-string rule", () => {
  const proposal = {
    OrderReqID: "ORD-1",
    Seller: "SELLER-1",
    ProposalDictObj: { ProposalID: "PROP-1", Price: 10, DeliveryDate: "2025-11-01" },
  }

  it("refuses a date that is not a calendar day, as the buyer's DeliveryDate does", () => {
    const body = { ...proposal, ProposalDictObj: { ...proposal.ProposalDictObj, DeliveryDate: "2025-02-30" } }
    expect(restPaths(ProposalSubmission, body)).toEqual(["body.ProposalDictObj.DeliveryDate"])
  })

  it("accepts an exponent in a numeric-string Price, as the buyer's numbers do", () => {
    const body = { ...proposal, ProposalDictObj: { ...proposal.ProposalDictObj, Price: "1e3" } }
    expect(Schema.decodeUnknownSync(ProposalSubmission)(body).ProposalDictObj.Price).toBe(1000)
  })
})
