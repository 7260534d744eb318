/**
 * The ONE mapping from a failed processor call to the buyer's order error. The status picks the
 * kind of error; the code (`order_paused`, `proposal_not_found`, `overloaded`, ...) is the
 * processor's machine-readable reason, which it sends as the standard `google.rpc.ErrorInfo`
 * reason and the `dcent-error-code` trailer (`@dcent/shared/grpc/errorDetails`; read by
 * `ProcessorClient` into `ProcessorCallError.reason`), never parsed from the message text.
 *
 *   NOT_FOUND                                    → NotFound        <reason> | not_found
 *   FAILED_PRECONDITION / ALREADY_EXISTS / ABORTED → Conflict      <reason> | wrong_state
 *   INVALID_ARGUMENT / OUT_OF_RANGE              → InvalidRequest  <reason> | invalid_request
 *   RESOURCE_EXHAUSTED (admission control)       → Unavailable     <reason> | overloaded, Retry-After = its hint
 *   UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED  → Unavailable     unavailable
 *   anything else                                → UpstreamFailed  processor_error
 *
 * Every one keeps the `ProcessorCallError` as its `cause` (logs, traces; not the REST body).
 */
import { Status } from "nice-grpc"
import type { ProcessorCallError } from "../processor/ProcessorClient.ts"
import { Conflict, InvalidRequest, NotFound, type OrderError, Unavailable, UpstreamFailed } from "./errors.ts"

export const fromProcessorError = (error: ProcessorCallError): OrderError => {
  const text = error.details === "" ? error.message : error.details
  const reason = error.reason
  switch (error.code) {
    case Status.NOT_FOUND:
      return new NotFound({ code: reason ?? "not_found", message: text, details: [], cause: error })
    case Status.FAILED_PRECONDITION:
    case Status.ALREADY_EXISTS:
    case Status.ABORTED:
      return new Conflict({ code: reason ?? "wrong_state", message: text, details: [], cause: error })
    case Status.INVALID_ARGUMENT:
    case Status.OUT_OF_RANGE:
      return new InvalidRequest({
        code: reason ?? "invalid_request",
        message: text,
        details: [{ path: "body", problem: text }],
        cause: error,
      })
    case Status.RESOURCE_EXHAUSTED:
      // The processor's admission control refused the call before doing it: retry after its hint.
      return new Unavailable({
        code: reason ?? "overloaded",
        message: `the processor is overloaded; retry later (${text})`,
        details: [{ path: "processor", problem: text }],
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
        cause: error,
      })
    case Status.UNAVAILABLE:
    case Status.DEADLINE_EXCEEDED:
    case Status.CANCELLED:
      return Unavailable.of(
        "processor",
        `${error.codeName}${error.details === "" ? "" : `: ${error.details}`}`,
        undefined,
        error,
      )
    default:
      return new UpstreamFailed({ code: "processor_error", message: error.message, details: [], cause: error })
  }
}
