import { Schema } from "effect"
import { FailureReason } from "../redis/errors.ts"

export { FailureReason, reasonOfRedisFailure } from "../redis/errors.ts"

/** Redis could not be used for a coordination primitive; `cause` is the original failure. */
export class CoordinationError extends Schema.TaggedError<CoordinationError>()("CoordinationError", {
  operation: Schema.String,
  name: Schema.String,
  reason: FailureReason,
  /** What went wrong, for people (the cause's message, or the refused input). */
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Defect()),
}) {
  override get message() {
    return `${this.operation} ${this.name} failed (${this.reason}): ${this.detail}`
  }
}

/** Whether `error` is a coordination failure for an outage (quiet logs, 503), not a bug. */
export const isCoordinationOutage = (error: unknown): boolean =>
  error instanceof CoordinationError && error.reason === "Unavailable"

/** No permit of the semaphore became free within `waitedMs`. */
export class PermitTimeout extends Schema.TaggedError<PermitTimeout>()("PermitTimeout", {
  name: Schema.String,
  limit: Schema.Number,
  waitedMs: Schema.Number,
}) {
  override get message() {
    return `semaphore ${this.name}: all ${this.limit} permits busy (waited ${this.waitedMs} ms)`
  }
}

/** The permit's lease expired while its effect still ran; the effect was interrupted. */
export class PermitLost extends Schema.TaggedError<PermitLost>()("PermitLost", {
  name: Schema.String,
}) {
  override get message() {
    return `semaphore ${this.name}: permit lost while held`
  }
}
