/**
 * The ONE mapping from a failed processor call to the buyer's order error. The status picks what
 * happened; the processor's machine-readable reason (`order_paused`, `proposal_not_found`,
 * `overloaded`, ...), which it sends as the standard `google.rpc.ErrorInfo` reason and the
 * `dcent-error-code` trailer (`@dcent/shared/grpc/errorDetails`; read by `ProcessorClient` into
 * `ProcessorCallError.reason`), travels on as `processorCode`, never parsed from the message text.
 *
 *   NOT_FOUND                                      → ProcessorRefused     not_found
 *   FAILED_PRECONDITION / ALREADY_EXISTS / ABORTED → ProcessorRefused     wrong_state
 *   INVALID_ARGUMENT / OUT_OF_RANGE                → ProcessorRefused     invalid_request
 *   RESOURCE_EXHAUSTED (admission control)         → ProcessorUnavailable overloaded (with its retry hint)
 *   UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED    → ProcessorUnavailable unreachable / timed_out / cancelled
 *   anything else                                  → ProcessorFailed
 *
 * Every one keeps the `ProcessorCallError` as its `cause` (logs, traces; not the REST body).
 */
import { Status } from "nice-grpc"
import type { ProcessorCallError } from "../processor/ProcessorClient.ts"
import { type ProcessorError, ProcessorFailed, ProcessorRefused, ProcessorUnavailable } from "./errors.ts"

const unreachableReasons = {
  [Status.UNAVAILABLE]: "unreachable",
  [Status.DEADLINE_EXCEEDED]: "timed_out",
  [Status.CANCELLED]: "cancelled",
} as const

export const fromProcessorError =
  (orderReqId: string) =>
  (error: ProcessorCallError): ProcessorError => {
    const description = error.details === "" ? error.message : error.details
    const processorCode = error.reason === undefined ? {} : { processorCode: error.reason }
    const refused = (reason: ProcessorRefused["reason"]) =>
      new ProcessorRefused({ orderReqId, reason, ...processorCode, description, cause: error })
    switch (error.code) {
      case Status.NOT_FOUND:
        return refused("not_found")
      case Status.FAILED_PRECONDITION:
      case Status.ALREADY_EXISTS:
      case Status.ABORTED:
        return refused("wrong_state")
      case Status.INVALID_ARGUMENT:
      case Status.OUT_OF_RANGE:
        return refused("invalid_request")
      case Status.RESOURCE_EXHAUSTED:
        // The processor's admission control refused the call before doing it: retry after its hint.
        return new ProcessorUnavailable({
          orderReqId,
          reason: "overloaded",
          ...processorCode,
          problem: description,
          ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
          cause: error,
        })
      case Status.UNAVAILABLE:
      case Status.DEADLINE_EXCEEDED:
      case Status.CANCELLED:
        return new ProcessorUnavailable({
          orderReqId,
          reason: unreachableReasons[error.code],
          problem: `${error.codeName}${error.details === "" ? "" : `: ${error.details}`}`,
          cause: error,
        })
      default:
        return new ProcessorFailed({ orderReqId, description: error.message, cause: error })
    }
  }
