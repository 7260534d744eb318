/**
 * The processor's seller-facing REST contract for orders (paths exactly as in the seed README;
 * JSON names in PascalCase as in the spec), and the field schemas and middleware every
 * seller-facing group shares:
 *
 *   POST   /api/v1/followup               seller follow-up on a proposal         201 (200 for a repeated TransactionUUID)
 *   GET    /api/v1/orders/{OrderReqID}    the processor's view of the order
 *   GET    /api/v1/sellers/{SellerID}/orders, GET /api/v1/orders/{OrderReqID}/events
 *
 * Proposal submission, listing and edit locks: `../proposals/api.ts`.
 *
 * Bodies accept the seed's spellings: `OrderReqId` for `OrderReqID`, the follow-up `Message` as
 * a plain string, as `{URLs, MessageType, Message}`, or nested as `{"content": {...}}`; `Price`
 * as a number or a numeric string.
 *
 * The OpenAPI document states each rule in its canonical form (`@dcent/shared/http/wireForm`);
 * what it allows is always accepted here.
 */
import { Authentication } from "@dcent/shared/auth/http"
import { aliasForm, positiveDecimalStringPattern } from "@dcent/shared/http/wireForm"
import {
  IdText,
  IsoDate,
  isPositive,
  MessageText,
  MessageTypeInput,
  numberLike,
  TransactionText,
  Urls,
} from "@dcent/shared/orders/wire"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, OpenApi } from "effect/http-api"
import { ApiErrors, BadRequestResponse } from "../http/errors.ts"
import { SellerID as SellerIDSchema } from "../sellers/Seller.ts"

// --- field schemas ----------------------------------------------------------------------------

/** An order or proposal id (`@dcent/shared/orders/wire`). */
export const Id = IdText()

/** A seller id as the seller directory accepts it. */
const AnySellerID = SellerIDSchema

/** An idempotency key (a UUID is recommended). */
export const TransactionUUID = TransactionText()

export const OrderReqID = Id.annotate({ description: "The order request id, e.g. ORD-001", examples: ["ORD-001"] })
export const ProposalID = Id.annotate({
  description: "The seller's proposal id, e.g. PROP-001",
  examples: ["PROP-001"],
})
export const SellerID = AnySellerID.annotate({
  description: "The seller id, e.g. SELLER-001",
  examples: ["SELLER-001"],
})

export const Price = numberLike(positiveDecimalStringPattern)
  .check(isPositive)
  .annotate({ description: 'Price: a number or a numeric string (`"1000.50"`), greater than 0', examples: [1000] })

/** An ISO 8601 date or date-time; dates in the past are accepted. */
export { IsoDate }

export const Currency = Schema.String.check(
  Schema.isPattern(/^[A-Za-z]{3}$/u, { message: "Expected a three-letter ISO 4217 currency code, e.g. EUR" }),
).annotate({ description: "ISO 4217 code (upper-cased when stored)", examples: ["INR"] })

/** One of `OrderReqID` / `OrderReqId` (the seed's spelling) must be present. */
export const orderIdRequired = Schema.makeFilter(
  (value: { readonly OrderReqID?: string | undefined; readonly OrderReqId?: string | undefined }) =>
    value.OrderReqID === undefined && value.OrderReqId === undefined
      ? { path: ["OrderReqID"], issue: "Missing key (OrderReqID, or the seed's OrderReqId)" }
      : undefined,
  { toJsonSchema: () => aliasForm("OrderReqID", "OrderReqId", true) },
)

/** `OrderReqID`, or the seed's `OrderReqId` (one required: `orderIdRequired`). */
export const orderIdFields = {
  OrderReqID: Schema.optionalKey(OrderReqID),
  OrderReqId: Schema.optionalKey(OrderReqID.annotate({ description: "The seed's spelling of OrderReqID" })),
}

/** The order id of a body that accepts both spellings (validated by `orderIdRequired`). */
export const orderIdOf = (body: { readonly OrderReqID?: string; readonly OrderReqId?: string }): string =>
  body.OrderReqID ?? body.OrderReqId ?? ""

// --- proposals as the order view shows them (their endpoints: `../proposals/api.ts`) ----------

export const FollowUpNote = Schema.Struct({
  FollowUpID: Schema.String,
  MessageType: Schema.String,
  Message: Schema.String,
  URLs: Schema.Array(Schema.String),
  At: Schema.String,
}).annotate({ identifier: "FollowUpNote" })

