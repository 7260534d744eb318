/**
 * `retention`: is Redis memory bounded when orders keep coming? Orders run through their whole
 * life continuously — initiate (details inline), a seller's proposal once the sellers are
 * selected, finalise with it — at a steady rate for a bounded time, with a short
 * `ORDER_RETENTION_SECONDS`, on a private Redis and the local PostgreSQL archive. Every
 * `BENCH_RETENTION_SAMPLE_SECONDS` the Redis `used_memory`, the orders retained (ended, still in
 * Redis) and the orders archived are sampled and printed as a table (the curve).
 *
 * Baseline: the same workload in the same run with the archive off (no `DATABASE_URL`): nothing
 * leaves Redis, memory grows with every order. Figures: how much `used_memory` grew between the
 * end of the first retention window and the end (flat: about 0), beside the baseline's growth.
 * Checks: the archive holds every finalised order (both services' parts, every event), and a
 * sample of orders read back after archiving (`GET` order on the requestor, `GET` order and
 * proposals on the processor) answers byte for byte what it answered from Redis.
 *
 * Settings: BENCH_RETENTION_RATE (orders/s, 10; short 5), BENCH_RETENTION_SECONDS (the
 * services' ORDER_RETENTION_SECONDS, 20; short 3), BENCH_RETENTION_DURATION_SECONDS (120; short
 * 12), BENCH_RETENTION_SAMPLE_SECONDS (5; short 1), BENCH_RETENTION_READBACK (orders compared,
 * 20; short 5), DATABASE_URL (the local stack's archive by default).
 */
import { Redis as IORedis } from "ioredis"
import pg from "pg"
import { allLiveOrdersKeys, allRetentionKeys, processorPrefix, requestorPrefix } from "../../support/redisKeys.ts"
import { databaseUrl } from "../../support/servers.ts"
import { intEnv, numberEnv } from "../lib/config.ts"
import { type ChannelCheck, checksOk, type Figure, progress, type ScenarioResult } from "../lib/report.ts"
import { round, type Scenario, type ScenarioContext, skippedResult } from "../lib/scenario.ts"
import { startSystem, type Target } from "../lib/targets.ts"

/** Members of sorted sets / sets split by order shard, in all. */
const zcardAll = async (redis: { zcard: (key: string) => Promise<number> }, keys: ReadonlyArray<string>) =>
  (await Promise.all(keys.map((key) => redis.zcard(key)))).reduce((sum, count) => sum + count, 0)
const scardAll = async (redis: { scard: (key: string) => Promise<number> }, keys: ReadonlyArray<string>) =>
  (await Promise.all(keys.map((key) => redis.scard(key)))).reduce((sum, count) => sum + count, 0)

const PROCESSOR_DB = 0
const REQUESTOR_DB = 1
const origin = { Lat: 52.52, Lng: 13.405 }

const settingsOf = () => ({
  rate: numberEnv("BENCH_RETENTION_RATE", 10, 5, 0.1),
  retentionSeconds: intEnv("BENCH_RETENTION_SECONDS", 20, 3, 1),
  durationSeconds: numberEnv("BENCH_RETENTION_DURATION_SECONDS", 120, 12, 1),
  sampleSeconds: numberEnv("BENCH_RETENTION_SAMPLE_SECONDS", 5, 1, 0.2),
  readBack: intEnv("BENCH_RETENTION_READBACK", 20, 5, 0),
})
type Settings = ReturnType<typeof settingsOf>

interface Sample {
  readonly t: number
  readonly usedMemory: number
  readonly retained: number
  readonly live: number
  readonly archived: number
  readonly finalised: number
}

interface Run {
  readonly samples: ReadonlyArray<Sample>
  readonly finalised: ReadonlyArray<string>
  readonly failed: number
  /** Bodies read while in Redis, per sampled order. */
  readonly before: ReadonlyMap<string, ReadonlyArray<string>>
  readonly target: Target
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const call = async (method: string, url: string, body?: unknown) => {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  })
  return { status: response.status, text: await response.text() }
}

/** The three bodies a client reads of a finished order. */
const readBodies = async (target: Target, id: string) =>
  Promise.all([
    call("GET", `${target.requestorUrls[0]}/api/v1/orders/${id}`),
    call("GET", `${target.processorUrls[0]}/api/v1/orders/${id}`),
    call("GET", `${target.processorUrls[0]}/api/v1/orders/${id}/proposals`),
  ]).then((answers) => answers.map((answer) => `${answer.status} ${answer.text}`))

