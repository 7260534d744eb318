/**
 * The requestor's response bodies (PascalCase, like the requests) and their construction from
 * the domain values.
 */
import { OrderStatus, Priority, ProposalStatus } from "@dcent/shared/orders/domain"
import { Schema } from "effect"
import type { OrderDetails } from "./domain.ts"
import type { OrderState } from "./state.ts"

const optional = Schema.optionalKey

export const ProductView = Schema.Struct({
  ProductID: optional(Schema.String),
  Name: Schema.String,
  Quantity: Schema.Number,
  Unit: optional(Schema.String),
  Attributes: Schema.Record(Schema.String, Schema.String),
}).annotate({ identifier: "Product" })

export const LocationView = Schema.Struct({ Lat: Schema.Number, Lng: Schema.Number }).annotate({
  identifier: "Location",
})

export const SelectedSellerView = Schema.Struct({
  SellerID: Schema.String,
  Name: optional(Schema.String),
  DistanceKm: optional(Schema.Number),
  DistanceSource: optional(Schema.String),
}).annotate({ identifier: "SelectedSeller" })

const noteFields = {
  FollowUpID: Schema.String,
  Seq: Schema.Number,
  At: Schema.String,
  MessageType: optional(Schema.String),
  Message: Schema.String,
  URLs: Schema.Array(Schema.String),
  TransactionUUID: optional(Schema.String),
}

export const SellerNoteView = Schema.Struct(noteFields).annotate({ identifier: "SellerNote" })

export const BuyerNoteView = Schema.Struct({ ...noteFields, Audience: Schema.Array(Schema.String) }).annotate({
  identifier: "BuyerNote",
})

export const ProposalView = Schema.Struct({
  ProposalID: Schema.String,
  SellerID: optional(Schema.String),
  Price: optional(Schema.Number),
  Currency: optional(Schema.String),
  DeliveryDate: optional(Schema.String),
  Status: ProposalStatus,
  Version: Schema.Number,
  EditLockExpiresAt: optional(Schema.String),
  Notes: Schema.Array(SellerNoteView),
  UpdatedAt: Schema.String,
}).annotate({ identifier: "ProposalSummary" })

export const OrderView = Schema.Struct({
  OrderReqID: Schema.String,
  Status: OrderStatus,
  BuyerID: Schema.String,
  Industry: Schema.String,
  Location: LocationView,
  Products: Schema.Array(ProductView),
  DeliveryDate: Schema.String,
  Priority,
  NotificationType: optional(Schema.String),
  SessionID: optional(Schema.String),
  RegisteredAt: Schema.String,
  SubmittedAt: optional(Schema.String),
  UpdatedAt: Schema.String,
  ExpiresAt: optional(Schema.String),
  PausedReason: optional(Schema.String),
  PausedNote: optional(Schema.String),
  FinalisedAt: optional(Schema.String),
  AcceptedProposalID: optional(Schema.String),
  SelectedSellers: Schema.Array(SelectedSellerView),
  Proposals: Schema.Array(ProposalView),
  Notes: Schema.Array(BuyerNoteView),
  LastSeq: Schema.Number.annotate({ description: "The seq of the last event recorded for the order (0: none)" }),
}).annotate({ identifier: "Order", description: "The order's current state, built from its recorded events" })
export type OrderView = typeof OrderView.Type

export const WatchLinks = Schema.Struct({
  Events: Schema.String.annotate({ description: "SSE: `GET` this path (resumable with `Last-Event-ID`)" }),
  Grpc: Schema.Struct({
    Service: Schema.String,
    Method: Schema.String,
    Port: Schema.Number,
  }).annotate({ description: "The public gRPC stream (`WatchOrder`) on the requestor" }),
}).annotate({ identifier: "WatchLinks" })
export type WatchLinks = typeof WatchLinks.Type

const initiateFields = {
  Message: Schema.String,
  Order: OrderView,
  Watch: WatchLinks,
}

/** 202: the order was submitted now. */
export const InitiateAccepted = Schema.Struct({ Outcome: Schema.Literal("submitted"), ...initiateFields }).annotate({
  identifier: "InitiateAccepted",
  httpApiStatus: 202,
})

/** 200: the order was already live (re-initiate is idempotent). */
export const InitiateAlreadyLive = Schema.Struct({
  Outcome: Schema.Literal("already_submitted"),
  ...initiateFields,
}).annotate({ identifier: "InitiateAlreadyLive", httpApiStatus: 200 })

export type InitiateResult = typeof InitiateAccepted.Type | typeof InitiateAlreadyLive.Type

/** 201: registered now. */
export const RegisterCreated = Schema.Struct({ Outcome: Schema.Literal("registered"), Order: OrderView }).annotate({
  identifier: "RegisterCreated",
  httpApiStatus: 201,
})

/** 200: the registration existed (same details, or new details of an order not submitted yet). */
export const RegisterUpdated = Schema.Struct({
  Outcome: Schema.Literals(["unchanged", "updated"]),
  Order: OrderView,
}).annotate({ identifier: "RegisterUpdated", httpApiStatus: 200 })