export const ProposalView = Schema.Struct({
  ProposalID: Schema.String,
  OrderReqID: Schema.String,
  SellerID: Schema.String,
  Price: Schema.Number,
  Currency: Schema.optionalKey(Schema.String),
  DeliveryDate: Schema.String,
  Status: Schema.Literals(["SUBMITTED", "EDITLOCK", "CLOSED", "ACCEPTED"]),
  Version: Schema.Int,
  SubmittedAt: Schema.String,
  UpdatedAt: Schema.String,
  LockedUntil: Schema.optionalKey(Schema.String),
  /** Buyer follow-ups waiting for the edit lock to be released. */
  QueuedFollowUps: Schema.Int,
  Notes: Schema.Array(FollowUpNote),
}).annotate({ identifier: "Proposal" })
export type ProposalView = typeof ProposalView.Type

// --- follow-ups -------------------------------------------------------------------------------

const FollowUpContentBody = Schema.Struct({
  URLs: Schema.optionalKey(Urls),
  MessageType: Schema.optionalKey(MessageTypeInput),
  Message: MessageText,
}).annotate({ identifier: "FollowUpContent" })
export type FollowUpContentBody = typeof FollowUpContentBody.Type

export const FollowUpMessageBody = Schema.Union([
  MessageText,
  FollowUpContentBody,
  Schema.Struct({ content: FollowUpContentBody }),
]).annotate({
  description: 'A string, `{URLs, MessageType, Message}`, or the seed\'s nesting `{"content": {...}}`',
})
export type FollowUpMessageBody = typeof FollowUpMessageBody.Type

export const SellerFollowUpBody = Schema.Struct({
  ...orderIdFields,
  ProposalID,
  TransactionUUID: Schema.optionalKey(
    TransactionUUID.annotate({
      description: "Idempotency key: repeating it returns the first answer (generated when absent)",
    }),
  ),
  Seller: Schema.optionalKey(SellerID.annotate({ description: "When given, must own the proposal" })),
  Message: FollowUpMessageBody,
})
  .check(orderIdRequired)
  .annotate({ identifier: "SellerFollowUp" })

const sellerFollowUpResult = <const D extends boolean>(duplicate: D) =>
  Schema.Struct({
    OrderReqID: Schema.String,
    ProposalID: Schema.String,
    TransactionUUID: Schema.String,
    FollowUpID: Schema.String,
    Seq: Schema.Int,
    /** True when this TransactionUUID was seen before: the first answer, nothing new appended. */
    Duplicate: Schema.Literal(duplicate),
  })

/** 201: a SellerFollowUp event was appended. */
export const SellerFollowUpCreated = sellerFollowUpResult(false)
  .annotate({ identifier: "SellerFollowUpCreated" })
  .pipe(HttpApiSchema.status(201))

/** 200: a repeated TransactionUUID; the first answer again. */
export const SellerFollowUpRepeated = sellerFollowUpResult(true).annotate({ identifier: "SellerFollowUpRepeated" })

// --- order view -------------------------------------------------------------------------------

export const OrderView = Schema.Struct({
  OrderReqID: Schema.String,
  SessionID: Schema.String,
  BuyerID: Schema.String,
  NotificationType: Schema.String,
  Industry: Schema.String,
  Location: Schema.Struct({ Lat: Schema.Number, Lng: Schema.Number }),
  Priority: Schema.String,
  DeliveryDate: Schema.String,
  Products: Schema.Array(
    Schema.Struct({
      ProductID: Schema.String,
      Name: Schema.String,
      Quantity: Schema.Number,
      Unit: Schema.String,
      Attributes: Schema.Record(Schema.String, Schema.String),
    }),
  ),
  Status: Schema.Literals(["REGISTERED", "SUBMITTED", "PAUSED", "FINALISED"]),
  CreatedAt: Schema.String,
  UpdatedAt: Schema.String,
  ExpiresAt: Schema.optionalKey(Schema.String),
  PausedReason: Schema.optionalKey(Schema.String),
  FinalisedAt: Schema.optionalKey(Schema.String),
  AcceptedProposalID: Schema.optionalKey(Schema.String),
  DispatchedAt: Schema.optionalKey(Schema.String),
  SelectedSellers: Schema.Array(
    Schema.Struct({
      SellerID: Schema.String,
      Name: Schema.String,
      DistanceKm: Schema.Number,
      DistanceSource: Schema.String,
    }),
  ),
  Proposals: Schema.Array(ProposalView),
  Notes: Schema.Array(
    Schema.Struct({
      FollowUpID: Schema.String,
      Audience: Schema.Array(Schema.String),
      MessageType: Schema.String,
      Message: Schema.String,
      URLs: Schema.Array(Schema.String),
      At: Schema.String,
    }),
  ),
  /** The seq of the order's last event. */
  LastSeq: Schema.Int,
}).annotate({ identifier: "ProcessorOrder" })