/**
 * The bodies of a finished order once nothing changes it any more: the requestor records the
 * buyer-facing events as they stream in, so right after `finalize` answers its view may still be
 * a step behind; and a proposal may be accepted (and the order finalised) before the order's
 * dispatch job ran, which then still records its (empty) seller selection. Read until the
 * requestor shows FINALISED, the processor shows `DispatchedAt`, and two reads agree (bounded).
 */
const settledBodies = async (target: Target, id: string) => {
  let last = await readBodies(target, id)
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    await sleep(200)
    const next = await readBodies(target, id)
    const settled = next[0]?.includes('"FINALISED"') === true && next[1]?.includes('"DispatchedAt"') === true
    if (settled && JSON.stringify(next) === JSON.stringify(last)) return next
    last = next
  }
  return last
}

/** One order's whole life; true when finalised. */
const lifeOf = async (target: Target, runId: string, id: string, seller: string): Promise<boolean> => {
  const requestor = target.requestorUrls[0] as string
  const processor = target.processorUrls[0] as string
  const initiate = await call("POST", `${requestor}/api/v1/initiate`, {
    OrderReqId: id,
    SessionID: `${id}-S`,
    "Notification type": "SMS",
    BuyerID: `${runId}-BUYER`,
    Industry: `Bench ${runId}`,
    Location: [origin.Lng, origin.Lat],
    Products: ["Steel beams, 12 m"],
    DeliveryDate: "2026-12-01",
  })
  if (initiate.status !== 202) return false
  // The proposal is accepted once dispatch selected the seller.
  const deadline = Date.now() + 20_000
  let submitted = 0
  while (Date.now() < deadline) {
    const answer = await call("POST", `${processor}/api/v1/proposal-submissions`, {
      OrderReqID: id,
      Seller: seller,
      ProposalDictObj: { ProposalID: `${id}-P`, Price: 100, DeliveryDate: "2026-12-10", Currency: "EUR" },
    })
    submitted = answer.status
    if (submitted === 201) break
    await sleep(50)
  }
  if (submitted !== 201) return false
  const finalise = await call("PUT", `${requestor}/api/v1/finalize/${id}`, { ProposalID: `${id}-P` })
  return finalise.status === 200
}

const usedMemory = async (redis: IORedis) => {
  const info = await redis.info("memory")
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN)
}

const measure = async (
  context: ScenarioContext,
  settings: Settings,
  label: string,
  archive: boolean,
  db: pg.Pool,
): Promise<Run> => {
  const runId = `RET-${label}-${Date.now().toString(36)}`
  const archiveEnv: Record<string, string> = archive
    ? { DATABASE_URL: databaseUrl, ORDER_RETENTION_SECONDS: String(settings.retentionSeconds), ARCHIVE_POLL_MS: "250" }
    : { DATABASE_URL: "" }
  const target = await startSystem({
    name: label,
    redis: context.redis,
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: archiveEnv,
    requestorEnv: archiveEnv,
  })
  const redis = new IORedis(`${context.redis.url}/${PROCESSOR_DB}`, { maxRetriesPerRequest: 2 })
  const requestorRedis = new IORedis(`${context.redis.url}/${REQUESTOR_DB}`, { maxRetriesPerRequest: 2 })
  const finalised: Array<string> = []
  const before = new Map<string, ReadonlyArray<string>>()
  const samples: Array<Sample> = []
  let failed = 0
  try {
    const seller = `${runId}-S1`
    const sellers = await call("POST", `${target.processorUrls[0]}/api/v1/sellers`, [
      {
        SellerID: seller,
        Name: "Bench seller",
        Industries: [`Bench ${runId}`],
        Location: { Lat: origin.Lat + 0.01, Lng: origin.Lng },
        Active: true,
      },
    ])
    if (sellers.status !== 201 && sellers.status !== 200) throw new Error(`registering the seller: ${sellers.status}`)
    const started = performance.now()
    const sample = async () => {
      const archived = archive
        ? Number(
            (
              await db.query<{ n: string }>(
                "SELECT count(*) AS n FROM archived_orders WHERE service = 'requestor' AND order_req_id LIKE $1",
                [`${runId}-%`],
              )
            ).rows[0]?.n ?? 0,
          )
        : 0
      const next: Sample = {
        t: (performance.now() - started) / 1000,
        usedMemory: await usedMemory(redis),
        retained: await zcardAll(redis, allRetentionKeys(processorPrefix)),
        live: await scardAll(requestorRedis, allLiveOrdersKeys(requestorPrefix)),
        archived,
        finalised: finalised.length,
      }
      samples.push(next)
      progress(
        `${label} t=${next.t.toFixed(0)}s used_memory ${(next.usedMemory / 1e6).toFixed(2)} MB, retained ${next.retained}, archived ${archived}, finalised ${next.finalised}`,
      )
    }
    await sample()
    const sampler = setInterval(() => void sample().catch(() => undefined), settings.sampleSeconds * 1000)
    const lives: Array<Promise<void>> = []
    const total = Math.floor(settings.rate * settings.durationSeconds)
    for (let n = 0; n < total; n += 1) {
      const due = started + (n / settings.rate) * 1000
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const id = `${runId}-${n}`
      lives.push(
        lifeOf(target, runId, id, seller).then(
          async (ok) => {
            if (!ok) {
              failed += 1
              return
            }
            finalised.push(id)
            // A sample of the bodies read while the order is still in Redis (well within retention).
            if (before.size < settings.readBack && n % Math.max(1, Math.floor(total / settings.readBack)) === 0) {
              before.set(id, await settledBodies(target, id))
            }
          },
          () => {
            failed += 1
          },
        ),
      )
    }
    await Promise.all(lives)
    if (archive) {
      // Every finalised order leaves Redis within a retention window (plus the archiver's pass).
      const deadline = performance.now() + (settings.retentionSeconds + 60) * 1000
      while (performance.now() < deadline && (await zcardAll(redis, allRetentionKeys(processorPrefix))) > 0)
        await sleep(500)
    } else {
      await sleep(Math.min(settings.retentionSeconds, 10) * 1000)
    }
    clearInterval(sampler)
    await sample()
  } finally {
    redis.disconnect()
    requestorRedis.disconnect()
  }
  return { samples, finalised, failed, before, target }
}

