import { Schema } from "effect"
import { FailureReason } from "../redis/errors.ts"

/**
 * Why the event log could not do its job:
 * - `Unavailable`: Redis cannot take the command now (unreachable, out of memory, a connection lost
 *   mid-command): retry later (503 + Retry-After);
 * - `Refused`: Redis refused the command or the log refused its input (a bad draft, a key outside
 *   the log's hash slot, zero events to `append`): a bug, not an outage;
 * - `Corrupt`: what the log holds could not be read back (an unreadable record or stream id);
 * - `Contention`: the commit kept meeting concurrent commits of the same log and gave up: nothing
 *   was written, the caller may try again later (503 + Retry-After).
 */
export const EventLogFailure = Schema.Literals([...FailureReason.literals, "Contention"])
export type EventLogFailure = typeof EventLogFailure.Type

/** The event log failed; `cause` is the original failure (the Redis error, the schema error). */
export class EventLogError extends Schema.TaggedError<EventLogError>()("EventLogError", {
  operation: Schema.String,
  /** The log (an order's id). */
  logId: Schema.String,
  reason: EventLogFailure,
  /** What went wrong, for people (the cause's message, or the refused input). */
  detail: Schema.String,
  cause: Schema.optionalKey(Schema.Defect()),
}) {
  override get message() {
    return `event log ${this.operation} of ${this.logId} failed (${this.reason}): ${this.detail}`
  }
}

/**
 * Nothing was written and trying again later may succeed (an outage, contention): 503 +
 * Retry-After. Also for the outbox's and coordination's errors (their reasons are a subset).
 */
export const isRetryLater = (error: { readonly reason: EventLogFailure }): boolean =>
  error.reason === "Unavailable" || error.reason === "Contention"

/** `record` got an event beyond the next expected one: events `expected … got-1` are missing. */
export class SeqGap extends Schema.TaggedError<SeqGap>()("SeqGap", {
  logId: Schema.String,
  expected: Schema.Number,
  got: Schema.Number,
}) {
  override get message() {
    return `${this.logId}: expected event seq ${this.expected}, got ${this.got}`
  }
}
