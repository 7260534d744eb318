/**
 * `write`: the write path. N live orders, each watched on `WatchOrder` (some also on SSE), and
 * proposals + updates sent to the processor — first at a fixed concurrency (closed loop: how many
 * per second the system answers), then at a fixed offered rate (open loop: the latency a steady
 * load sees, counted from when each send was due). Every accepted submission's event must reach
 * each watcher and each topic exactly once, in order: the bench fails otherwise.
 */

import { repoRoot } from "../../support/processes.ts"
import { intEnv, numberEnv } from "../lib/config.ts"
import type { PhaseRecord } from "../lib/generator.ts"
import { localKafkaPid, type Usage, usageMeter } from "../lib/procstat.ts"
import {
  type ChannelCheck,
  checksOk,
  type Figure,
  generatorLagNote,
  latencyFigures,
  progress,
  type ScenarioResult,
  streamErrorNote,
} from "../lib/report.ts"
import { common, round, type Scenario, type ScenarioContext, serviceCpu } from "../lib/scenario.ts"
import { Session } from "../lib/session.ts"
import { startBaseline, startSystem, type Target } from "../lib/targets.ts"

export const writeSettings = () => ({
  ...common(),
  orders: intEnv("BENCH_WRITE_ORDERS", 100, 4, 1),
  sseOrders: intEnv("BENCH_WRITE_SSE_ORDERS", 20, 2, 0),
  watchersPerOrder: intEnv("BENCH_WRITE_WATCHERS_PER_ORDER", 1, 1, 0),
  concurrency: intEnv("BENCH_WRITE_CONCURRENCY", 50, 4, 1),
  rate: numberEnv("BENCH_WRITE_RATE", 1000, 20, 1),
  durationMs: numberEnv("BENCH_DURATION_SECONDS", 20, 2, 1) * 1000,
  warmupMs: numberEnv("BENCH_WARMUP_SECONDS", 3, 0.5, 0) * 1000,
  updateShare: numberEnv("BENCH_UPDATE_SHARE", 0.5, 0.5, 0),
  maxInFlight: intEnv("BENCH_MAX_IN_FLIGHT", 5000, 200, 1),
})

export type WriteSettings = ReturnType<typeof writeSettings>

export interface WriteRun {
  readonly session: Session
  readonly closed: PhaseRecord
  readonly open: PhaseRecord | undefined
  readonly closedUsage: Usage
  /** Over the open loop (the same offered rate in every run: the steadier per-submission cost). */
  readonly openUsage: Usage | undefined
  readonly drained: boolean
  readonly checks: ReadonlyArray<ChannelCheck & { target: string }>
  readonly streamErrors: Record<string, number>
}

/** Opens the session on `target`, runs warm-up, closed loop and (unless `closedOnly`) open loop, drains, checks. */
export const measureWrite = async (
  target: Target,
  settings: WriteSettings,
  options: { readonly closedOnly?: boolean; readonly redisUrl?: string } = {},
): Promise<WriteRun> => {
  const session = new Session({
    target,
    orders: settings.orders,
    grpcPerOrder: () => settings.watchersPerOrder,
    ssePerOrder: (order) => (order < settings.sseOrders ? 1 : 0),
    sellers: settings.sellers,
    topics: true,
    updateShare: settings.updateShare,
    connections: Math.max(settings.concurrency, 64),
    openConcurrency: settings.openConcurrency,
    httpTimeoutMs: settings.httpTimeoutMs,
    progressMs: settings.progressMs,
    watchTimeoutMs: settings.watchTimeoutMs,
    watchOpenRate: settings.watchOpenRate,
    streamsPerChannel: settings.streamsPerChannel,
  })
  try {
    await session.open()
    if (settings.warmupMs > 0) await session.closedLoop("warm-up", settings.concurrency, settings.warmupMs)
    const kafka = localKafkaPid(repoRoot)
    const meter = await usageMeter(
      { ...target.pids, ...(kafka === undefined ? {} : { kafka }) },
      options.redisUrl ?? target.redisUrl,
    )
    const closed = await session.closedLoop("closed loop", settings.concurrency, settings.durationMs)
    const closedUsage = await meter.stop()
    const openMeter = options.closedOnly
      ? undefined
      : await usageMeter(
          { ...target.pids, ...(kafka === undefined ? {} : { kafka }) },
          options.redisUrl ?? target.redisUrl,
        )
    const open = options.closedOnly
      ? undefined
      : await session.openLoop("open loop", settings.rate, settings.durationMs, settings.maxInFlight)
    const openUsage = await openMeter?.stop()
    const drained = await session.drain(settings.drainMs)
    if (!drained) progress(`${target.name}: ${session.ledger.outstanding} deliveries still owed after the drain`)
    const { checks, streamErrors } = await session.finish()
    return { session, closed, open, closedUsage, openUsage, drained, checks, streamErrors }
  } finally {
    await session.stop()
  }
}