/**
 * used_memory growth while orders keep coming, from the end of the first retention window to the
 * end of the load (bytes): about 0 when memory is bounded.
 */
const growthAfterFirstWindow = (samples: ReadonlyArray<Sample>, settings: Settings) => {
  const windowEnd = settings.retentionSeconds + 2 * settings.sampleSeconds
  const at = samples.find((sample) => sample.t >= windowEnd)
  const last = samples.findLast((sample) => sample.t <= settings.durationSeconds)
  return at === undefined || last === undefined || last.t <= at.t ? null : last.usedMemory - at.usedMemory
}

const curveTable = (system: ReadonlyArray<Sample>, baseline: ReadonlyArray<Sample>): string => {
  const lines = [
    "",
    "Redis used_memory over time (MB): with retention + archive, and the baseline (archive off)",
    `${"t (s)".padStart(7)} ${"with archive".padStart(13)} ${"retained".padStart(9)} ${"archived".padStart(9)} ${"finalised".padStart(10)} ${"baseline".padStart(10)} ${"finalised".padStart(10)}`,
  ]
  const rows = Math.max(system.length, baseline.length)
  for (let index = 0; index < rows; index += 1) {
    const a = system[index]
    const b = baseline[index]
    const mb = (value: number | undefined) => (value === undefined ? "" : (value / 1e6).toFixed(2))
    lines.push(
      `${(a ?? b)?.t.toFixed(0).padStart(7)} ${mb(a?.usedMemory).padStart(13)} ${String(a?.retained ?? "").padStart(9)} ${String(a?.archived ?? "").padStart(9)} ${String(a?.finalised ?? "").padStart(10)} ${mb(b?.usedMemory).padStart(10)} ${String(b?.finalised ?? "").padStart(10)}`,
    )
  }
  return lines.join("\n")
}

