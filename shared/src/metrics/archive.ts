/**
 * `dcent_orders_live`, `dcent_orders_retained` and `dcent_archive_lag_seconds`, read from the
 * service's Redis on every scrape (one pipeline per order shard — a pipeline of a Redis Cluster
 * stays in one slot: `SCARD live-orders`, `ZCARD retention`, the oldest `retention` member). Shared by the replicas: every replica reports the same values.
 */
import { Clock, Effect, Layer } from "effect"
import { liveOrdersKey, retentionKey } from "../archive/Archiver.ts"
import { ArchiveStore } from "../archive/ArchiveStore.ts"
import { archiveConfig } from "../archive/config.ts"
import { allKeyShards } from "../redis/keys.ts"
import { pipelineValues } from "../redis/pipeline.ts"
import { Redis } from "../redis/Redis.ts"
import { Metrics } from "./Metrics.ts"

export const ArchiveMetricsLive: Layer.Layer<never, never, Redis | ArchiveStore | Metrics> = Layer.effectDiscard(
  Effect.gen(function* () {
    const redis = yield* Redis
    const store = yield* ArchiveStore
    const { catalogue, onScrape } = yield* Metrics
    const retentionMs = (yield* archiveConfig.pipe(Effect.orDie)).retentionSeconds * 1000
    yield* onScrape(
      "archive",
      Effect.gen(function* () {
        const shards = yield* Effect.forEach(
          allKeyShards,
          (shard) =>
            redis.use(
              "SCARD+ZCARD+ZRANGE",
              async (client) =>
                (await pipelineValues(
                  client
                    .pipeline()
                    .scard(liveOrdersKey(shard))
                    .zcard(retentionKey(shard))
                    .zrange(retentionKey(shard), "0", "0", "WITHSCORES"),
                )) as [number, number, Array<string>],
            ),
          { concurrency: "unbounded" },
        )
        const live = shards.reduce((sum, [count]) => sum + count, 0)
        const retained = shards.reduce((sum, [, count]) => sum + count, 0)
        const oldestEnds = shards.flatMap(([, , oldest]) => (oldest[1] === undefined ? [] : [Number(oldest[1])]))
        const now = yield* Clock.currentTimeMillis
        const endedAt = oldestEnds.length === 0 ? undefined : Math.min(...oldestEnds)
        catalogue.ordersLive.set(live)
        catalogue.ordersRetained.set(retained)
        catalogue.archiveLag.set(
          !store.enabled || endedAt === undefined ? 0 : Math.max(0, now - endedAt - retentionMs) / 1000,
        )
      }),
    )
  }),
)
