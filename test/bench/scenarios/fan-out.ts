/**
 * `fan-out`: many buyer apps on one requestor. K orders, W `WatchOrder` streams and S SSE
 * connections spread over them (several watchers per order, held by several generator
 * processes), then a burst of one proposal per order: the requestor's RSS while it holds them
 * all, and how long until each watcher has its order's proposal (p50/p99/max and the last one).
 */
import { intEnv, numberEnv } from "../lib/config.ts"
import type { PhaseRecord } from "../lib/generator.ts"
import { streamMetrics } from "../lib/metrics.ts"
import { rssMiB } from "../lib/procstat.ts"
import {
  type ChannelCheck,
  checksOk,
  type Figure,
  latencyFigures,
  progress,
  type ScenarioResult,
  streamErrorNote,
} from "../lib/report.ts"
import { common, round, type Scenario, type ScenarioContext } from "../lib/scenario.ts"
import { Session } from "../lib/session.ts"
import { serviceNodeOptions, startBaseline, startSystem, type Target } from "../lib/targets.ts"

const settingsOf = () => ({
  ...common(),
  orders: intEnv("BENCH_FANOUT_ORDERS", 5_000, 4, 1),
  watchOrderStreams: intEnv("BENCH_FANOUT_WATCHORDER", 50_000, 8, 0),
  sseStreams: intEnv("BENCH_FANOUT_SSE", 10_000, 4, 0),
  burstConcurrency: intEnv("BENCH_BURST_CONCURRENCY", 64, 4, 1),
  settleMs: numberEnv("BENCH_FANOUT_SETTLE_SECONDS", 5, 1, 0) * 1000,
  openTimeoutMs: numberEnv("BENCH_FANOUT_OPEN_TIMEOUT_SECONDS", 300, 30, 1) * 1000,
  burstTimeoutMs: numberEnv("BENCH_FANOUT_BURST_TIMEOUT_SECONDS", 120, 20, 1) * 1000,
})

type Settings = ReturnType<typeof settingsOf>

/** `total` spread over `orders`: the first `total % orders` get one more. */
const spread = (total: number, orders: number) => (order: number) =>
  Math.floor(total / orders) + (order < total % orders ? 1 : 0)

interface FanOutRun {
  readonly session: Session
  readonly opened: boolean
  readonly requestorRss: number | null
  readonly processorRss: number | null
  readonly burst: PhaseRecord
  readonly drained: boolean
  readonly checks: ReadonlyArray<ChannelCheck & { target: string }>
  readonly streamErrors: Readonly<Record<string, number>>
  readonly details: Readonly<Record<string, unknown>>
}

const sumRss = (pids: ReadonlyArray<number>) => {
  const values = pids.map((pid) => rssMiB(pid))
  return values.length === 0 || values.some((value) => value === undefined)
    ? null
    : round(
        values.reduce((sum: number, value) => sum + (value as number), 0),
        1,
      )
}

const measureFanOut = async (target: Target, settings: Settings): Promise<FanOutRun> => {
  const session = new Session({
    target,
    orders: settings.orders,
    grpcPerOrder: spread(settings.watchOrderStreams, settings.orders),
    ssePerOrder: spread(settings.sseStreams, settings.orders),
    sellers: settings.sellers,
    topics: false,
    updateShare: 0,
    connections: settings.burstConcurrency,
    openConcurrency: settings.openConcurrency,
    httpTimeoutMs: settings.httpTimeoutMs,
    progressMs: settings.progressMs,
    watchTimeoutMs: settings.openTimeoutMs,
    watchOpenRate: settings.watchOpenRate,
    streamsPerChannel: settings.streamsPerChannel,
  })
  try {
    await session.open()
    const opened = session.openSeconds !== undefined && session.opened?.initiated === settings.orders
    if (settings.settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settings.settleMs))
    const requestorRss = sumRss(target.requestorPids)
    const processorRss = sumRss(target.processorPids)
    const streams = target.requestorUrls[0] === undefined ? undefined : await streamMetrics(target.requestorUrls[0])
    const held = session.watcherStats()
    progress(`${target.name}: holding ${session.watchers} watchers; requestor RSS ${requestorRss} MiB`)
    const burst = await session.burst("burst", settings.burstConcurrency, settings.burstTimeoutMs)
    // Complete: every order got its proposal and every watcher and topic has it.
    const drained = (await session.drain(settings.burstTimeoutMs)) && burst.skipped === 0
    const { checks, streamErrors } = await session.finish()
    return {
      session,
      opened,
      requestorRss,
      processorRss,
      burst,
      drained,
      checks,
      streamErrors,
      details: {
        initiate: session.openedSummary(),
        watchers: session.watchers,
        watcherStats: held,
        streamMetrics: streams,
        burstStatuses: burst.statuses.toJSON(),
        generatorLoopDelayMs: burst.loopDelay,
        streamErrors,
        drained,
      },
    }
  } finally {
    await session.stop()
  }
}

