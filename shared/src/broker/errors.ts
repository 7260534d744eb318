import { Schema } from "effect"

/** The broker cannot be reached (connection refused, timed out, not ready). */
export class BrokerUnavailable extends Schema.TaggedError<BrokerUnavailable>()("BrokerUnavailable", {
  url: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `broker ${this.url} is unreachable: ${this.reason}`
  }
}

/** The broker answered but refused the operation (bad subject, unknown topic, ...). */
export class BrokerError extends Schema.TaggedError<BrokerError>()("BrokerError", {
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `broker ${this.operation} failed: ${this.reason}`
  }
}
