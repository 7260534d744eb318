/**
 * Retention and archive settings (both services):
 *
 * - `DATABASE_URL` (`postgres://user[:password]@host:port/db`): the PostgreSQL archive. Unset:
 *   no archive and no retention — finished orders stay in Redis, as before (one warning at start-up).
 * - `ORDER_RETENTION_SECONDS` (86400): how long a finished order (finalised, or paused by expiry
 *   and never resumed) stays in Redis after it ended; then it is archived and removed.
 * - `ARCHIVE_POLL_MS` (5000): how often a replica looks for orders due for archiving.
 * - `ARCHIVE_BATCH` (100): orders taken per look.
 */

import { Config, Option, Schema } from "effect"
import { positiveInt } from "../config/env.ts"

const DatabaseUrl = Schema.String.check(
  Schema.makeFilter((value: string) => {
    // Empty means unset (`DATABASE_URL=`: run without the archive).
    if (value.trim() === "") return undefined
    if (!URL.canParse(value)) return "Expected a URL like postgres://dcent@127.0.0.1:5432/dcent"
    const scheme = new URL(value).protocol
    return scheme === "postgres:" || scheme === "postgresql:"
      ? undefined
      : `Expected a URL starting with postgres:// or postgresql://, got ${scheme}//`
  }),
)

export const archiveConfig = Config.all({
  databaseUrl: Config.option(Config.schema(DatabaseUrl, "DATABASE_URL")).pipe(
    Config.map((value) => Option.filter(value, (url) => url.trim() !== "")),
  ),
  retentionSeconds: positiveInt("ORDER_RETENTION_SECONDS", 86_400),
  pollMs: positiveInt("ARCHIVE_POLL_MS", 5_000),
  batch: positiveInt("ARCHIVE_BATCH", 100),
})

export type ArchiveConfig = Config.Success<typeof archiveConfig>

/** The URL with its password masked (for logs and errors). */
export const maskDatabaseUrl = (value: string): string => {
  const url = new URL(value)
  if (url.password !== "") url.password = "***"
  return url.toString()
}
