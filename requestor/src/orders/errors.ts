/**
 * The typed failures of the buyer's order operations, named for what happened and carrying the
 * order's fields, never HTTP ones. Each transport maps them in one place: REST statuses, codes,
 * details and `Retry-After` in `../http/errors.ts` (also what `REQ_failures` reports, through
 * `./failureReports.ts`), gRPC `WatchOrder` statuses in `../buyer-streams/grpc.ts`. A refusal
 * of the authorization policy is the shared `PermissionDenied`.
 */
import type { PermissionDenied } from "@dcent/shared/auth/errors"
import { type EventLogError, isRetryLater } from "@dcent/shared/eventlog/errors"
import { OrderStatus } from "@dcent/shared/orders/domain"
import { Effect, Schema } from "effect"
import { Operation } from "./domain.ts"

/** No order with this id, in Redis or in the archive. */
export class OrderNotFound extends Schema.TaggedError<OrderNotFound>()("OrderNotFound", {
  orderReqId: Schema.String,
}) {
  override get message() {
    return `order ${this.orderReqId} not found`
  }
}

/** `initiate` of an order never registered, without its details inline. */
export class OrderDetailsMissing extends Schema.TaggedError<OrderDetailsMissing>()("OrderDetailsMissing", {
  orderReqId: Schema.String,
}) {
  override get message() {
    return `order ${this.orderReqId} not found and its details were not sent`
  }
}

/**
 * The order is not in a state that allows the operation:
 *
 * - `not_submitted`: registered but not initiated (follow-up, finalize, pause, resume);
 * - `already_submitted`: initiated, so its registered details can no longer change;
 * - `finalised` / `archived`: ended, so it cannot be initiated again.
 */
export class WrongOrderState extends Schema.TaggedError<WrongOrderState>()("WrongOrderState", {
  orderReqId: Schema.String,
  operation: Operation,
  reason: Schema.Literals(["not_submitted", "already_submitted", "finalised", "archived"]),
  status: OrderStatus,
}) {
  override get message() {
    const id = this.orderReqId
    switch (this.reason) {
      case "not_submitted":
        return `order ${id} is registered but not initiated`
      case "already_submitted":
        return `order ${id} is ${this.status}; its details can no longer change`
      case "finalised":
        return `order ${id} is finalised; it cannot be initiated again (use a new OrderReqID)`
    }
    return `order ${id} expired and was archived; it cannot be initiated again (use a new OrderReqID)`
  }
}

/** A follow-up's TransactionUUID (its idempotency key) was used before for a different follow-up. */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()("IdempotencyKeyReused", {
  orderReqId: Schema.String,
  transactionUuid: Schema.String,
}) {
  override get message() {
    return `TransactionUUID ${this.transactionUuid} was used for a different follow-up`
  }
}

/** A registration names no buyer, and the caller is not a buyer that could stand for it. */
export class BuyerIdMissing extends Schema.TaggedError<BuyerIdMissing>()("BuyerIdMissing", {
  orderReqId: Schema.String,
}) {
  override get message() {
    return `order ${this.orderReqId} names no BuyerID`
  }
}

/** `initiate` without a notification type, in the request or the registration. */
export class NotificationTypeMissing extends Schema.TaggedError<NotificationTypeMissing>()("NotificationTypeMissing", {
  orderReqId: Schema.String,
}) {
  override get message() {
    return "the notification type is missing"
  }
}

/** `initiate` with some order details inline but not all `required` ones. */
export class InlineDetailsIncomplete extends Schema.TaggedError<InlineDetailsIncomplete>()("InlineDetailsIncomplete", {
  orderReqId: Schema.String,
  missing: Schema.Array(Schema.String),
  required: Schema.Array(Schema.String),
}) {
  override get message() {
    return "the inline order details are incomplete"
  }
}

/**
 * The processor refused the command for a reason of its own: it does not know the order or
 * proposal (`not_found`), the order is in a state that does not allow it (`wrong_state`: paused,
 * finalised, a proposal locked, ...), or the command is invalid (`invalid_request`).
 * `processorCode` is the processor's machine-readable reason (`order_paused`, ...) when it sent one.
 */
