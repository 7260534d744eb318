/**
 * The order archive in PostgreSQL (`DATABASE_URL`, node-postgres pool): where a finished order's
 * full record goes before it leaves Redis, and where reads of archived orders are answered from.
 * Schema: `./migrations` (applied at start-up by `./migrate.ts`, in the background and retried
 * while PostgreSQL is unreachable: like Redis, an unreachable archive does not stop the service).
 *
 * Documents are kept as the exact JSON text Redis held (`json` columns, read back as `::text`), so
 * every body built from them is byte for byte the one built before archiving.
 *
 * `claim` runs a step while holding a session advisory lock on the order (one pooled connection
 * for the whole step): one replica at a time archives a given order, and a replica that dies
 * mid-way loses the lock with its connection at once (no lease to expire).
 *
 * Without `DATABASE_URL` the store is disabled: nothing is archived, reads find nothing.
 */
import { Context, Deferred, Effect, Layer, Option } from "effect"
import pg from "pg"
import { backoff, RetryPolicies } from "../resilience/schedules.ts"
import { type ArchiveConfig, archiveConfig, maskDatabaseUrl } from "./config.ts"
import { ArchiveUnavailable } from "./errors.ts"
import { migrate } from "./migrate.ts"

/** Whose part of the order a row holds (each service archives its own Redis). */
export type ArchiveSide = "processor" | "requestor"

/** One order's part, as written to the archive. */
export interface ArchiveEntry {
  readonly side: ArchiveSide
  readonly orderReqId: string
  readonly buyerId: string | undefined
  readonly status: string
  /** ISO 8601 */
  readonly endedAt: string
  /** The order document (JSON text). */
  readonly record: string
  /** Anything else of the order (JSON text of an object). */
  readonly extra: string
  /** The event log, oldest first, each record's JSON text as stored (seq 1 … lastSeq). */
  readonly events: ReadonlyArray<string>
}

/** An archived order's part, as read back. */
export interface ArchivedOrder {
  readonly status: string
  readonly endedAt: string
  readonly lastSeq: number
  readonly record: string
  readonly extra: string
  readonly eventCount: number
}

export interface ArchiveStoreShape {
  /** False without `DATABASE_URL`. */
  readonly enabled: boolean
  /** Writes the order's part in one transaction (an upsert: writing it again changes nothing). */
  readonly save: (entry: ArchiveEntry) => Effect.Effect<void, ArchiveUnavailable>
  /** The archived part, `undefined` when not archived. */
  readonly load: (side: ArchiveSide, orderReqId: string) => Effect.Effect<ArchivedOrder | undefined, ArchiveUnavailable>
  /** The archived events after `afterSeq`, oldest first (JSON texts). */
  readonly events: (
    side: ArchiveSide,
    orderReqId: string,
    afterSeq: number,
  ) => Effect.Effect<ReadonlyArray<string>, ArchiveUnavailable>
  /**
   * Runs `effect` holding the order's advisory lock (`Some` of its result); `None` at once when
   * another replica holds it.
   */
  readonly claim: <A, E, R>(
    side: ArchiveSide,
    orderReqId: string,
    effect: Effect.Effect<A, E, R>,
  ) => Effect.Effect<Option.Option<A>, E | ArchiveUnavailable, R>
  /** Completes once the schema is up to date (never when disabled). */
  readonly ready: Effect.Effect<void>
}

