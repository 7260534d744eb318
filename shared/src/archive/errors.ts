import { Schema } from "effect"

/** The archive (PostgreSQL) could not be reached or refused the statement. */
export class ArchiveUnavailable extends Schema.TaggedError<ArchiveUnavailable>()("ArchiveUnavailable", {
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `archive ${this.operation} failed: ${this.reason}`
  }
}
