import { Schema } from "effect"

/**
 * Redis could not be used for a coordination primitive: unreachable (`unavailable: true`: retry
 * later, 503) or the command was refused (`unavailable: false`).
 */
export class CoordinationError extends Schema.TaggedError<CoordinationError>()("CoordinationError", {
  operation: Schema.String,
  name: Schema.String,
  reason: Schema.String,
  unavailable: Schema.Boolean,
}) {
  override get message() {
    return `${this.operation} ${this.name} failed: ${this.reason}`
  }
}

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
