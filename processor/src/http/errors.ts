/**
 * The processor's typed REST errors, each on the wire as the common error body
 * (`{"error": {"code", "message", "details": [{"path", "problem"}]}}`) with its status, and the
 * ONE mapping from the order lifecycle's failures to them (`toApiError`).
 *
 *   InvalidRequest                         → 400 invalid_request (details: field paths)
 *   SellerNotEligible                      → 403 seller_not_eligible
 *   OrderNotFound / ProposalNotFound /
 *   SellerNotFound                         → 404 order_not_found / proposal_not_found / seller_not_found
 *   WrongState                             → 409 <reason> (order_paused, order_finalised, ...)
 *   Unavailable                            → 503 unavailable + Retry-After
 */
import { errorFields, onWire, onWireRetryAfter, retryAfterErrorFields } from "@dcent/shared/http/errors"
import { Schema } from "effect"
import type { CommandError } from "../orders/errors.ts"

export class ApiBadRequest extends Schema.TaggedError<ApiBadRequest>()("ApiBadRequest", errorFields) {}
export class ApiForbidden extends Schema.TaggedError<ApiForbidden>()("ApiForbidden", errorFields) {}
export class ApiNotFound extends Schema.TaggedError<ApiNotFound>()("ApiNotFound", errorFields) {}
export class ApiConflict extends Schema.TaggedError<ApiConflict>()("ApiConflict", errorFields) {}
export class ApiUnavailable extends Schema.TaggedError<ApiUnavailable>()("ApiUnavailable", retryAfterErrorFields) {}

export const BadRequestResponse = onWire(ApiBadRequest, 400, (value) => new ApiBadRequest(value)).annotate({
  description: "The request is invalid; `details` names each bad field (`body.ProposalDictObj.Price`, ...)",
})
export const ForbiddenResponse = onWire(ApiForbidden, 403, (value) => new ApiForbidden(value)).annotate({
  description: "The seller may not act on this order or proposal",
})
export const NotFoundResponse = onWire(ApiNotFound, 404, (value) => new ApiNotFound(value)).annotate({
  description: "Unknown order, proposal or seller",
})
export const ConflictResponse = onWire(ApiConflict, 409, (value) => new ApiConflict(value)).annotate({
  description: "Wrong state: the order is paused or finalised, the ProposalID belongs to another seller, ...",
})
export const UnavailableResponse = onWireRetryAfter(ApiUnavailable, (value) => new ApiUnavailable(value)).annotate({
  description: "Redis is unavailable, or the order keeps changing concurrently; retry after `Retry-After` seconds",
})

/** Every error a business endpoint of the processor can answer with. */
export const ApiErrors = [
  BadRequestResponse,
  ForbiddenResponse,
  NotFoundResponse,
  ConflictResponse,
  UnavailableResponse,
] as const

export type ApiError = ApiBadRequest | ApiForbidden | ApiNotFound | ApiConflict | ApiUnavailable

/** The HTTP status of an `ApiError`. */
export const statusOf = (error: ApiError): number => {
  switch (error._tag) {
    case "ApiBadRequest":
      return 400
    case "ApiForbidden":
      return 403
    case "ApiNotFound":
      return 404
    case "ApiConflict":
      return 409
    case "ApiUnavailable":
      return 503
  }
}

/** The one mapping from lifecycle failures to REST errors. */
export const toApiError = (error: CommandError): ApiError => {
  switch (error._tag) {
    case "InvalidRequest":
      return new ApiBadRequest({ code: "invalid_request", message: "the request is invalid", details: error.details })
    case "SellerNotEligible":
      return new ApiForbidden({
        code: "seller_not_eligible",
        message: error.message,
        details: [{ path: "Seller", problem: error.reason }],
      })
    case "OrderNotFound":
      return new ApiNotFound({ code: "order_not_found", message: error.message, details: [] })
    case "ProposalNotFound":
      return new ApiNotFound({ code: "proposal_not_found", message: error.message, details: [] })
    case "SellerNotFound":
      return new ApiNotFound({
        code: "seller_not_found",
        message: `${error.message}; register it with POST /api/v1/sellers`,
        details: [],
      })
    case "WrongState":
      return new ApiConflict({ code: error.reason, message: error.message, details: [] })
    case "Unavailable":
      return new ApiUnavailable({
        code: "unavailable",
        message: error.message,
        details: [{ path: error.dependency, problem: error.problem }],
        retryAfterSeconds: 1,
      })
  }
}
