import { Schema } from "effect"
import { FailureReason } from "../redis/errors.ts"

/**
 * Redis failed for the outbox (adding entries, reading them, acknowledging, measuring lag):
 * `Unavailable` (an outage: retry later) or `Refused` (e.g. `NOGROUP`: the relay creates the group
 * again; an invalid entry: a bug); `cause` is the original failure.
 */
export class OutboxError extends Schema.TaggedError<OutboxError>()("OutboxError", {
  operation: Schema.String,
  reason: FailureReason,
  /** What went wrong, for people (the cause's message, or the refused input). */
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Defect()),
}) {
  override get message() {
    return `outbox ${this.operation} failed (${this.reason}): ${this.detail}`
  }
}
