/**
 * The gRPC requests decoded with the same field rules as the REST bodies
 * (`@dcent/shared/orders/wire`): each parse either yields the domain input or an `InvalidRequest`
 * naming every bad field by its proto name (`location.lat`, `products[0].quantity`, ...).
 *
 * proto3 has no "absent" for strings: an empty `transaction_uuid`, `proposal_id`, `reason`,
 * `product_id`, `unit` or `message_type` means "not set".
 */
import { Priority as ProtoPriority } from "@dcent/shared/generated/dcent/orders/v1/order"
import type {
  FinaliseOrderRequest,
  FollowUpRequest,
  PauseOrderRequest,
  ResumeOrderRequest,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import type { OrderStreamRequest } from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { issueDetails } from "@dcent/shared/http/errors"
import { Location, Priority, priorityFromProto, priorityToProto } from "@dcent/shared/orders/domain"
import { orderLimits } from "@dcent/shared/orders/limits"
import {
  IsoDate,
  isIdText,
  isPositive,
  isTransactionText,
  MessageText,
  MessageTypeInput,
  maxIdLength,
  NotificationTypeInput,
  OptionalText,
  Text,
  Urls,
} from "@dcent/shared/orders/wire"
import { Result, Schema, SchemaTransformation } from "effect"
import { InvalidRequest } from "../orders/errors.ts"
import { type FollowUpContent, OrderDetails } from "../orders/model.ts"

// --- field schemas -----------------------------------------------------------------------------

const Id = Text(maxIdLength).check(isIdText)
/** Empty: not set (a transaction uuid is generated). */
const TransactionUuid = OptionalText(maxIdLength).check(isTransactionText)
/** Empty: not set. */
const OptionalId = OptionalText(maxIdLength).check(isIdText)

/** A message of the request that must be set (a proto3 message field is `undefined` when absent). */
const required = <S extends Schema.Top>(schema: S, what: string) => schema.annotate({ message: `required (${what})` })

/** `PRIORITY_UNSPECIFIED` means the default, `MEDIUM`. */
const ProtoPriorityValue = Schema.Literals([
  ProtoPriority.PRIORITY_UNSPECIFIED,
  ProtoPriority.PRIORITY_HIGH,
  ProtoPriority.PRIORITY_MEDIUM,
  ProtoPriority.PRIORITY_LOW,
])
const ProtoPriorityInput = ProtoPriorityValue.annotate({
  message: "Expected PRIORITY_HIGH, PRIORITY_MEDIUM, PRIORITY_LOW or PRIORITY_UNSPECIFIED (MEDIUM)",
}).pipe(
  Schema.decodeTo(
    Priority,
    SchemaTransformation.transform<Priority, typeof ProtoPriorityValue.Type>({
      decode: priorityFromProto,
      encode: priorityToProto,
    }),
  ),
)

/** `message_type`: empty means the default, `text`. */
const OptionalMessageType = Schema.String.pipe(
  Schema.decodeTo(
    MessageTypeInput,
    SchemaTransformation.transform({
      decode: (value: string) => (value.trim() === "" ? "text" : value),
      encode: (value: string) => value,
    }),
  ),
)

const ProductRequest = Schema.Struct({
  productId: OptionalText(maxIdLength),
  name: Text(200),
  quantity: Schema.Finite.check(isPositive),
  unit: OptionalText(32),
  attributes: Schema.Record(Schema.String, Schema.String),
})

// --- requests ----------------------------------------------------------------------------------

const StreamRequestSchema = Schema.Struct({
  orderReqId: Id,
  fromSeq: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
})

/** The order details an `OrderStreamRequest` opens a new order with (the processor's `OrderDetails`). */
const OrderDetailsRequest = Schema.Struct({
  orderReqId: Id,
  sessionId: Text(128),
  buyerId: Text(128),
  industry: Text(100),
  notificationType: NotificationTypeInput,
  location: required(Location, "{lat, lng} of the delivery point"),
  priority: ProtoPriorityInput,
  deliveryDate: IsoDate,
  products: Schema.Array(ProductRequest).check(Schema.isMinLength(1), Schema.isMaxLength(orderLimits.products)),
}).pipe(Schema.decodeTo(OrderDetails))

const FollowUpRequestSchema = Schema.Struct({
  orderReqId: Id,
  transactionUuid: TransactionUuid,
  audienceProposalIds: Schema.Array(Id).check(Schema.isMinLength(1), Schema.isMaxLength(orderLimits.audience)),
  message: required(
    Schema.Struct({ text: MessageText, urls: Urls, messageType: OptionalMessageType }),
    "the follow-up's text",
  ),
})

const ActionRequest = { orderReqId: Id, transactionUuid: TransactionUuid }

const FinaliseRequestSchema = Schema.Struct({ ...ActionRequest, proposalId: OptionalId })
const PauseRequestSchema = Schema.Struct({ ...ActionRequest, reason: OptionalText(orderLimits.pauseReason) })
const ResumeRequestSchema = Schema.Struct(ActionRequest)

/** `audienceProposalIds[0]` → `audience_proposal_ids[0]`: the proto field names. */
const protoPath = (path: string) => path.replace(/[A-Z]/gu, (letter) => `_${letter.toLowerCase()}`)

/** Decodes `request` with every problem reported, each at its proto field path. */
const decodeWith =
  <S extends Schema.Decoder<unknown>>(schema: S) =>
  (request: unknown): Result.Result<S["Type"], InvalidRequest> =>
    Result.mapError(
      Schema.decodeUnknownResult(schema)(request, { errors: "all" }),
      (error) =>
        new InvalidRequest({
          details: issueDetails(error.issue).map((detail) => ({ ...detail, path: protoPath(detail.path) })),
        }),
    )

// --- parsers -----------------------------------------------------------------------------------

export interface StreamRequest {
  readonly orderReqId: string
  readonly fromSeq: number
}

/** The always-required part of `OrderStreamRequest`. */
export const parseStreamRequest: (request: OrderStreamRequest) => Result.Result<StreamRequest, InvalidRequest> =
  decodeWith(StreamRequestSchema)

/** The order details of an `OrderStreamRequest` that opens a new order. */
export const parseOrderDetails: (request: OrderStreamRequest) => Result.Result<OrderDetails, InvalidRequest> =
  decodeWith(OrderDetailsRequest)

/** An order action's request: an empty `transaction_uuid` gets a new one. */
const parseAction =
  <S extends Schema.Decoder<{ readonly orderReqId: string; readonly transactionUuid: string }>>(schema: S) =>
  (request: unknown, newId: () => string): Result.Result<S["Type"], InvalidRequest> =>
    Result.map(decodeWith(schema)(request), (input) => ({
      ...input,
      transactionUuid: input.transactionUuid === "" ? newId() : input.transactionUuid,
    }))

export interface BuyerFollowUpInput {
  readonly orderReqId: string
  readonly transactionUuid: string
  readonly audience: ReadonlyArray<string>
  readonly content: FollowUpContent
}

export const parseFollowUpRequest = (
  request: FollowUpRequest,
  newId: () => string,
): Result.Result<BuyerFollowUpInput, InvalidRequest> =>
  Result.map(parseAction(FollowUpRequestSchema)(request, newId), ({ audienceProposalIds, message, ...input }) => ({
    ...input,
    audience: audienceProposalIds,
    content: message,
  }))

export interface OrderActionInput {
  readonly orderReqId: string
  readonly transactionUuid: string
}

export const parseFinaliseRequest = (request: FinaliseOrderRequest, newId: () => string) =>
  Result.map(parseAction(FinaliseRequestSchema)(request, newId), ({ proposalId, ...input }) => ({
    ...input,
    proposalId: proposalId === "" ? undefined : proposalId,
  }))

export const parsePauseRequest = (request: PauseOrderRequest, newId: () => string) =>
  Result.map(parseAction(PauseRequestSchema)(request, newId), ({ reason, ...input }) => ({
    ...input,
    note: reason === "" ? undefined : reason,
  }))

export const parseResumeRequest: (
  request: ResumeOrderRequest,
  newId: () => string,
) => Result.Result<OrderActionInput, InvalidRequest> = parseAction(ResumeRequestSchema)
