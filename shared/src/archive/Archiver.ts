/**
 * Retention: moves finished orders from Redis to the archive, on every replica of a service.
 *
 * When an order ends (finalised, or paused by expiry), the commit that ends it also adds it to the
 * service's sorted set `retention` (score: when it ended, ms); a resume takes it out again. Every
 * `ARCHIVE_POLL_MS` each replica takes the orders that ended more than `ORDER_RETENTION_SECONDS`
 * ago (at most `ARCHIVE_BATCH`) and archives each, holding the order's advisory lock in the
 * archive (`ArchiveStore.claim`: one replica at a time per order):
 *
 *   read its part from Redis ─▶ [before-write] ─▶ write it to PostgreSQL (one transaction, an
 *   upsert) ─▶ [after-write] ─▶ read it back and compare (confirmed) ─▶ [before-delete] ─▶
 *   delete its keys and its `retention` member in one script, only if the order did not change
 *   since it was read (else it stays, and is archived again when it ends again)
 *
 * A crash at any step leaves the order in Redis and in `retention`; the next replica to take it
 * runs the steps again: the write is an upsert of the same record (events keyed by seq), so
 * nothing is lost and nothing appears twice. Reads go to Redis first and to the archive when the
 * order is not there, and both hold the same documents.
 *
 * Test-only: `ARCHIVE_TEST_CRASH_AT=before-write|after-write|before-delete` makes the process kill
 * itself (SIGKILL) at that step of its first archiving (the crash tests); never set it elsewhere.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { type RedisScript, runScript } from "../coordination/redisScript.ts"
import { Metrics } from "../metrics/Metrics.ts"
import type { RedisError, RedisUnavailable } from "../redis/errors.ts"
import { allKeyShards, keyShardOf, shardTag } from "../redis/keys.ts"
import { Redis, type RedisShape } from "../redis/Redis.ts"
import { type ArchiveEntry, type ArchiveSide, ArchiveStore } from "./ArchiveStore.ts"
import { archiveConfig } from "./config.ts"
import type { ArchiveUnavailable } from "./errors.ts"

/**
 * Sorted set (under the service's prefix) of the ended orders still in Redis, one per order shard
 * (`../redis/keys.ts`): score = ended at (ms).
 */
export const retentionKey = (shard: number): string => `retention:${shardTag(shard)}`
/** Set (under the service's prefix) of the orders whose stream is live (not finalised), one per order shard. */
export const liveOrdersKey = (shard: number): string => `live-orders:${shardTag(shard)}`
/** The `retention` key of an order's shard. */
export const retentionKeyOf = (orderReqId: string): string => retentionKey(keyShardOf(orderReqId))
/** The live-orders key of an order's shard. */
export const liveOrdersKeyOf = (orderReqId: string): string => liveOrdersKey(keyShardOf(orderReqId))

export const crashSteps = ["before-write", "after-write", "before-delete"] as const
export type CrashStep = (typeof crashSteps)[number]

/** What a service reads of one order for the archive. */
export interface SourceSnapshot {
  /** The order's part, without `side`. */
  readonly entry: Omit<ArchiveEntry, "side">
  /** False when the order is no longer finished (resumed): it is not archived. */
  readonly ended: boolean
}

/** A service's side of retention: how its part of an order is read and removed. */
export interface RetentionSource<S extends SourceSnapshot = SourceSnapshot> {
  readonly side: ArchiveSide
  /** The order's part in Redis; `undefined` when it is not there. */
  readonly read: (orderReqId: string) => Effect.Effect<S | undefined, RedisUnavailable | RedisError>
  /**
   * Deletes the order's keys and its `retention` member in one atomic step, only if it is still
   * what `snapshot` read; false (nothing deleted) when it changed.
   */
  readonly remove: (orderReqId: string, snapshot: S) => Effect.Effect<boolean, RedisUnavailable | RedisError>
}

/**
 * A source's `remove` by its Lua `script`, which deletes the order's keys only if they are still
 * what the snapshot read, and then the order's `retention` and live-orders members; it answers 1
 * when it did (0: changed, nothing deleted). The script gets the source's `keys` followed by the
 * order's `retention` and live-orders keys, and the source's `args` followed by the order id.
 */
export const removeIfUnchanged = (
  redis: RedisShape,
  script: RedisScript,
  orderReqId: string,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number>,
): Effect.Effect<boolean, RedisUnavailable | RedisError> =>
  redis
    .use("EVALSHA", (client) =>
      runScript(
        client,
        script,
        [...keys, retentionKeyOf(orderReqId), liveOrdersKeyOf(orderReqId)],
        [...args, orderReqId],
      ),
    )
    .pipe(Effect.map((result) => result === 1))

/** The archive does not hold what was written (a read-back mismatch): the order stays in Redis. */
export class ArchiveMismatch extends Schema.TaggedError<ArchiveMismatch>()("ArchiveMismatch", {
  orderReqId: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `archived order ${this.orderReqId} does not read back as written: ${this.reason}`
  }
}

export type ArchiveOutcome = "archived" | "changed" | "gone" | "busy"

export interface ArchiverShape {
  /** Archives the orders due now (one pass); answers how many were archived. */
  readonly runOnce: Effect.Effect<number>
  /** Archives one order now if it is finished (whatever its retention); for tools and tests. */
  readonly archive: (
    orderReqId: string,
  ) => Effect.Effect<ArchiveOutcome, ArchiveUnavailable | ArchiveMismatch | RedisUnavailable | RedisError>
}

export class Archiver extends Context.Service<Archiver, ArchiverShape>()("dcent/Archiver") {}

