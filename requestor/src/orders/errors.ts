/**
 * The failures of the order operations. Each has a stable snake_case `code` for programs, a
 * `message` for humans and optional `details` (`{path, problem}`); `api.ts` renders them as the
 * common error body with their HTTP status (code, message and details only), `failureReports.ts`
 * as `REQ_failures`. `cause` keeps the underlying failure (a processor call, the event log) for
 * logs and traces; it never reaches the wire.
 */
import { ErrorDetail } from "@dcent/shared/http/errors"
import { Schema } from "effect"

const fields = {
  code: Schema.String,
  message: Schema.String,
  details: Schema.Array(ErrorDetail),
  cause: Schema.optionalKey(Schema.Defect()),
}

/** 400: the request is invalid (one detail per problem, with the field path). */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", fields, {
  httpApiStatus: 400,
}) {
  static readonly of = (message: string, details: ReadonlyArray<ErrorDetail> = []) =>
    new InvalidRequest({ code: "invalid_request", message, details })
}

/** 403: the authenticated principal may not do this (`auth/policy.ts`; `code` = the reason, e.g. `not_order_owner`). */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", fields, { httpApiStatus: 403 }) {
  static readonly of = (denied: { readonly reason: string; readonly detail: string }) =>
    new Forbidden({
      code: denied.reason,
      message: denied.detail,
      details: [{ path: "authorization", problem: denied.detail }],
    })
}

/** 404: no such order (or proposal, as reported by the processor). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", fields, { httpApiStatus: 404 }) {
  static readonly order = (orderReqId: string, hint?: string) =>
    new NotFound({
      code: "order_not_found",
      message: `order ${orderReqId} not found${hint === undefined ? "" : `; ${hint}`}`,
      details: [{ path: "OrderReqID", problem: `no order ${orderReqId}` }],
    })
}

/** 409: the order is not in a state that allows the operation, or an idempotency key was reused. */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", fields, { httpApiStatus: 409 }) {}

/** 503: a dependency (the processor, Redis) cannot be reached; try again after `retryAfterSeconds`. */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { ...fields, retryAfterSeconds: Schema.Int },
  { httpApiStatus: 503 },
) {
  static readonly of = (dependency: string, reason: string, retryAfterSeconds = 5, cause?: unknown) =>
    new Unavailable({
      code: "unavailable",
      message: `${dependency} is unavailable: ${reason}`,
      details: [{ path: dependency, problem: reason }],
      retryAfterSeconds,
      ...(cause === undefined ? {} : { cause }),
    })
}

/** 502: the processor failed in a way that is not the buyer's doing. */
export class UpstreamFailed extends Schema.TaggedError<UpstreamFailed>()("UpstreamFailed", fields, {
  httpApiStatus: 502,
}) {}

export type OrderError = InvalidRequest | Forbidden | NotFound | Conflict | Unavailable | UpstreamFailed
