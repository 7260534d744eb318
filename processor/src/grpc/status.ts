/**
 * The ONE mapping from the order lifecycle's failures to gRPC status codes. The error's
 * machine-readable code (e.g. `order_paused`, `proposal_locked`) travels as the standard
 * `google.rpc.ErrorInfo` reason and in the trailer `dcent-error-code`, and an InvalidRequest's
 * fields as `google.rpc.BadRequest` violations (`@dcent/shared/grpc/errorDetails`), so the
 * requestor can answer its REST clients precisely.
 *
 *   InvalidRequest     INVALID_ARGUMENT     (message names the fields: `location.lat: ...`)
 *   OrderNotFound      NOT_FOUND            order_not_found
 *   ProposalNotFound   NOT_FOUND            proposal_not_found
 *   SellerNotFound     NOT_FOUND            seller_not_found
 *   SellerNotEligible  PERMISSION_DENIED    seller_not_eligible
 *   WrongState         FAILED_PRECONDITION  <reason>: order_paused, order_finalised, order_not_paused, proposal_locked, ...
 *   Unavailable        UNAVAILABLE          unavailable (retry)
 */
import { type GrpcErrorOptions, grpcError } from "@dcent/shared/grpc/errorDetails"
import { type CallContext, type ServerError, Status } from "nice-grpc"
import type { CommandError } from "../orders/errors.ts"

export type GrpcFailure = GrpcErrorOptions

export const grpcFailureOf = (error: CommandError): GrpcFailure => {
  switch (error._tag) {
    case "InvalidRequest":
      return {
        status: Status.INVALID_ARGUMENT,
        code: "invalid_request",
        message: error.message,
        violations: error.details,
      }
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

/** The failure as the error a handler throws (code in the trailer and the standard details). */
export const toServerError = (call: Pick<CallContext, "trailer">, failure: GrpcFailure): ServerError =>
  grpcError(call, failure)
