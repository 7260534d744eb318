/**
 * The one way a dcent gRPC error carries its machine-readable code, for both services:
 *
 * - the standard rich error model (`grpc-status-details-bin`, via `nice-grpc-error-details`):
 *   a `google.rpc.ErrorInfo` {reason: the code, domain: "dcent"}, and for INVALID_ARGUMENT a
 *   `google.rpc.BadRequest` with one field violation per bad field;
 * - the trailer `dcent-error-code` with the same code, which existing clients read.
 *
 * Servers run `errorDetailsStage` (outermost, `GrpcServer`); clients install
 * `errorDetailsClientMiddleware` and read the code with `errorCodeOf`.
 */
import type { CallContext, ClientError, ServerError, Status } from "nice-grpc-common"
import {
  Any,
  BadRequest,
  BadRequest_FieldViolation,
  DebugInfo,
  type ErrorDetails,
  ErrorInfo,
  errorDetailsClientMiddleware,
  Help,
  LocalizedMessage,
  PreconditionFailure,
  PreconditionFailure_Violation,
  QuotaFailure,
  QuotaFailure_Violation,
  RequestInfo,
  ResourceInfo,
  RetryInfo,
  RichClientError,
  RichServerError,
} from "nice-grpc-error-details"
import { Status as StatusMessage } from "nice-grpc-error-details/lib/proto/google/rpc/status.js"
import { type ServerStage, serverStages } from "./stages.ts"

export { errorDetailsClientMiddleware }

/** The trailer of the standard rich error model. */
const statusDetailsTrailer = "grpc-status-details-bin"

/** The detail messages the rich error model knows, by type name (as `nice-grpc-error-details` packs them). */
const detailTypes = new Map<string, { encode: (message: never) => { finish: () => Uint8Array } }>(
  [
    RetryInfo,
    DebugInfo,
    QuotaFailure,
    QuotaFailure_Violation,
    ErrorInfo,
    PreconditionFailure,
    PreconditionFailure_Violation,
    BadRequest,
    BadRequest_FieldViolation,
    RequestInfo,
    ResourceInfo,
    Help,
    LocalizedMessage,
  ].map((type) => [type.$type, type]),
)

/** A detail as `google.protobuf.Any`. */
const packDetail = (detail: ErrorDetails): Any => {
  if (detail.$type === Any.$type) return detail
  const type = detailTypes.get(detail.$type)
  if (type === undefined) throw new Error(`Unknown error details type: ${detail.$type}`)
  return Any.fromPartial({
    typeUrl: `type.googleapis.com/${detail.$type}`,
    value: type.encode(detail as never).finish(),
  })
}

/**
 * `nice-grpc-error-details`' server middleware, as a stage (`stages.ts`): the same trailer, set
 * when the call fails with a `RichServerError`, before the error goes on. (The library's is an
 * `async function*` around `yield*`: a suspended generator per call for as long as it runs, on
 * every one of a requestor's 50,000 `WatchOrder` streams.) The outermost stage: every
 * `grpcError` thrown inside (stage or handler) gets its details.
 */
export const errorDetailsStage: ServerStage = {
  enter: (_call, context) => (end) => {
    if (!end.failed || !(end.error instanceof RichServerError)) return
    const status = StatusMessage.fromPartial({
      code: end.error.code,
      message: end.error.details,
      details: end.error.extra.map(packDetail),
    })
    context.trailer.set(statusDetailsTrailer, StatusMessage.encode(status).finish())
  },
}

/** The error details alone as a server middleware (for servers without `GrpcServer`'s stages). */
export const errorDetailsServerMiddleware = serverStages([errorDetailsStage])

/** The trailer with the error's code (`order_paused`, `overloaded`, ...). */
export const errorCodeTrailer = "dcent-error-code"

/** `ErrorInfo.domain` of every dcent error. */
export const errorDomain = "dcent"

/** A bad request field, by its path in the request (`products[0].quantity`). */
export interface FieldViolation {
  readonly path: string
  readonly problem: string
}

export interface GrpcErrorOptions {
  readonly status: Status
  readonly message: string
  /** Machine-readable, snake_case: `ErrorInfo.reason` and the `dcent-error-code` trailer. */
  readonly code: string
  /** For INVALID_ARGUMENT: the `BadRequest` field violations. */
  readonly violations?: ReadonlyArray<FieldViolation>
}

/** The error to throw from a handler or middleware: code in the trailer and in the standard details. */
export const grpcError = (context: Pick<CallContext, "trailer">, options: GrpcErrorOptions): ServerError => {
  context.trailer.set(errorCodeTrailer, options.code)
  const details: Array<ErrorDetails> = [ErrorInfo.fromPartial({ reason: options.code, domain: errorDomain })]
  if (options.violations !== undefined && options.violations.length > 0) {
    details.push(
      BadRequest.fromPartial({
        fieldViolations: options.violations.map((violation) => ({
          field: violation.path,
          description: violation.problem,
        })),
      }),
    )
  }
  return new RichServerError(options.status, options.message, details)
}

/** The `ErrorInfo` of a failed call (with `errorDetailsClientMiddleware` installed), if it has one from dcent. */
export const errorInfoOf = (error: ClientError): ErrorInfo | undefined => {
  if (!(error instanceof RichClientError)) return undefined
  for (const detail of error.extra) {
    if (detail.$type === "google.rpc.ErrorInfo" && detail.domain === errorDomain) return detail
  }
  return undefined
}

/** The field violations of a failed call's `BadRequest` detail (empty without one). */
export const fieldViolationsOf = (error: ClientError): ReadonlyArray<FieldViolation> =>
  error instanceof RichClientError
    ? error.extra.flatMap((detail) =>
        detail.$type === "google.rpc.BadRequest"
          ? detail.fieldViolations.map((violation) => ({ path: violation.field, problem: violation.description }))
          : [],
      )
    : []

/** A failed call's code: the standard `ErrorInfo.reason` first, else the `dcent-error-code` trailer. */
export const errorCodeOf = (error: ClientError, trailerCode: string | undefined): string | undefined => {
  const reason = errorInfoOf(error)?.reason
  if (reason !== undefined && reason !== "") return reason
  return trailerCode === undefined || trailerCode === "" ? undefined : trailerCode
}
