/**
 * The ONE mapping from the order lifecycle's failures to gRPC status codes. The error's
 * machine-readable code also travels in the trailer `dcent-error-code` (e.g. `order_paused`,
 * `proposal_locked`), so the requestor can answer its REST clients precisely.
 *
 *   InvalidRequest     INVALID_ARGUMENT     (message names the fields: `location.lat: ...`)
 *   OrderNotFound      NOT_FOUND            order_not_found
 *   ProposalNotFound   NOT_FOUND            proposal_not_found
 *   SellerNotFound     NOT_FOUND            seller_not_found
 *   SellerNotEligible  PERMISSION_DENIED    seller_not_eligible
 *   WrongState         FAILED_PRECONDITION  <reason>: order_paused, order_finalised, order_not_paused, proposal_locked, ...
 *   Unavailable        UNAVAILABLE          unavailable (retry)
 */
import { ServerError, Status } from "nice-grpc"
import type { CommandError } from "../orders/errors.ts"

export const errorCodeTrailer = "dcent-error-code"

export interface GrpcFailure {
  readonly status: Status
  readonly code: string
  readonly message: string
}

export const grpcFailureOf = (error: CommandError): GrpcFailure => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: Status.INVALID_ARGUMENT, code: "invalid_request", message: error.message }
    case "OrderNotFound":
      return { status: Status.NOT_FOUND, code: "order_not_found", message: error.message }
    case "ProposalNotFound":
      return { status: Status.NOT_FOUND, code: "proposal_not_found", message: error.message }
    case "SellerNotFound":
      return { status: Status.NOT_FOUND, code: "seller_not_found", message: error.message }
    case "SellerNotEligible":
      return { status: Status.PERMISSION_DENIED, code: "seller_not_eligible", message: error.message }
    case "WrongState":
      return { status: Status.FAILED_PRECONDITION, code: error.reason, message: error.message }
    case "Unavailable":
      return { status: Status.UNAVAILABLE, code: "unavailable", message: error.message }
  }
}

export const toServerError = (failure: GrpcFailure): ServerError => new ServerError(failure.status, failure.message)