/** Figures of one phase of `system` beside the same phase of `baseline`. */
export const phaseFigures = (
  group: string,
  system: WriteRun,
  baseline: WriteRun | undefined,
  pick: (run: WriteRun) => PhaseRecord | undefined,
): Array<Figure> => {
  const s = pick(system)
  const b = baseline === undefined ? undefined : pick(baseline)
  if (s === undefined) return []
  const latency = (run: WriteRun | undefined, phase: PhaseRecord | undefined, channel: (r: WriteRun) => string) =>
    run === undefined || phase === undefined ? undefined : run.session.latency(phase, channel(run))
  const topic = (run: WriteRun) => run.session.topicNames[0] ?? ""
  const secondTopic = (run: WriteRun) => run.session.topicNames[1] ?? run.session.topicNames[0] ?? ""
  const figures: Array<Figure> = [
    {
      group,
      name: "accepted submissions/s",
      unit: "/s",
      value: round(s.throughput, 1),
      baseline: b === undefined ? null : round(b.throughput, 1),
      better: "higher",
    },
    ...latencyFigures(group, "HTTP answer", s.summary(), b?.summary()),
    ...latencyFigures(
      group,
      "submit → WatchOrder",
      latency(system, s, () => "WatchOrder"),
      latency(baseline, b, () => "WatchOrder"),
    ),
    ...latencyFigures(
      group,
      "submit → SSE",
      latency(system, s, () => "SSE"),
      latency(baseline, b, () => "SSE"),
    ),
    ...latencyFigures(group, `submit → topic ${topic(system)}`, latency(system, s, topic), latency(baseline, b, topic)),
  ]
  if (system.session.topicNames.length > 1) {
    figures.push(
      ...latencyFigures(
        group,
        `submit → topic ${secondTopic(system)}`,
        latency(system, s, secondTopic),
        latency(baseline, b, secondTopic),
        ["p99"],
      ),
    )
  }
  return figures
}

/** What the phase cost the services (and Redis) per accepted submission. */
const cpuFigures = (
  group: string,
  system: WriteRun,
  baseline: WriteRun,
  pick: (run: WriteRun) => { readonly usage: Usage | undefined; readonly phase: PhaseRecord | undefined },
): Array<Figure> => {
  const s = pick(system)
  const b = pick(baseline)
  if (s.usage === undefined || s.phase === undefined) return []
  const perSubmission = (usage: Usage | undefined, phase: PhaseRecord | undefined, value: number | null | undefined) =>
    usage === undefined || phase === undefined || value === null || value === undefined || phase.throughput === 0
      ? null
      : value / phase.throughput
  const cpu = (usage: Usage | undefined) => (usage === undefined ? null : serviceCpu(usage.cpu))
  return [
    {
      group,
      name: "service CPU (all service processes)",
      unit: "% of a core",
      value: round(cpu(s.usage), 1),
      baseline: round(cpu(b.usage), 1),
      better: "lower",
    },
    {
      group,
      name: "service CPU per submission",
      unit: "ms",
      // % of a core × 10 = ms per second
      value: round(
        perSubmission(
          s.usage,
          s.phase,
          mapNullable(cpu(s.usage), (v) => v * 10),
        ),
        3,
      ),
      baseline: round(
        perSubmission(
          b.usage,
          b.phase,
          mapNullable(cpu(b.usage), (v) => v * 10),
        ),
        3,
      ),
      better: "lower",
    },
    {
      group,
      name: "Redis commands per submission",
      unit: "commands",
      value: round(perSubmission(s.usage, s.phase, s.usage.redisCommandsPerSecond), 1),
      baselineNote: "the bare server uses no Redis",
      better: "lower",
    },
    // What each submission costs Redis (and its AOF, fsynced).
    {
      group,
      name: "bytes sent to Redis per submission",
      unit: "B",
      value: round(perSubmission(s.usage, s.phase, s.usage.redisInputBytesPerSecond), 0),
      baselineNote: "the bare server uses no Redis",
      better: "lower",
    },
  ]
}

