/**
 * The typed failures of the order lifecycle. Transport layers map them in one place each:
 * gRPC status codes in `../grpc/status.ts`, HTTP statuses in `../http/errors.ts`.
 */
import { Schema } from "effect"

/** A request field is missing or malformed (HTTP 400, gRPC INVALID_ARGUMENT). */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  details: Schema.Array(Schema.Struct({ path: Schema.String, problem: Schema.String })),
}) {
  override get message() {
    return `invalid request: ${this.details.map((detail) => `${detail.path}: ${detail.problem}`).join("; ")}`
  }
}

/** No order with this id (HTTP 404, gRPC NOT_FOUND). */
export class OrderNotFound extends Schema.TaggedError<OrderNotFound>()("OrderNotFound", {
  orderReqId: Schema.String,
}) {
  override get message() {
    return `order ${this.orderReqId} not found`
  }
}

/** No proposal with this id on the order (HTTP 404, gRPC NOT_FOUND). */
export class ProposalNotFound extends Schema.TaggedError<ProposalNotFound>()("ProposalNotFound", {
  orderReqId: Schema.String,
  proposalId: Schema.String,
}) {
  override get message() {
    return `proposal ${this.proposalId} not found on order ${this.orderReqId}`
  }
}

/** The seller is not in the seller directory (HTTP 404). */
export class SellerNotFound extends Schema.TaggedError<SellerNotFound>()("SellerNotFound", {
  sellerId: Schema.String,
}) {
  override get message() {
    return `seller ${this.sellerId} not found in the seller directory`
  }
}

/** The seller may not act on this order or proposal (HTTP 403, gRPC PERMISSION_DENIED). */
export class SellerNotEligible extends Schema.TaggedError<SellerNotEligible>()("SellerNotEligible", {
  orderReqId: Schema.String,
  sellerId: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `seller ${this.sellerId} may not act on order ${this.orderReqId}: ${this.reason}`
  }
}

/**
 * The order or proposal is in a state that does not allow the operation: paused, finalised,
 * locked, not paused, ... (HTTP 409, gRPC FAILED_PRECONDITION). `reason` is machine-readable
 * (`order_paused`, `order_finalised`, `proposal_locked`, `proposal_owned_by_another_seller`, ...).
 */
export class WrongState extends Schema.TaggedError<WrongState>()("WrongState", {
  orderReqId: Schema.String,
  reason: Schema.String,
  description: Schema.String,
}) {
  override get message() {
    return this.description
  }
}

/** A dependency (Redis, the order lock) is unavailable right now (HTTP 503, gRPC UNAVAILABLE). */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  dependency: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.dependency} is unavailable: ${this.reason}`
  }
}

/** Failures a decision can produce. */
export type DecisionError =
  | InvalidRequest
  | OrderNotFound
  | ProposalNotFound
  | SellerNotFound
  | SellerNotEligible
  | WrongState

/** Failures of a command as a whole (decision + storage). */
export type CommandError = DecisionError | Unavailable