export const retention: Scenario = {
  name: "retention",
  summary: "orders through their whole life at a steady rate with a short retention: Redis memory flat, all archived",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = settingsOf()
    const base = {
      scenario: "retention",
      system: `1 processor + 1 requestor (started), ORDER_RETENTION_SECONDS=${settings.retentionSeconds}, archive ${databaseUrl.replace(/\/\/[^@]*@/, "//")}`,
      baselineName: "the same workload with the archive off (DATABASE_URL unset: nothing leaves Redis)",
      startedAt: startedAt.toISOString(),
      settings,
    }
    if (context.external !== undefined || !context.redis.private) {
      return skippedResult(
        base,
        "retention starts its own services on a private Redis (unset REQUESTOR_URL and BENCH_REDIS_URL)",
      )
    }
    const db = new pg.Pool({ connectionString: databaseUrl, max: 2 })
    try {
      progress(
        `retention: ${settings.rate} orders/s for ${settings.durationSeconds} s, retention ${settings.retentionSeconds} s; then the baseline`,
      )
      const system = await measure(context, settings, "archive", true, db)
      // Read back the sample once archived, then stop the services.
      let identical = 0
      const mismatches: Array<string> = []
      try {
        for (const [id, bodies] of system.before) {
          const after = await readBodies(system.target, id)
          if (JSON.stringify(after) === JSON.stringify(bodies)) {
            identical += 1
            continue
          }
          const index = after.findIndex((body, at) => body !== bodies[at])
          const was = bodies[index] ?? ""
          const is = after[index] ?? ""
          let from = 0
          while (from < was.length && was[from] === is[from]) from += 1
          const around = (text: string) => text.slice(Math.max(0, from - 60), from + 200)
          mismatches.push(
            `${id} (${["requestor GET order", "processor GET order", "processor GET proposals"][index]} differs at ${from}: before …${around(was)}… after …${around(is)}…)`,
          )
        }
      } finally {
        await system.target.stop()
      }
      const ids = system.finalised
      const counts = await db.query<{ service: string; orders: string; events: string; max_seq_sum: string }>(
        `SELECT o.service, count(DISTINCT o.order_req_id) AS orders, count(e.seq) AS events,
                (SELECT coalesce(sum(last_seq), 0) FROM archived_orders x WHERE x.service = o.service AND x.order_req_id = ANY($1)) AS max_seq_sum
         FROM archived_orders o LEFT JOIN archived_order_events e USING (service, order_req_id)
         WHERE o.order_req_id = ANY($1) GROUP BY o.service ORDER BY o.service`,
        [ids],
      )
      const stillInRedis = system.samples.at(-1)?.retained ?? 0
      const baseline = await measure(context, settings, "baseline", false, db)
      await baseline.target.stop()
      process.stdout.write(`${curveTable(system.samples, baseline.samples)}\n`)

      const checks: Array<ChannelCheck & { target: string }> = counts.rows.map((row) => ({
        target: "archive",
        channel: `${row.service} orders + events`,
        expected: ids.length,
        delivered: Number(row.orders),
        lost: ids.length - Number(row.orders) + (Number(row.max_seq_sum) - Number(row.events)),
        duplicated: 0,
        outOfOrder: 0,
        gaps: 0,
      }))
      if (checks.length < 2) {
        checks.push({
          target: "archive",
          channel: "a service's part missing",
          expected: ids.length,
          delivered: 0,
          lost: ids.length,
          duplicated: 0,
          outOfOrder: 0,
          gaps: 0,
        })
      }
      checks.push({
        target: "archive",
        channel: "read back identically",
        expected: system.before.size,
        delivered: identical,
        lost: system.before.size - identical,
        duplicated: 0,
        outOfOrder: 0,
        gaps: 0,
      })
      const mb = (value: number | null) => (value === null ? null : round(value / 1e6, 3))
      const figures: Array<Figure> = [
        {
          group: "Redis memory",
          name: "used_memory growth under load after the first retention window",
          unit: "MB",
          value: mb(growthAfterFirstWindow(system.samples, settings)),
          baseline: mb(growthAfterFirstWindow(baseline.samples, settings)),
          better: "lower",
        },
        {
          group: "Redis memory",
          name: "used_memory at the end",
          unit: "MB",
          value: mb(system.samples.at(-1)?.usedMemory ?? null),
          baseline: mb(baseline.samples.at(-1)?.usedMemory ?? null),
          better: "lower",
        },
        {
          group: "orders",
          name: "finalised",
          unit: "orders",
          value: ids.length,
          baseline: baseline.finalised.length,
          better: "higher",
        },
        {
          group: "orders",
          name: "still in Redis at the end",
          unit: "orders",
          value: stillInRedis,
          baseline: baseline.samples.at(-1)?.retained ?? null,
          better: "lower",
        },
      ]
      const notes = [
        ...(system.failed + baseline.failed > 0
          ? [`orders whose life did not complete: ${system.failed} (archive), ${baseline.failed} (baseline)`]
          : []),
        ...(mismatches.length > 0 ? [`read back differently: ${mismatches.join(", ")}`] : []),
        ...(stillInRedis > 0 ? [`${stillInRedis} finished orders were still in Redis at the end`] : []),
      ]
      return {
        ...base,
        durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
        figures,
        checks,
        details: { system: system.samples, baseline: baseline.samples },
        notes,
        ok: checksOk(checks) && stillInRedis === 0 && system.failed === 0 && ids.length > 0,
      }
    } finally {
      await db.end()
    }
  },
}