const crashStepOf = (value: string | undefined): CrashStep | undefined => crashSteps.find((step) => step === value)

/**
 * The archiver of a service: `source` reads and removes its part of an order. Runs a pass every
 * `ARCHIVE_POLL_MS` while the layer lives (not at all without `DATABASE_URL`).
 */
export const archiverLayer = <S extends SourceSnapshot>(
  source: RetentionSource<S>,
): Layer.Layer<Archiver, never, Redis | ArchiveStore | Metrics> =>
  Layer.effect(
    Archiver,
    Effect.gen(function* () {
      const config = yield* archiveConfig.pipe(Effect.orDie)
      const redis = yield* Redis
      const store = yield* ArchiveStore
      const { catalogue } = yield* Metrics
      const retentionMs = config.retentionSeconds * 1000
      let crashAt = crashStepOf(process.env.ARCHIVE_TEST_CRASH_AT)

      const step = (name: CrashStep) =>
        Effect.sync(() => {
          if (crashAt !== name) return
          crashAt = undefined
          // Test-only (see the module comment): die like a `kill -9` at this step.
          process.kill(process.pid, "SIGKILL")
        })

      const failed = (stepName: string) => (error: { readonly message: string }) =>
        Effect.sync(() => catalogue.archiveErrors.inc({ step: stepName })).pipe(
          Effect.andThen(
            Effect.logWarning("archiving an order failed; it stays in Redis and is tried again").pipe(
              Effect.annotateLogs({ step: stepName, reason: error.message }),
            ),
          ),
        )

      const dropFromRetention = (orderReqId: string) =>
        redis.use("ZREM", (client) => client.zrem(retentionKeyOf(orderReqId), orderReqId))

      const steps = (orderReqId: string) =>
        Effect.gen(function* () {
          const snapshot = yield* source.read(orderReqId).pipe(Effect.tapError(failed("read")))
          if (snapshot === undefined) {
            // Removed already (by another replica, between its pass and ours).
            yield* dropFromRetention(orderReqId)
            return "gone" as const
          }
          if (!snapshot.ended) {
            yield* dropFromRetention(orderReqId)
            return "changed" as const
          }
          yield* step("before-write")
          yield* store.save({ side: source.side, ...snapshot.entry }).pipe(Effect.tapError(failed("write")))
          yield* step("after-write")
          const stored = yield* store.load(source.side, orderReqId).pipe(Effect.tapError(failed("verify")))
          const expected = snapshot.entry
          const problem =
            stored === undefined
              ? "not found"
              : stored.record !== expected.record
                ? "the order document differs"
                : stored.eventCount !== expected.events.length || stored.lastSeq !== expected.events.length
                  ? `${stored.eventCount} events archived, ${expected.events.length} in Redis`
                  : undefined
          if (problem !== undefined) {
            const mismatch = new ArchiveMismatch({ orderReqId, reason: problem })
            yield* failed("verify")(mismatch)
            return yield* mismatch
          }
          yield* step("before-delete")
          const removed = yield* source.remove(orderReqId, snapshot).pipe(Effect.tapError(failed("delete")))
          if (!removed) return "changed" as const
          catalogue.ordersArchived.inc()
          yield* Effect.logDebug("order archived").pipe(Effect.annotateLogs({ events: expected.events.length }))
          return "archived" as const
        }).pipe(Effect.annotateLogs({ orderReqId, side: source.side }))

      const archive = (orderReqId: string) =>
        store
          .claim(source.side, orderReqId, steps(orderReqId))
          .pipe(
            Effect.map(Option.getOrElse(() => "busy" as const)),
            Effect.withSpan("Archiver.archive", { attributes: { orderReqId, side: source.side } }),
          )

      const runOnce = Effect.gen(function* () {
        if (!store.enabled) return 0
        const now = yield* Clock.currentTimeMillis
        // Every shard's due orders, at most one batch in all (the rest on the next pass).
        const due = (yield* Effect.forEach(
          allKeyShards,
          (shard) =>
            redis.use("ZRANGEBYSCORE", (client) =>
              client.zrangebyscore(retentionKey(shard), "-inf", now - retentionMs, "LIMIT", 0, config.batch),
            ),
          { concurrency: "unbounded" },
        ))
          .flat()
          .slice(0, config.batch)
        const outcomes = yield* Effect.forEach(
          due,
          (orderReqId) =>
            archive(orderReqId).pipe(
              // Counted and logged at the step that failed; a claim that failed is counted here.
              Effect.catch((error) =>
                error._tag === "ArchiveUnavailable" && error.operation === "claim"
                  ? failed("claim")(error).pipe(Effect.as("failed" as const))
                  : Effect.succeed("failed" as const),
              ),
            ),
          { concurrency: 4 },
        )
        return outcomes.filter((outcome) => outcome === "archived").length
      }).pipe(
        Effect.catch((error) => failed("scan")(error).pipe(Effect.as(0))),
        Effect.withSpan("Archiver.runOnce"),
      )

      if (store.enabled) {
        yield* Effect.logInfo("retention on").pipe(
          Effect.annotateLogs({ retentionSeconds: config.retentionSeconds, pollMs: config.pollMs }),
        )
        yield* store.ready.pipe(
          Effect.andThen(
            Effect.forever(
              runOnce.pipe(
                // A full batch: more are due, go on at once.
                Effect.flatMap((archived) =>
                  archived >= config.batch ? Effect.void : Effect.sleep(Duration.millis(config.pollMs)),
                ),
              ),
            ),
          ),
          Effect.forkScoped,
        )
      }
      return { runOnce, archive }
    }),
  )
