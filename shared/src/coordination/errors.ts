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

/** The lock was still held by someone else after waiting `waitedMs`. */
export class LockTimeout extends Schema.TaggedError<LockTimeout>()("LockTimeout", {
  name: Schema.String,
  waitedMs: Schema.Number,
}) {
  override get message() {
    return `lock ${this.name} is busy (waited ${this.waitedMs} ms)`
  }
}

/**
 * The lock expired while its effect still ran (it could not be renewed in time, or another
 * holder took it after it expired). The effect was interrupted.
 */
export class LockLost extends Schema.TaggedError<LockLost>()("LockLost", {
  name: Schema.String,
}) {
  override get message() {
    return `lock ${this.name} was lost while held`
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

/**
 * A lease held by `owner` could not be kept: Redis named another owner (it expired and was taken
 * over) or no renewal succeeded before it could expire. The effect run under it was interrupted.
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  name: Schema.String,
  owner: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `lease ${this.name} of ${this.owner} was lost: ${this.reason}`
  }
}
