/**
 * Schema migrations of the archive: the numbered SQL files of `./migrations` (`0001_name.sql`,
 * `0002_…`), applied in order at start-up, each once, each in its own transaction together with
 * its row in `schema_migrations`. Replicas starting together take a session advisory lock first,
 * so one applies and the others find the work done. Idempotent: a second run applies nothing.
 */
import { readdirSync, readFileSync } from "node:fs"
import type { Pool } from "pg"

const migrationsDir = new URL("./migrations/", import.meta.url)

/** An arbitrary constant: the advisory lock that serialises migrations. */
const migrationLock = 7_211_401_014

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

export const migrations = (): ReadonlyArray<Migration> =>
  readdirSync(migrationsDir)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(new URL(file, migrationsDir), "utf8"),
    }))

/** Applies the migrations not applied yet; answers the versions it applied. */
export const migrate = async (pool: Pool): Promise<ReadonlyArray<number>> => {
  const client = await pool.connect()
  const applied: Array<number> = []
  try {
    await client.query("SELECT pg_advisory_lock($1)", [migrationLock])
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      )
      const done = new Set(
        (await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map(
          (row) => row.version,
        ),
      )
      for (const migration of migrations()) {
        if (done.has(migration.version)) continue
        await client.query("BEGIN")
        try {
          await client.query(migration.sql)
          await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
            migration.version,
            migration.name,
          ])
          await client.query("COMMIT")
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined)
          throw new Error(`migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`)
        }
        applied.push(migration.version)
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [migrationLock]).catch(() => undefined)
    }
  } finally {
    client.release()
  }
  return applied
}