export class ProcessorRefused extends Schema.TaggedError<ProcessorRefused>()("ProcessorRefused", {
  orderReqId: Schema.String,
  reason: Schema.Literals(["not_found", "wrong_state", "invalid_request"]),
  processorCode: Schema.optionalKey(Schema.String),
  description: Schema.String,
  cause: Schema.Defect(),
}) {
  override get message() {
    return this.description
  }
}

/**
 * The processor could not take the command now: its admission control refused it
 * (`overloaded`, with its retry hint when it sent one), it cannot be reached, it did not answer
 * in time, or the call was cancelled. `problem` is what the processor or the channel said.
 */
export class ProcessorUnavailable extends Schema.TaggedError<ProcessorUnavailable>()("ProcessorUnavailable", {
  orderReqId: Schema.String,
  reason: Schema.Literals(["overloaded", "unreachable", "timed_out", "cancelled"]),
  processorCode: Schema.optionalKey(Schema.String),
  problem: Schema.String,
  retryAfterSeconds: Schema.optionalKey(Schema.Int),
  cause: Schema.Defect(),
}) {
  override get message() {
    return this.reason === "overloaded"
      ? `the processor is overloaded; retry later (${this.problem})`
      : `processor is unavailable: ${this.problem}`
  }
}

/** The processor failed in a way that is not the buyer's doing (an internal error, an unknown status). */
export class ProcessorFailed extends Schema.TaggedError<ProcessorFailed>()("ProcessorFailed", {
  orderReqId: Schema.String,
  description: Schema.String,
  cause: Schema.Defect(),
}) {
  override get message() {
    return this.description
  }
}

/** Where the requestor keeps its orders cannot be used now: Redis (records, event log, outbox) or the archive. */
export class StorageUnavailable extends Schema.TaggedError<StorageUnavailable>()("StorageUnavailable", {
  storage: Schema.Literals(["redis", "archive"]),
  problem: Schema.String,
  cause: Schema.Defect(),
}) {
  override get message() {
    return `${this.storage} is unavailable: ${this.problem}`
  }
}

/**
 * An event-log failure of an order operation: an outage or contention (nothing written) is
 * `StorageUnavailable` (503 + Retry-After); a refused command or an unreadable log is a bug, a
 * defect (500).
 */
export const storageUnavailableOrDefect = (error: EventLogError): Effect.Effect<never, StorageUnavailable> =>
  isRetryLater(error)
    ? Effect.fail(new StorageUnavailable({ storage: "redis", problem: error.detail, cause: error }))
    : Effect.die(error)

/**
 * `initiate` lost its compare-and-set to a change that left the order neither submitted nor
 * registered (e.g. removed meanwhile): nothing was committed; trying again decides.
 */
export class OrderChangedDuringInitiate extends Schema.TaggedError<OrderChangedDuringInitiate>()(
  "OrderChangedDuringInitiate",
  { orderReqId: Schema.String },
) {
  override get message() {
    return `order ${this.orderReqId} changed while it was initiated; try again`
  }
}

/**
 * The order's topic messages cannot be read back from the broker: this broker cannot read by key
 * (`not_supported`), or the read failed (`failed`).
 */
export class TopicMessagesUnavailable extends Schema.TaggedError<TopicMessagesUnavailable>()(
  "TopicMessagesUnavailable",
  {
    orderReqId: Schema.String,
    reason: Schema.Literals(["not_supported", "failed"]),
    problem: Schema.String,
    cause: Schema.optionalKey(Schema.Defect()),
  },
) {
  override get message() {
    return `broker is unavailable: ${this.problem}`
  }
}

/** The request is missing something the order needs. */
export type InvalidOrderRequest = BuyerIdMissing | NotificationTypeMissing | InlineDetailsIncomplete

/** A failed processor call, as the buyer's order sees it (`./processorErrors.ts`). */
export type ProcessorError = ProcessorRefused | ProcessorUnavailable | ProcessorFailed

/** Every failure of a buyer's order operation. */
export type OrderError =
  | PermissionDenied
  | OrderNotFound
  | OrderDetailsMissing
  | WrongOrderState
  | IdempotencyKeyReused
  | InvalidOrderRequest
  | ProcessorError
  | StorageUnavailable
  | OrderChangedDuringInitiate
  | TopicMessagesUnavailable