/** The processor's event log of one order (`GET /api/v1/orders/:OrderReqID/events`). */
export const EventLogView = Schema.Struct({
  OrderReqID: Schema.String,
  Events: Schema.Array(
    Schema.Struct({
      Seq: Schema.Int,
      EventID: Schema.String,
      Status: Schema.String,
      ProposalID: Schema.optionalKey(Schema.String),
      FollowUpID: Schema.optionalKey(Schema.String),
      OccurredAt: Schema.String,
      Message: Schema.String,
      Details: Schema.Record(Schema.String, Schema.String),
      TraceID: Schema.optionalKey(Schema.String),
    }),
  ),
}).annotate({ identifier: "ProcessorEventLog" })

/** `GET /api/v1/sellers/:SellerID/orders`. */
export const SellerOrdersView = Schema.Struct({
  SellerID: Schema.String,
  Orders: Schema.Array(Schema.Struct({ OrderReqID: Schema.String, SelectedAt: Schema.String })),
}).annotate({ identifier: "SellerOrders" })

// --- groups -----------------------------------------------------------------------------------

/**
 * Middleware of the seller-facing groups (implemented in `./failures.ts`): a request that does
 * not match its schema becomes a 400 with field paths, and every failed POST/DELETE is published
 * to `PRP_FAILURES`.
 */
export class SellerFailureReporting extends HttpApiMiddleware.Service<SellerFailureReporting>()(
  "dcent/processor/SellerFailureReporting",
  { error: BadRequestResponse },
) {}

/**
 * What every seller-facing group adds to its endpoints: every problem of a bad body reported, not
 * only the first; a credential on every endpoint (401); the failure reporting around it, so that
 * refusals are published too.
 */
export const sellerFacing = <Id extends string, Endpoints extends HttpApiEndpoint.Constraint>(
  group: HttpApiGroup.HttpApiGroup<Id, Endpoints>,
) =>
  group
    .annotate(HttpApi.PayloadParseOptions, { errors: "all" })
    .middleware(Authentication)
    .middleware(SellerFailureReporting)

export const orderParams = { OrderReqID }

export class SellerFollowUpsApi extends HttpApiGroup.make("sellerFollowUps")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/followup", {
      payload: SellerFollowUpBody,
      success: [SellerFollowUpCreated, SellerFollowUpRepeated],
      error: ApiErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "A seller's follow-up on their proposal (SellerFollowUp event)",
        description: "Idempotent by TransactionUUID: a repeat answers the first result with `Duplicate: true`.",
      }),
    ),
  )
  .annotateMerge(OpenApi.annotations({ title: "Follow-ups", description: "Seller follow-ups" }))
  .pipe(sellerFacing) {}

export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.get("get", "/api/v1/orders/:OrderReqID", {
      params: orderParams,
      success: OrderView,
      error: ApiErrors,
    }).annotateMerge(OpenApi.annotations({ summary: "The processor's view of an order" })),
    HttpApiEndpoint.get("sellerOrders", "/api/v1/sellers/:SellerID/orders", {
      params: { SellerID: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128)) },
      success: SellerOrdersView,
      error: ApiErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "The live orders a seller was selected for (the seller itself or operators)",
        description: "Newest selection first, at most 100; an order leaves the list when it is finalised.",
      }),
    ),
    HttpApiEndpoint.get("events", "/api/v1/orders/:OrderReqID/events", {
      params: orderParams,
      success: EventLogView,
      error: ApiErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "The order's event log (operators; the web console's operator view)",
        description: "Every event the processor committed for the order, oldest first, with its trace id.",
      }),
    ),
  )
  .annotateMerge(OpenApi.annotations({ title: "Orders", description: "The processor's order state" }))
  .pipe(sellerFacing) {}
