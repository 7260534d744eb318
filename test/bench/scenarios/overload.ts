/**
 * `overload`: what happens past capacity. The system's capacity is measured first (closed loop);
 * then a normal load (half of it, open loop) gives the normal latency; then twice the capacity is
 * offered for 60 s — goodput, how fast and how clearly the refused requests were refused (status,
 * `Retry-After`; new `WatchOrder` streams refused with RESOURCE_EXHAUSTED), the latency of what
 * was admitted — and then the normal load again: how long until its latency is normal again.
 * The baseline gets the very same offered loads (the system's rates).
 */
import { intEnv, numberEnv } from "../lib/config.ts"
import { notSentLabel, type PhaseRecord } from "../lib/generator.ts"
import {
  type ChannelCheck,
  checksOk,
  type Figure,
  generatorLagNote,
  progress,
  type ScenarioResult,
  streamErrorNote,
} from "../lib/report.ts"
import { common, round, type Scenario, type ScenarioContext } from "../lib/scenario.ts"
import { Session } from "../lib/session.ts"
import { Counter, percentile, type Summary, summarize } from "../lib/stats.ts"
import { type StreamProbe, startStreamProbe } from "../lib/stream-probe.ts"
import { startBaseline, startSystem, type Target } from "../lib/targets.ts"

const settingsOf = () => {
  const connections = intEnv("BENCH_OVERLOAD_CONNECTIONS", 2048, 64, 1)
  return {
    ...common(),
    orders: intEnv("BENCH_OVERLOAD_ORDERS", 100, 4, 1),
    concurrency: intEnv("BENCH_OVERLOAD_CONCURRENCY", 64, 4, 1),
    // Many clients, many connections: a pool of a few would queue the overload in the generator,
    // where the server's admission control never sees it.
    connections,
    capacityMs: numberEnv("BENCH_CAPACITY_SECONDS", 10, 2, 1) * 1000,
    normalShare: numberEnv("BENCH_NORMAL_LOAD", 0.5, 0.5, 0.01),
    factor: numberEnv("BENCH_OVERLOAD_FACTOR", 2, 2, 1),
    normalMs: numberEnv("BENCH_NORMAL_SECONDS", 10, 1, 1) * 1000,
    overloadMs: numberEnv("BENCH_OVERLOAD_SECONDS", 60, 2, 1) * 1000,
    recoveryMs: numberEnv("BENCH_RECOVERY_SECONDS", 45, 2, 1) * 1000,
    streamOpens: numberEnv("BENCH_OVERLOAD_STREAM_OPENS", 20, 5, 0),
    // One request per connection at most: a send finding every connection busy is counted as not
    // sent rather than queued inside the generator (its latency would be the generator's).
    maxInFlight: intEnv("BENCH_MAX_IN_FLIGHT", connections, connections, 1),
    windowMs: numberEnv("BENCH_WINDOW_SECONDS", 1, 1, 0.1) * 1000,
    stableWindows: intEnv("BENCH_RECOVERY_STABLE_WINDOWS", 5, 1, 1),
  }
}

type Settings = ReturnType<typeof settingsOf>

interface OverloadRun {
  readonly session: Session
  readonly capacity: PhaseRecord
  readonly normal: PhaseRecord
  readonly overload: PhaseRecord
  readonly recovery: PhaseRecord
  readonly probe: StreamProbe | undefined
  /** p99 of the normal load before the overload, and the bound a recovered window must meet. */
  readonly normalP99: number | null
  readonly threshold: number | null
  /** Seconds from the end of the overload until the latency is back to normal; null: not within the phase. */
  readonly recoverySeconds: number | null
  readonly drained: boolean
  readonly checks: ReadonlyArray<ChannelCheck & { target: string }>
  readonly streamErrors: Record<string, number>
}

/** Latency summary of `phase`'s submissions answered with a status `status` accepts. */
const latencyWhere = (phase: PhaseRecord, status: (code: number) => boolean): Summary | undefined =>
  summarize(phase.took.filter((_, index) => status(phase.status[index] as number)))

const admitted = (code: number) => code >= 200 && code < 300
/** The clear refusals: 429 / 503 (with or without Retry-After). */
const refused = (code: number) => code === 429 || code === 503

/**
 * Seconds into `phase` until the first of `stable` consecutive normal windows (by due time):
 * everything sent and accepted, p99 within `threshold`. `null` when there was no such run.
 */
const recoveredAfter = (phase: PhaseRecord, windowMs: number, threshold: number, stable: number): number | null => {
  const count = Math.ceil((phase.endedAt - phase.startedAt) / windowMs)
  const windows = Array.from({ length: count }, () => ({ took: [] as Array<number>, bad: 0 }))
  const windowOf = (due: number) => windows[Math.min(count - 1, Math.floor((due - phase.startedAt) / windowMs))]
  phase.due.forEach((due, index) => {
    const window = windowOf(due)
    window?.took.push(phase.took[index] as number)
    if (window !== undefined && !phase.ok[index]) window.bad += 1
  })
  for (const due of phase.skippedDue) {
    const window = windowOf(due)
    if (window !== undefined) window.bad += 1
  }
  const normal = windows.map(
    (window) =>
      window.bad === 0 &&
      (window.took.length === 0 || percentile(Float64Array.from(window.took).sort(), 99) <= threshold),
  )
  const run = Math.min(stable, count)
  for (let from = 0; from + run <= count; from += 1) {
    if (normal.slice(from, from + run).every(Boolean)) return (from * windowMs) / 1000
  }
  return null
}