const mapNullable = (value: number | null, f: (value: number) => number): number | null =>
  value === null ? null : f(value)

const phaseDetails = (run: WriteRun) => ({
  phases: run.session.phases.map((phase) => ({
    name: phase.name,
    sent: phase.sent,
    accepted: phase.accepted,
    skipped: phase.skipped,
    statuses: phase.statuses.toJSON(),
    generatorLoopDelayMs: phase.loopDelay,
  })),
  cpuDuringClosedLoop: Object.fromEntries(
    Object.entries(run.closedUsage.cpu).map(([name, value]) => [name, round(value, 1)]),
  ),
  redisCommandsPerSecondDuringClosedLoop: round(run.closedUsage.redisCommandsPerSecond, 0),
  cpuDuringOpenLoop:
    run.openUsage === undefined
      ? null
      : Object.fromEntries(Object.entries(run.openUsage.cpu).map(([name, value]) => [name, round(value, 1)])),
  opened: run.session.openedSummary(),
  watchers: run.session.watchers,
  watcherStats: run.session.watcherStats(),
  streamErrors: run.streamErrors,
  drained: run.drained,
})

export const write: Scenario = {
  name: "write",
  summary:
    "proposals + updates on N watched live orders: closed loop and open loop; latency to WatchOrder, SSE, topics",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = writeSettings()
    progress(
      `write: ${settings.orders} orders, closed loop ${settings.concurrency} in flight, open loop ${settings.rate}/s`,
    )
    const baseline = await measureWrite(await startBaseline(), settings)
    const target = context.external ?? (await startSystem({ redis: context.redis, processorDb: 0, requestorDb: 1 }))
    const system = await measureWrite(target, settings, { redisUrl: target.redisUrl })
    const closedGroup = `closed loop (${settings.concurrency} in flight, ${settings.durationMs / 1000} s)`
    const openGroup = `open loop (${settings.rate}/s offered, ${settings.durationMs / 1000} s; latency from the due time)`
    const figures = [
      ...phaseFigures(closedGroup, system, baseline, (run) => run.closed),
      ...cpuFigures(closedGroup, system, baseline, (run) => ({ usage: run.closedUsage, phase: run.closed })),
      ...phaseFigures(openGroup, system, baseline, (run) => run.open),
      ...cpuFigures(openGroup, system, baseline, (run) => ({ usage: run.openUsage, phase: run.open })),
    ]
    const checks = [...baseline.checks, ...system.checks]
    const notes = [
      `topic latency: the system's ${system.session.topicNames.join(" and ")} (read by kcat) against the baseline's bare producer topic`,
    ]
    for (const run of [baseline, system]) {
      notes.push(...streamErrorNote(run.session.label, run.streamErrors))
      notes.push(...generatorLagNote(run.session.label, run.session.phases))
      if (run.open !== undefined && run.open.skipped > 0)
        notes.push(
          `${run.session.label}: ${run.open.skipped} open-loop sends skipped (over ${settings.maxInFlight} in flight)`,
        )
    }
    return {
      scenario: "write",
      system: context.external === undefined ? "1 processor + 1 requestor (started)" : "running services",
      baselineName: "bare node:http + nice-grpc server (test/bench/baseline/server.ts), same generator",
      startedAt: startedAt.toISOString(),
      durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1) ?? 0,
      settings,
      figures,
      checks,
      details: { system: phaseDetails(system), baseline: phaseDetails(baseline) },
      notes,
      ok: checksOk(checks) && system.drained && baseline.drained,
    }
  },
}
