/**
 * The requestor's typed REST errors, each on the wire as the common error body
 * (`{"error": {"code", "message", "details": [{"path", "problem"}]}}`) with its status, and the
 * ONE mapping from the buyer's order failures to them (`toApiError`). `REQ_failures` reports the
 * same answer (`../orders/failureReports.ts`).
 *
 *   BuyerIdMissing / NotificationTypeMissing /
 *   InlineDetailsIncomplete                    → 400 invalid_request (details: the missing body fields)
 *   PermissionDenied                           → 403 <reason> (not_order_owner, buyer_mismatch, role_not_allowed)
 *   OrderNotFound / OrderDetailsMissing        → 404 order_not_found
 *   WrongOrderState                            → 409 order_not_submitted / order_already_submitted /
 *                                                    order_finalised / order_archived
 *   IdempotencyKeyReused                       → 409 transaction_uuid_reused
 *   ProcessorRefused                           → 404 / 409 / 400 with the processor's code
 *                                                    (else not_found / wrong_state / invalid_request)
 *   ProcessorFailed                            → 502 processor_error
 *   ProcessorUnavailable                       → 503 overloaded (Retry-After: the processor's hint, else 1)
 *                                                    or unavailable (Retry-After: 5)
 *   StorageUnavailable / OrderChangedDuringInitiate /
 *   TopicMessagesUnavailable                   → 503 unavailable + Retry-After
 *   TooManyEventStreams                        → 503 overloaded + Retry-After
 */
import type { PermissionDenied } from "@dcent/shared/auth/errors"
import { errorFields, onWire, onWireRetryAfter, retryAfterErrorFields } from "@dcent/shared/http/errors"
import { Schema } from "effect"
import type { TooManyEventStreams } from "../buyer-streams/sseEndpoint.ts"
import type {
  BuyerIdMissing,
  IdempotencyKeyReused,
  InlineDetailsIncomplete,
  NotificationTypeMissing,
  OrderChangedDuringInitiate,
  OrderDetailsMissing,
  OrderError,
  OrderNotFound,
  ProcessorFailed,
  ProcessorRefused,
  ProcessorUnavailable,
  StorageUnavailable,
  TopicMessagesUnavailable,
  WrongOrderState,
} from "../orders/errors.ts"

// The REST answers; the OpenAPI document names each error response after its class.
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", errorFields) {}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", errorFields) {}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", errorFields) {}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", errorFields) {}
export class UpstreamFailed extends Schema.TaggedError<UpstreamFailed>()("UpstreamFailed", errorFields) {}
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", retryAfterErrorFields) {}

export const BadRequestResponse = onWire(InvalidRequest, 400, (value) => new InvalidRequest(value))
export const ForbiddenResponse = onWire(Forbidden, 403, (value) => new Forbidden(value)).annotate({
  description:
    "Authenticated, but not allowed: another buyer's order (`not_order_owner`), a body naming another buyer " +
    "(`buyer_mismatch`), or a role that may not do this (`role_not_allowed`)",
})
export const NotFoundResponse = onWire(NotFound, 404, (value) => new NotFound(value))
export const ConflictResponse = onWire(Conflict, 409, (value) => new Conflict(value))
export const UpstreamFailedResponse = onWire(UpstreamFailed, 502, (value) => new UpstreamFailed(value))
/** 503 with `Retry-After`. */
export const UnavailableResponse = onWireRetryAfter(Unavailable, (value) => new Unavailable(value))

export type ApiError = InvalidRequest | Forbidden | NotFound | Conflict | UpstreamFailed | Unavailable

/** The HTTP status of an `ApiError`. */
export const statusOf = (error: ApiError): number => {
  switch (error._tag) {
    case "InvalidRequest":
      return 400
    case "Forbidden":
      return 403
    case "NotFound":
      return 404
    case "Conflict":
      return 409
    case "UpstreamFailed":
      return 502
    case "Unavailable":
      return 503
  }
}

/** Every failure a handler of the order group can answer with. */
export type RestFailure = OrderError | TooManyEventStreams

/** A dependency that cannot be used now: retry after this many seconds unless it said otherwise. */
const dependencyRetryAfterSeconds = 5

const unavailable = (
  dependency: string,
  problem: string,
  retryAfterSeconds: number,
  answer: { readonly code: string; readonly message: string } = {
    code: "unavailable",
    message: `${dependency} is unavailable: ${problem}`,
  },
) => new Unavailable({ ...answer, details: [{ path: dependency, problem }], retryAfterSeconds })

const orderNotFound = (orderReqId: string, message: string) =>
  new NotFound({
    code: "order_not_found",
    message,
    details: [{ path: "OrderReqID", problem: `no order ${orderReqId}` }],
  })

const missingKey = (message: string, path: string, problem: string) =>
  new InvalidRequest({ code: "invalid_request", message, details: [{ path, problem }] })

