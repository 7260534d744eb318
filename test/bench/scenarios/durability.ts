/**
 * `durability`: what fsyncing every write costs. The write scenario's closed loop on
 * 1 processor + 1 requestor with Redis at `appendfsync always` (the deployments' setting,
 * `infra/redis/redis.conf`: an acknowledged write survives a crash), against the same workload
 * with `appendfsync everysec` (the previous default, which could lose up to a second of
 * acknowledged writes). Both runs use the bench's private Redis, switched between them with
 * `CONFIG SET`; each starts its own services on their own databases.
 */
import { Redis as IORedis } from "ioredis"
import { numberEnv } from "../lib/config.ts"
import { checksOk, progress, type ScenarioResult, streamErrorNote } from "../lib/report.ts"
import { round, type Scenario, type ScenarioContext, skippedResult } from "../lib/scenario.ts"
import { startSystem } from "../lib/targets.ts"
import { measureWrite, phaseFigures, type WriteRun, writeSettings } from "./write.ts"

const setAppendFsync = async (redisUrl: string, mode: "always" | "everysec") => {
  const client = new IORedis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    await client.config("SET", "appendfsync", mode)
  } finally {
    client.disconnect()
  }
}

export const durability: Scenario = {
  name: "durability",
  summary: "the write closed loop with Redis fsyncing every write (the default) against appendfsync everysec",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = { ...writeSettings(), durationMs: numberEnv("BENCH_DURABILITY_SECONDS", 20, 2, 1) * 1000 }
    const base = {
      scenario: "durability",
      system: "1 processor + 1 requestor, Redis appendfsync always (infra/redis/redis.conf)",
      baselineName: "the same with Redis appendfsync everysec (the previous default)",
      startedAt: startedAt.toISOString(),
      settings,
    }
    if (context.external !== undefined || !context.redis.private) {
      return skippedResult(
        base,
        "durability switches the bench's own private Redis (unset BENCH_REDIS_URL and the *_URL targets)",
      )
    }
    progress(`durability: everysec first, then always; ${settings.orders} orders, ${settings.concurrency} in flight`)
    const measure = async (mode: "always" | "everysec", processorDb: number, requestorDb: number) => {
      await setAppendFsync(context.redis.url, mode)
      return measureWrite(
        await startSystem({ name: `fsync ${mode}`, redis: context.redis, processorDb, requestorDb }),
        settings,
        { closedOnly: true },
      )
    }
    let everysec: WriteRun
    let always: WriteRun
    try {
      everysec = await measure("everysec", 12, 13)
      always = await measure("always", 14, 15)
    } finally {
      await setAppendFsync(context.redis.url, "always")
    }
    const group = `closed loop (${settings.concurrency} in flight, ${settings.durationMs / 1000} s)`
    const checks = [...everysec.checks, ...always.checks]
    return {
      ...base,
      durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1) ?? 0,
      figures: phaseFigures(group, always, everysec, (run) => run.closed),
      checks,
      details: {
        always: { statuses: always.closed.statuses.toJSON(), streamErrors: always.streamErrors },
        everysec: { statuses: everysec.closed.statuses.toJSON(), streamErrors: everysec.streamErrors },
      },
      notes: [...streamErrorNote("always", always.streamErrors), ...streamErrorNote("everysec", everysec.streamErrors)],
      ok: checksOk(checks) && always.drained && everysec.drained,
    }
  },
}
