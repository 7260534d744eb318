import { Schema } from "effect"

/**
 * The event log could not do its job: Redis unreachable (`unavailable: true`: retry later, 503),
 * or Redis refused the command / stored data is unreadable (`unavailable: false`).
 */
export class EventLogError extends Schema.TaggedError<EventLogError>()("EventLogError", {
  operation: Schema.String,
  orderReqId: Schema.String,
  reason: Schema.String,
  unavailable: Schema.Boolean,
}) {
  override get message() {
    return `event log ${this.operation} of order ${this.orderReqId} failed: ${this.reason}`
  }
}

/** `record` got an event beyond the next expected one: events `expected … got-1` are missing. */
export class SeqGap extends Schema.TaggedError<SeqGap>()("SeqGap", {
  orderReqId: Schema.String,
  expected: Schema.Number,
  got: Schema.Number,
}) {
  override get message() {
    return `order ${this.orderReqId}: expected event seq ${this.expected}, got ${this.got}`
  }
}