const disabled: ArchiveStoreShape = {
  enabled: false,
  save: () => Effect.void,
  load: () => Effect.succeed(undefined),
  events: () => Effect.succeed([]),
  claim: () => Effect.succeed(Option.none()),
  ready: Effect.never,
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

const upsertOrder = `
  INSERT INTO archived_orders (service, order_req_id, buyer_id, status, ended_at, last_seq, record, extra)
  VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::json)
  ON CONFLICT (service, order_req_id) DO UPDATE SET
    buyer_id = EXCLUDED.buyer_id, status = EXCLUDED.status, ended_at = EXCLUDED.ended_at,
    last_seq = EXCLUDED.last_seq, record = EXCLUDED.record, extra = EXCLUDED.extra, archived_at = now()`

const insertEvents = `
  INSERT INTO archived_order_events (service, order_req_id, seq, status, occurred_at, event)
  SELECT $1, $2, (e ->> 'seq')::integer, e ->> 'status', (e ->> 'occurredAt')::timestamptz, e
  FROM json_array_elements($3::json) AS e
  ON CONFLICT (service, order_req_id, seq) DO NOTHING`

const upsertProposals = `
  INSERT INTO archived_proposals
    (order_req_id, proposal_id, seller_id, status, price, currency, version, submitted_at, updated_at)
  SELECT $1, p.key, p.value ->> 'sellerId', p.value ->> 'status', (p.value ->> 'price')::double precision,
         p.value ->> 'currency', (p.value ->> 'version')::integer,
         (p.value ->> 'submittedAt')::timestamptz, (p.value ->> 'updatedAt')::timestamptz
  FROM json_each($2::json -> 'proposals') AS p
  ON CONFLICT (order_req_id, proposal_id) DO UPDATE SET
    seller_id = EXCLUDED.seller_id, status = EXCLUDED.status, price = EXCLUDED.price,
    currency = EXCLUDED.currency, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`

export const makeArchiveStore = (config: ArchiveConfig) =>
  Effect.gen(function* () {
    if (Option.isNone(config.databaseUrl)) {
      yield* Effect.logWarning(
        "DATABASE_URL is not set: no archive, finished orders stay in Redis (ORDER_RETENTION_SECONDS does nothing)",
      )
      return disabled
    }
    const url = config.databaseUrl.value
    const shownUrl = maskDatabaseUrl(url)
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const created = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5_000 })
        // An idle client losing its connection must not crash the process: the pool replaces it.
        created.on("error", () => undefined)
        return created
      }),
      (created) => Effect.promise(() => created.end().catch(() => undefined)),
    )
    const attempt = <A>(operation: string, run: () => Promise<A>) =>
      Effect.tryPromise({
        try: run,
        // Never the URL (it may carry a password): pg's messages name neither.
        catch: (error) => new ArchiveUnavailable({ operation, reason: reasonOf(error) }),
      })

    const migrated = yield* Deferred.make<void>()
    yield* attempt("migrate", () => migrate(pool)).pipe(
      Effect.tap((applied) =>
        Effect.logInfo("archive schema up to date").pipe(Effect.annotateLogs({ archive: shownUrl, applied })),
      ),
      Effect.tapError((error) =>
        Effect.logWarning("archive not reachable yet; retrying").pipe(
          Effect.annotateLogs({ archive: shownUrl, reason: error.reason }),
        ),
      ),
      Effect.retry(backoff(RetryPolicies.archiveConnect)),
      Effect.andThen(Deferred.succeed(migrated, undefined)),
      Effect.forkScoped,
    )
    const ready = Deferred.await(migrated)
    const whenReady = <A>(operation: string, run: () => Promise<A>) =>
      Deferred.isDone(migrated).pipe(
        Effect.flatMap((done) =>
          done
            ? attempt(operation, run)
            : Effect.fail(new ArchiveUnavailable({ operation, reason: "the archive's schema is not ready yet" })),
        ),
      )

    const save = (entry: ArchiveEntry) =>
      whenReady("save", async () => {
        const client = await pool.connect()
        try {
          await client.query("BEGIN")
          await client.query(upsertOrder, [
            entry.side,
            entry.orderReqId,
            entry.buyerId ?? null,
            entry.status,
            entry.endedAt,
            entry.events.length,
            entry.record,
            entry.extra,
          ])
          await client.query(insertEvents, [entry.side, entry.orderReqId, `[${entry.events.join(",")}]`])
          if (entry.side === "processor") await client.query(upsertProposals, [entry.orderReqId, entry.record])
          await client.query("COMMIT")
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined)
          throw error
        } finally {
          client.release()
        }
      }).pipe(Effect.withSpan("ArchiveStore.save", { attributes: { orderReqId: entry.orderReqId, side: entry.side } }))

    const load = (side: ArchiveSide, orderReqId: string) =>
      whenReady("load", async () => {
        const result = await pool.query<{
          status: string
          ended_at: Date
          last_seq: number
          record: string
          extra: string
          event_count: string
        }>(
          `SELECT o.status, o.ended_at, o.last_seq, o.record::text AS record, o.extra::text AS extra,
                  (SELECT count(*) FROM archived_order_events e
                    WHERE e.service = o.service AND e.order_req_id = o.order_req_id) AS event_count
           FROM archived_orders o WHERE o.service = $1 AND o.order_req_id = $2`,
          [side, orderReqId],
        )
        const row = result.rows[0]
        if (row === undefined) return undefined
        return {
          status: row.status,
          endedAt: row.ended_at.toISOString(),
          lastSeq: row.last_seq,
          record: row.record,
          extra: row.extra,
          eventCount: Number(row.event_count),
        } satisfies ArchivedOrder
      })

    const events = (side: ArchiveSide, orderReqId: string, afterSeq: number) =>
      whenReady("events", async () => {
        const result = await pool.query<{ event: string }>(
          `SELECT event::text AS event FROM archived_order_events
           WHERE service = $1 AND order_req_id = $2 AND seq > $3 ORDER BY seq`,
          [side, orderReqId, Math.max(0, Math.floor(afterSeq))],
        )
        return result.rows.map((row) => row.event)
      })

    const claim = <A, E, R>(side: ArchiveSide, orderReqId: string, effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        whenReady("claim", () => pool.connect()),
        (client) =>
          attempt("claim", async () => {
            const result = await client.query<{ locked: boolean }>(
              "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked",
              [`archive:${side}:${orderReqId}`],
            )
            return result.rows[0]?.locked === true
          }).pipe(
            Effect.flatMap((locked) =>
              locked
                ? effect.pipe(
                    Effect.map(Option.some),
                    Effect.ensuring(
                      Effect.promise(() =>
                        client
                          .query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [
                            `archive:${side}:${orderReqId}`,
                          ])
                          .catch(() => undefined),
                      ),
                    ),
                  )
                : Effect.succeed(Option.none<A>()),
            ),
          ),
        (client, exit) =>
          // A client whose connection broke is destroyed, not returned to the pool.
          Effect.sync(() => client.release(exit._tag === "Failure" ? true : undefined)),
      )

    return { enabled: true, save, load, events, claim, ready } satisfies ArchiveStoreShape
  })

export class ArchiveStore extends Context.Service<ArchiveStore, ArchiveStoreShape>()("dcent/ArchiveStore") {
  /** From `DATABASE_URL` (validated at start-up with the service's other settings). */
  static readonly layer: Layer.Layer<ArchiveStore> = Layer.effect(
    ArchiveStore,
    Effect.gen(function* () {
      return yield* makeArchiveStore(yield* archiveConfig)
    }),
  ).pipe(Layer.orDie)
  static readonly layerWith = (config: ArchiveConfig): Layer.Layer<ArchiveStore> =>
    Layer.effect(ArchiveStore, makeArchiveStore(config))
  static readonly disabled: Layer.Layer<ArchiveStore> = Layer.succeed(ArchiveStore, disabled)
}
