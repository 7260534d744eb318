import { Schema } from "effect"

/** Redis cannot be reached right now (not connected, timed out, connection refused). */
export class RedisUnavailable extends Schema.TaggedError<RedisUnavailable>()("RedisUnavailable", {
  url: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `redis ${this.url} is unreachable: ${this.reason}`
  }
}

/** A Redis command failed (wrong type, script error, ...). */
export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  command: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `redis ${this.command} failed: ${this.reason}`
  }
}