const wrongStateCodes: Readonly<Record<WrongOrderState["reason"], string>> = {
  not_submitted: "order_not_submitted",
  already_submitted: "order_already_submitted",
  finalised: "order_finalised",
  archived: "order_archived",
}

/** Each failure's answer, by tag: the mapping itself (the answer types follow from it). */
const answers = {
  OrderNotFound: (error: OrderNotFound) => orderNotFound(error.orderReqId, error.message),
  OrderDetailsMissing: (error: OrderDetailsMissing) =>
    orderNotFound(
      error.orderReqId,
      `order ${error.orderReqId} not found; register it first with POST /api/v1/orders, or send the order details ` +
        "inline in this request (BuyerID, Industry, Location, Products, DeliveryDate; Priority optional)",
    ),
  WrongOrderState: (error: WrongOrderState) =>
    new Conflict({
      code: wrongStateCodes[error.reason],
      message:
        error.reason === "not_submitted"
          ? `${error.message}; ${error.operation === "followup" ? "a follow-up" : error.operation} needs POST /api/v1/initiate first`
          : error.message,
      details: [],
    }),
  IdempotencyKeyReused: (error: IdempotencyKeyReused) =>
    new Conflict({
      code: "transaction_uuid_reused",
      message: error.message,
      details: [{ path: "body.TransactionUUID", problem: "already used for a different follow-up" }],
    }),
  BuyerIdMissing: (_: BuyerIdMissing) =>
    missingKey(
      "the request body is invalid",
      "body.BuyerID",
      "Missing key (send BuyerID, or authenticate as the buyer)",
    ),
  NotificationTypeMissing: (error: NotificationTypeMissing) =>
    missingKey(
      error.message,
      "body.NotificationType",
      'Missing key (send "NotificationType" or "Notification type": GChat, Email or SMS)',
    ),
  InlineDetailsIncomplete: (error: InlineDetailsIncomplete) =>
    new InvalidRequest({
      code: "invalid_request",
      message: error.message,
      details: error.missing.map((field) => ({
        path: `body.${field}`,
        problem: `Missing key (inline order details need ${error.required.join(", ")})`,
      })),
    }),
  PermissionDenied: (error: PermissionDenied) =>
    new Forbidden({
      code: error.reason,
      message: error.detail,
      details: [{ path: "authorization", problem: error.detail }],
    }),
  ProcessorRefused: (error: ProcessorRefused): NotFound | Conflict | InvalidRequest => {
    switch (error.reason) {
      case "not_found":
        return new NotFound({ code: error.processorCode ?? "not_found", message: error.message, details: [] })
      case "wrong_state":
        return new Conflict({ code: error.processorCode ?? "wrong_state", message: error.message, details: [] })
      case "invalid_request":
        return new InvalidRequest({
          code: error.processorCode ?? "invalid_request",
          message: error.message,
          details: [{ path: "body", problem: error.description }],
        })
    }
  },
  ProcessorUnavailable: (error: ProcessorUnavailable) =>
    error.reason === "overloaded"
      ? unavailable("processor", error.problem, error.retryAfterSeconds ?? 1, {
          code: error.processorCode ?? "overloaded",
          message: error.message,
        })
      : unavailable("processor", error.problem, dependencyRetryAfterSeconds),
  ProcessorFailed: (error: ProcessorFailed) =>
    new UpstreamFailed({ code: "processor_error", message: error.message, details: [] }),
  StorageUnavailable: (error: StorageUnavailable) =>
    unavailable(error.storage, error.problem, dependencyRetryAfterSeconds),
  OrderChangedDuringInitiate: (error: OrderChangedDuringInitiate) =>
    unavailable("redis", error.message, dependencyRetryAfterSeconds),
  TopicMessagesUnavailable: (error: TopicMessagesUnavailable) =>
    // A broker that cannot read by key will not learn to within a minute.
    unavailable("broker", error.problem, error.reason === "not_supported" ? 60 : 1),
  TooManyEventStreams: (error: TooManyEventStreams) =>
    unavailable("sse", error.problem, error.retryAfterSeconds, {
      code: "overloaded",
      message: "too many event streams are open; retry later",
    }),
} satisfies { readonly [Tag in RestFailure["_tag"]]: (error: Extract<RestFailure, { _tag: Tag }>) => ApiError }

/** The REST error a failure is answered with (exactly the kinds its failures can produce). */
export type ApiErrorOf<E extends RestFailure> = ReturnType<(typeof answers)[E["_tag"]]>

/** The one mapping from the buyer's order failures to REST errors. */
export function toApiError<E extends RestFailure>(error: E): ApiErrorOf<E>
export function toApiError(error: RestFailure): ApiError {
  // `answers[error._tag]` takes exactly this failure; TypeScript cannot correlate the two through the union.
  return answers[error._tag](error as never)
}
