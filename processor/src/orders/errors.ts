/**
 * The typed failures of the order lifecycle. Transport layers map them in one place each:
 * gRPC status codes in `../grpc/status.ts`, HTTP statuses in `../http/errors.ts`.
 */
import type { CoordinationError } from "@dcent/shared/coordination/errors"
import { type EventLogError, isRetryLater } from "@dcent/shared/eventlog/errors"
import type { OutboxError } from "@dcent/shared/outbox/errors"
import { redactUrls } from "@dcent/shared/runtime/logging"
import { Effect, Schema } from "effect"

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

/**
 * What a command could not use right now: a store (`redis`, `archive`, `seller directory`), the
 * order's stored state (`order state`: it could not be read back), or the order itself (`order`:
 * it kept changing on other replicas until the command gave up).
 */
export const UnavailableDependency = Schema.Literals(["redis", "archive", "seller directory", "order state", "order"])
export type UnavailableDependency = typeof UnavailableDependency.Type

/**
 * A dependency is unavailable right now; nothing was written, retry later (HTTP 503 +
 * Retry-After, gRPC UNAVAILABLE). `cause` is the underlying failure (the Redis, event-log,
 * outbox, queue, archive or schema error, or the last commit conflict); the text clients see is
 * rendered from it (`problem`), with any URL password masked.
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  dependency: UnavailableDependency,
  /** The order concerned, for `order` and `order state`. */
  orderReqId: Schema.optionalKey(Schema.String),
  cause: Schema.Defect(),
}) {
  /** What went wrong, for people (REST `details[].problem`). */
  get problem(): string {
    switch (this.dependency) {
      case "order":
        return `order ${this.orderReqId} keeps changing concurrently on other replicas; try again`
      case "order state":
        return redactUrls(`order ${this.orderReqId}: ${messageOf(this.cause)}`)
      default:
        return redactUrls(messageOf(this.cause))
    }
  }

  override get message() {
    return `${this.dependency} is unavailable: ${this.problem}`
  }
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** `Effect.mapError(unavailable("redis"))`: the failure becomes the cause of an `Unavailable`. */
export const unavailable =
  (dependency: UnavailableDependency, orderReqId?: string) =>
  (cause: unknown): Unavailable =>
    new Unavailable({ dependency, cause, ...(orderReqId === undefined ? {} : { orderReqId }) })

/**
 * A failure of a shared Redis building block (event log, outbox, queue): an outage or contention
 * (nothing written) is `Unavailable` (503 + Retry-After); a refused command or unreadable data is
 * a bug, a defect (500).
 */
export const unavailableOrDefect = (
  error: EventLogError | OutboxError | CoordinationError,
): Effect.Effect<never, Unavailable> =>
  isRetryLater(error) ? Effect.fail(unavailable("redis")(error)) : Effect.die(error)

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