export const fanOut: Scenario = {
  name: "fan-out",
  summary: "50k WatchOrder + 10k SSE streams on one requestor: RSS, delivery of a burst of one event per order",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = settingsOf()
    progress(
      `fan-out: ${settings.orders} orders, ${settings.watchOrderStreams} WatchOrder + ${settings.sseStreams} SSE watchers`,
    )
    const baseline = await measureFanOut(await startBaseline({ kafka: false }), settings)
    const target = context.external ?? (await startSystem({ redis: context.redis, processorDb: 4, requestorDb: 5 }))
    const system = await measureFanOut(target, settings)
    const group = `${settings.watchOrderStreams.toLocaleString("en-US")} WatchOrder + ${settings.sseStreams.toLocaleString("en-US")} SSE on ${settings.orders.toLocaleString("en-US")} orders`
    const until = (run: FanOutRun, channel: string) =>
      run.drained ? round(run.session.lastDeliverySeconds(run.burst, channel), 2) : null
    const figures: Array<Figure> = [
      {
        group,
        name: "time until every watcher is served",
        unit: "s",
        value: round(system.session.openSeconds, 1),
        baseline: round(baseline.session.openSeconds, 1),
        better: "lower",
      },
      {
        group,
        name: "RSS requestor",
        unit: "MiB",
        value: system.requestorRss,
        baseline: baseline.requestorRss,
        baselineNote: "the bare server",
        better: "lower",
      },
      {
        group,
        name: "RSS processor",
        unit: "MiB",
        value: system.processorRss,
        baselineNote: "no counterpart",
        better: "lower",
      },
      {
        group,
        name: "burst: accepted submissions/s",
        unit: "/s",
        value: round(system.burst.throughput, 1),
        baseline: round(baseline.burst.throughput, 1),
        better: "higher",
      },
    ]
    const channels = [
      ...(settings.watchOrderStreams > 0 ? ["WatchOrder"] : []),
      ...(settings.sseStreams > 0 ? ["SSE"] : []),
    ]
    for (const channel of channels) {
      figures.push(
        ...latencyFigures(
          group,
          `burst: submit → ${channel}`,
          system.session.latency(system.burst, channel),
          baseline.session.latency(baseline.burst, channel),
          ["p50", "p99", "max"],
        ),
        {
          group,
          name: `burst: until every ${channel} watcher has it`,
          unit: "s",
          value: until(system, channel),
          baseline: until(baseline, channel),
          better: "lower",
        },
      )
    }
    const checks = [...baseline.checks, ...system.checks]
    const notes = [
      `${settings.streamsPerChannel} WatchOrder streams per HTTP/2 connection (BENCH_STREAMS_PER_CONNECTION); one connection per SSE watcher`,
      `the services run with NODE_OPTIONS="${serviceNodeOptions()}" (infra/k8s' pods; BENCH_SERVICE_NODE_OPTIONS)`,
    ]
    for (const run of [baseline, system]) {
      notes.push(...streamErrorNote(run.session.label, run.streamErrors))
      if (!run.opened)
        notes.push(`${run.session.label}: not every watcher was served within ${settings.openTimeoutMs / 1000} s`)
      if (!run.drained)
        notes.push(
          `${run.session.label}: the burst was not sent, or did not reach every watcher, within ${settings.burstTimeoutMs / 1000} s`,
        )
    }
    return {
      scenario: "fan-out",
      system: context.external === undefined ? "1 processor + 1 requestor (started)" : "running services",
      baselineName: "bare node:http + nice-grpc server holding the same streams, same generator",
      startedAt: startedAt.toISOString(),
      durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1) ?? 0,
      settings,
      figures,
      checks,
      details: { system: system.details, baseline: baseline.details },
      notes,
      ok: checksOk(checks) && system.opened && system.drained && baseline.opened && baseline.drained,
    }
  },
}
