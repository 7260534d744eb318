/**
 * The request bodies the k6 scripts send, in one place: plain functions (no k6 import), so that
 * `test/unit/k6-bodies.test.ts` decodes each of them with the services' own request schemas and
 * the scripts cannot drift from the API. Every `http.post`/`http.put` of a script sends one of
 * these (the test checks that too).
 */

/** Where the orders are and where the sellers are placed (near it, so that they are selected). */
export const origin = { Lat: 12.9716, Lng: 77.5946 } as const

export const industryOf = (runId: string): string => `k6-${runId}`

export const sellerIdOf = (runId: string, index: number): string => `${runId}-S${index + 1}`

/** `POST /api/v1/sellers` (processor): `count` active sellers of the run's industry near `origin`. */
export const sellersBody = (runId: string, count: number) =>
  Array.from({ length: count }, (_, index) => ({
    SellerID: sellerIdOf(runId, index),
    Name: `k6 seller ${index + 1}`,
    Industries: [industryOf(runId)],
    Location: { Lat: origin.Lat + 0.01 * (index + 1), Lng: origin.Lng },
    Active: true,
  }))

/** `POST /api/v1/initiate` (requestor): an order with its details inline. */
export const initiateBody = (runId: string, orderReqId: string) => ({
  OrderReqID: orderReqId,
  SessionID: `${orderReqId}-SESSION`,
  NotificationType: "Email",
  BuyerID: `${runId}-BUYER`,
  Industry: industryOf(runId),
  Location: origin,
  Products: [{ Name: "k6 widget", Quantity: 10, Unit: "pcs" }],
  DeliveryDate: "2031-01-15",
  Priority: "MEDIUM",
})

/** `POST /api/v1/proposal-submissions` (processor): a proposal, or its update when sent again with another price. */
export const proposalBody = (orderReqId: string, sellerId: string, proposalId: string, price: number) => ({
  OrderReqID: orderReqId,
  Seller: sellerId,
  ProposalDictObj: { ProposalID: proposalId, Price: price, DeliveryDate: "2031-01-10", Currency: "INR" },
})

/** `POST /api/v1/followup` (requestor): the buyer asks the sellers of `proposalIds`. */
export const buyerFollowUpBody = (orderReqId: string, proposalIds: ReadonlyArray<string>, transactionUuid: string) => ({
  OrderReqID: orderReqId,
  TransactionUUID: transactionUuid,
  Audience: [...proposalIds],
  Message: { content: { MessageType: "text", Message: "Can you deliver a week earlier?" } },
})

/** `POST /api/v1/followup` (processor): the seller answers on their proposal. */
export const sellerFollowUpBody = (
  orderReqId: string,
  sellerId: string,
  proposalId: string,
  transactionUuid: string,
) => ({
  OrderReqID: orderReqId,
  ProposalID: proposalId,
  Seller: sellerId,
  TransactionUUID: transactionUuid,
  Message: "Yes, from stock.",
})

/** `PUT /api/v1/finalize/{OrderReqID}` (requestor): accept one proposal. */
export const finaliseBody = (proposalId: string, transactionUuid: string) => ({
  ProposalID: proposalId,
  TransactionUUID: transactionUuid,
})