export type RegisterResult = typeof RegisterCreated.Type | typeof RegisterUpdated.Type

export const FollowUpDelivery = Schema.Struct({
  ProposalID: Schema.String,
  Outcome: Schema.Literals(["DELIVERED", "EDIT_LOCK"]).annotate({
    description: "`EDIT_LOCK`: the proposal is being edited; the follow-up is delivered when the lock is released",
  }),
  Seq: Schema.Number.annotate({ description: "The seq of its `BuyerFollowUp` event (0 while it waits)" }),
}).annotate({ identifier: "FollowUpDelivery" })
export type FollowUpDelivery = typeof FollowUpDelivery.Type

export const FollowUpResult = Schema.Struct({
  OrderReqID: Schema.String,
  TransactionUUID: Schema.String,
  FollowUpID: Schema.String,
  Seq: Schema.Number.annotate({
    description: "The seq of the first `BuyerFollowUp` event (0: all queued behind edit locks)",
  }),
  Duplicate: Schema.Boolean.annotate({ description: "True when this TransactionUUID was processed before" }),
  Results: Schema.Array(FollowUpDelivery).annotate({ description: "One entry per audience proposal" }),
}).annotate({ identifier: "FollowUpResult" })
export type FollowUpResult = typeof FollowUpResult.Type

export const ActionResult = Schema.Struct({
  OrderReqID: Schema.String,
  TransactionUUID: Schema.String,
  Status: OrderStatus.annotate({ description: "The order's status after the operation" }),
  Seq: Schema.Number.annotate({ description: "The seq of the event that records the operation" }),
}).annotate({ identifier: "ActionResult" })
export type ActionResult = typeof ActionResult.Type

// --- construction -----------------------------------------------------------------------------

const optionalField = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }

const detailsView = (details: OrderDetails) => ({
  BuyerID: details.buyerId,
  Industry: details.industry,
  Location: { Lat: details.location.lat, Lng: details.location.lng },
  Products: details.products.map((product) => ({
    ...optionalField("ProductID", product.productId),
    Name: product.name,
    Quantity: product.quantity,
    ...optionalField("Unit", product.unit),
    Attributes: { ...product.attributes },
  })),
  DeliveryDate: details.deliveryDate,
  Priority: details.priority,
})

export const orderView = (state: OrderState): OrderView => ({
  OrderReqID: state.orderReqId,
  Status: state.status,
  ...detailsView(state.details),
  ...optionalField("NotificationType", state.notificationType ?? state.details.notificationType),
  ...optionalField("SessionID", state.sessionId ?? state.details.sessionId),
  RegisteredAt: state.registeredAt,
  ...optionalField("SubmittedAt", state.submittedAt),
  UpdatedAt: state.updatedAt,
  ...optionalField("ExpiresAt", state.expiresAt),
  ...optionalField("PausedReason", state.pausedReason),
  ...optionalField("PausedNote", state.pausedNote),
  ...optionalField("FinalisedAt", state.finalisedAt),
  ...optionalField("AcceptedProposalID", state.acceptedProposalId),
  SelectedSellers: state.selectedSellers.map((seller) => ({
    SellerID: seller.sellerId,
    ...optionalField("Name", seller.name),
    ...optionalField("DistanceKm", seller.distanceKm),
    ...optionalField("DistanceSource", seller.distanceSource),
  })),
  Proposals: state.proposals.map((proposal) => ({
    ProposalID: proposal.proposalId,
    ...optionalField("SellerID", proposal.sellerId),
    ...optionalField("Price", proposal.price),
    ...optionalField("Currency", proposal.currency),
    ...optionalField("DeliveryDate", proposal.deliveryDate),
    Status: proposal.status,
    Version: proposal.version,
    ...optionalField("EditLockExpiresAt", proposal.editLockExpiresAt),
    Notes: proposal.notes.map(noteView),
    UpdatedAt: proposal.updatedAt,
  })),
  Notes: state.notes.map((note) => ({ ...noteView(note), Audience: [...note.audience] })),
  LastSeq: state.lastSeq,
})

const noteView = (note: OrderState["proposals"][number]["notes"][number]) => ({
  FollowUpID: note.followUpId,
  Seq: note.seq,
  At: note.at,
  ...optionalField("MessageType", note.messageType),
  Message: note.text,
  URLs: [...note.urls],
  ...optionalField("TransactionUUID", note.transactionUuid),
})

/** `GET /api/v1/orders/:OrderReqID/messages`: the order's messages on the topics. */
export const TopicMessagesView = Schema.Struct({
  OrderReqID: Schema.String,
  Messages: Schema.Array(
    Schema.Struct({
      Topic: Schema.String,
      Key: Schema.String,
      Partition: Schema.Number,
      Offset: Schema.Number,
      Timestamp: Schema.String,
      Headers: Schema.Record(Schema.String, Schema.String),
      Payload: Schema.Unknown,
    }),
  ),
}).annotate({ identifier: "TopicMessages" })