const measureOverload = async (
  target: Target,
  settings: Settings,
  rates: { normal: number; overload: number } | undefined,
): Promise<OverloadRun> => {
  const session = new Session({
    target,
    orders: settings.orders,
    grpcPerOrder: () => 1,
    ssePerOrder: () => 0,
    sellers: settings.sellers,
    topics: true,
    updateShare: 0.5,
    connections: Math.max(settings.concurrency, settings.connections),
    openConcurrency: settings.openConcurrency,
    httpTimeoutMs: settings.httpTimeoutMs,
    progressMs: settings.progressMs,
    watchTimeoutMs: settings.watchTimeoutMs,
    watchOpenRate: settings.watchOpenRate,
    streamsPerChannel: settings.streamsPerChannel,
  })
  try {
    await session.open()
    const capacity = await session.closedLoop("capacity", settings.concurrency, settings.capacityMs)
    const { normal: normalRate, overload: overloadRate } = rates ?? {
      normal: Math.max(1, capacity.throughput * settings.normalShare),
      overload: Math.max(1, capacity.throughput * settings.factor),
    }
    progress(
      `${target.name}: capacity ${capacity.throughput.toFixed(0)}/s; normal load ${normalRate.toFixed(0)}/s, overload ${overloadRate.toFixed(0)}/s`,
    )
    const normal = await session.openLoop("normal load", normalRate, settings.normalMs, settings.maxInFlight)
    const live = session.liveOrders().map((order) => session.orderIds[order] as string)
    const probe =
      settings.streamOpens > 0 && target.watchAddresses[0] !== undefined
        ? startStreamProbe(target.watchAddresses[0], live, settings.streamOpens)
        : undefined
    // The normal load resumes the moment the overload's last send was due, whatever is still in flight.
    const overload = await session.openLoop("overload", overloadRate, settings.overloadMs, settings.maxInFlight, false)
    await probe?.stop()
    const recovery = await session.openLoop("after the overload", normalRate, settings.recoveryMs, settings.maxInFlight)
    await overload.settled
    const normalP99 = normal.summary()?.p99 ?? null
    const threshold = normalP99 === null ? null : Math.max(2 * normalP99, normalP99 + 25)
    const recoverySeconds =
      threshold === null ? null : recoveredAfter(recovery, settings.windowMs, threshold, settings.stableWindows)
    const drained = await session.drain(settings.drainMs)
    const { checks, streamErrors } = await session.finish()
    return {
      session,
      capacity,
      normal,
      overload,
      recovery,
      probe,
      normalP99,
      threshold,
      recoverySeconds,
      drained,
      checks,
      streamErrors,
    }
  } finally {
    await session.stop()
  }
}

/** Refusal labels: what the overload answered besides 2xx (sends the generator skipped are counted apart). */
const refusals = (phase: PhaseRecord) => {
  const counter = new Counter()
  for (const [label, count] of phase.statuses.counts)
    if (!/^2\d\d$/.test(label) && label !== notSentLabel) counter.add(label, count)
  return counter
}

const figuresOf = (settings: Settings, system: OverloadRun, baseline: OverloadRun): Array<Figure> => {
  const group = `${settings.factor}× capacity for ${settings.overloadMs / 1000} s, then ${settings.normalShare}× capacity`
  const withRetryAfter = (run: OverloadRun) =>
    [...refusals(run.overload).counts]
      .filter(([label]) => label.endsWith("+Retry-After"))
      .reduce((s, [, n]) => s + n, 0)
  const offered = (run: OverloadRun) => (run.overload.sent + run.overload.skipped) / (settings.overloadMs / 1000)
  const refusedTotal = (run: OverloadRun) => refusals(run.overload).total()
  const refusedP99 = (run: OverloadRun) => latencyWhere(run.overload, refused)?.p99 ?? 0
  const exhausted = (run: OverloadRun) => run.probe?.outcomes.get("RESOURCE_EXHAUSTED") ?? 0
  // Not recovered within the phase: the phase's length is a lower bound ("> 45").
  const recovery = (run: OverloadRun) => run.recoverySeconds ?? settings.recoveryMs / 1000
  const notRecovered = (run: OverloadRun) => run.recoverySeconds === null
  return [
    {
      group,
      name: "capacity (closed loop)",
      unit: "/s",
      value: round(system.capacity.throughput, 1),
      baseline: round(baseline.capacity.throughput, 1),
      better: "higher",
    },
    {
      group,
      name: "offered during the overload",
      unit: "/s",
      value: round(offered(system), 1),
      baseline: round(offered(baseline), 1),
    },
    {
      group,
      name: "not sent: every connection busy",
      unit: "requests",
      value: system.overload.skipped,
      baseline: baseline.overload.skipped,
      better: "lower",
    },
    {
      group,
      name: "goodput during the overload",
      unit: "/s",
      value: round(system.overload.throughput, 1),
      baseline: round(baseline.overload.throughput, 1),
      better: "higher",
    },
    {
      group,
      name: "admitted latency p50",
      unit: "ms",
      value: round(latencyWhere(system.overload, admitted)?.p50, 1),
      baseline: round(latencyWhere(baseline.overload, admitted)?.p50, 1),
      better: "lower",
    },
    {
      group,
      name: "admitted latency p99",
      unit: "ms",
      value: round(latencyWhere(system.overload, admitted)?.p99, 1),
      baseline: round(latencyWhere(baseline.overload, admitted)?.p99, 1),
      better: "lower",
    },
    {
      group,
      name: "refused or failed",
      unit: "requests",
      value: refusedTotal(system),
      baseline: refusedTotal(baseline),
      better: "lower",
    },
    {
      group,
      name: "refused with Retry-After",
      unit: "requests",
      value: withRetryAfter(system),
      baseline: withRetryAfter(baseline),
    },
    {
      group,
      name: "429/503 answer latency p99",
      unit: "ms",
      value: round(refusedP99(system), 1),
      baseline: round(refusedP99(baseline), 1),
      better: "lower",
    },
    {
      group,
      name: "WatchOrder opens refused RESOURCE_EXHAUSTED",
      unit: "calls",
      value: exhausted(system),
      baseline: exhausted(baseline),
    },
    {
      group,
      name: "normal-load p99 before",
      unit: "ms",
      value: round(system.normalP99, 1),
      baseline: round(baseline.normalP99, 1),
      better: "lower",
    },
    {
      group,
      name: "time back to normal latency",
      unit: "s",
      value: recovery(system),
      baseline: recovery(baseline),
      better: "lower",
      ...(notRecovered(system) ? { lowerBound: true } : {}),
      ...(notRecovered(baseline) ? { baselineLowerBound: true } : {}),
    },
  ]
}

const runDetails = (run: OverloadRun) => ({
  phases: run.session.phases.map((phase) => ({
    name: phase.name,
    sent: phase.sent,
    accepted: phase.accepted,
    skipped: phase.skipped,
    throughput: round(phase.throughput, 1),
    statuses: phase.statuses.toJSON(),
    latency: phase.summary(),
    generatorLoopDelayMs: phase.loopDelay,
  })),
  streamOpensDuringOverload: run.probe?.outcomes.toJSON(),
  streamOpenFirstEvent: run.probe?.firstEvent.summary(),
  normalP99: run.normalP99,
  recoveryThreshold: run.threshold,
  recoverySeconds: run.recoverySeconds,
  streamErrors: run.streamErrors,
  drained: run.drained,
})

export const overload: Scenario = {
  name: "overload",
  summary: "2× the measured capacity for 60 s, then normal load: goodput, refusals, time back to normal latency",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = settingsOf()
    const target = context.external ?? (await startSystem({ redis: context.redis, processorDb: 6, requestorDb: 7 }))
    const system = await measureOverload(target, settings, undefined)
    const rates = {
      normal: (system.normal.sent + system.normal.skipped) / (settings.normalMs / 1000),
      overload: (system.overload.sent + system.overload.skipped) / (settings.overloadMs / 1000),
    }
    progress(`overload: the baseline gets the same offered loads`)
    const baseline = await measureOverload(await startBaseline(), settings, rates)
    const checks = [...baseline.checks, ...system.checks]
    const notes = [
      "latency from each request's due time (open loop); refusals: every answer but 2xx, by status (+Retry-After when the header was there)",
      `back to normal: from the end of the overload until the first ${settings.stableWindows} consecutive ${settings.windowMs / 1000} s windows of the normal load with every request sent and accepted and p99 ≤ max(2 × normal p99, normal p99 + 25 ms); "> N" = not within ${settings.recoveryMs / 1000} s`,
      ...generatorLagNote("system", system.session.phases),
      ...generatorLagNote("baseline", baseline.session.phases),
      ...streamErrorNote("system", system.streamErrors),
      ...streamErrorNote("baseline", baseline.streamErrors),
      `system refusals during the overload: ${JSON.stringify(refusals(system.overload).toJSON())}`,
      `system WatchOrder opens during the overload: ${JSON.stringify(system.probe?.outcomes.toJSON() ?? {})}`,
    ]
    return {
      scenario: "overload",
      system: context.external === undefined ? "1 processor + 1 requestor (started)" : "running services",
      baselineName: "bare node:http + nice-grpc server under the same offered loads, same generator",
      startedAt: startedAt.toISOString(),
      durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1) ?? 0,
      settings,
      figures: figuresOf(settings, system, baseline),
      checks,
      details: { system: runDetails(system), baseline: runDetails(baseline) },
      notes,
      ok: checksOk(checks) && system.drained && baseline.drained,
    }
  },
}
