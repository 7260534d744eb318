/**
 * `live-orders`: what holding many live orders costs. For each size K (10k, 50k, 100k by default):
 * one processor and one requestor, K orders initiated through the requestor (each needs the
 * requestor's stream to the processor), some of them watched on `WatchOrder`; the time until
 * every order is live (its SellersSelected on BUYER_NOTIFY, every watcher served); then, with no
 * traffic at all, each service's RSS and CPU and Redis's commands/s; then one proposal per order
 * and the time until every watcher and the topic have it. The baseline holds the same orders
 * and watchers on the bare server. A size that cannot be opened or drained stops the larger ones.
 */
import { intEnv, intListEnv, numberEnv } from "../lib/config.ts"
import type { PhaseRecord } from "../lib/generator.ts"
import { streamMetrics } from "../lib/metrics.ts"
import { rssMiB, type Usage, usageMeter } from "../lib/procstat.ts"
import {
  type ChannelCheck,
  checksOk,
  type Figure,
  progress,
  type ScenarioResult,
  streamErrorNote,
} from "../lib/report.ts"
import { common, cpuOf, round, type Scenario, type ScenarioContext } from "../lib/scenario.ts"
import { Session } from "../lib/session.ts"
import { startBaseline, startSystem, type Target } from "../lib/targets.ts"

const settingsOf = () => ({
  ...common(),
  sizes: intListEnv("BENCH_LIVE_ORDERS", [10_000, 50_000, 100_000], [20]),
  watchedOrders: intEnv("BENCH_LIVE_WATCHED_ORDERS", 10_000, 20, 0),
  watchersPerOrder: intEnv("BENCH_LIVE_WATCHERS_PER_ORDER", 1, 1, 0),
  idleMs: numberEnv("BENCH_IDLE_SECONDS", 60, 2, 1) * 1000,
  baselineIdleMs: numberEnv("BENCH_BASELINE_IDLE_SECONDS", 10, 1, 1) * 1000,
  settleMs: numberEnv("BENCH_LIVE_SETTLE_SECONDS", 10, 0.5, 0) * 1000,
  burstConcurrency: intEnv("BENCH_BURST_CONCURRENCY", 64, 4, 1),
  openTimeoutMs: numberEnv("BENCH_LIVE_OPEN_TIMEOUT_SECONDS", 300, 30, 1) * 1000,
  burstTimeoutMs: numberEnv("BENCH_LIVE_BURST_TIMEOUT_SECONDS", 180, 20, 1) * 1000,
})

type Settings = ReturnType<typeof settingsOf>

interface LiveRun {
  readonly session: Session
  /** Every order initiated and live, every watcher served, within the open timeout. */
  readonly opened: boolean
  readonly openSeconds: number | null
  readonly rss: Readonly<Record<string, number | null>>
  readonly idle: Usage
  readonly burst: PhaseRecord
  readonly drained: boolean
  readonly checks: ReadonlyArray<ChannelCheck & { target: string }>
  /** From the requestor's `/metrics` (context only): its processor streams, and how many ended while idle. */
  readonly processorStreams: { readonly open: number | null; readonly endedWhileIdle: number | null }
  readonly streamErrors: Readonly<Record<string, number>>
  readonly details: Readonly<Record<string, unknown>>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const rssOf = (pids: Readonly<Record<string, number>>) =>
  Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, round(rssMiB(pid) ?? null, 1)]))

const measureLive = async (target: Target, size: number, settings: Settings, idleMs: number): Promise<LiveRun> => {
  const session = new Session({
    target,
    orders: size,
    grpcPerOrder: (order) => (order < settings.watchedOrders ? settings.watchersPerOrder : 0),
    ssePerOrder: () => 0,
    sellers: settings.sellers,
    topics: true,
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
    const initiated = session.opened?.initiated ?? 0
    // The system's orders are live once their SellersSelected reached BUYER_NOTIFY (the requestor
    // got it over its stream); the bare server has no such topic message.
    const viaTopic = target.topics.includes("BUYER_NOTIFY")
    const remaining = Math.max(1_000, settings.openTimeoutMs - (Date.now() - session.openStartedAt))
    const liveOnTopic =
      !viaTopic ||
      (await session.waitUntil(
        () => session.liveOnTopic.size >= initiated,
        remaining,
        () => `${target.name}: ${session.liveOnTopic.size}/${initiated} orders live (SellersSelected on BUYER_NOTIFY)`,
      ))
    const pool = session.watcherStats()
    const watchersServed = session.openSeconds !== undefined || session.watchers === 0
    const opened = initiated === size && liveOnTopic && watchersServed
    const lastAt = Math.max(session.openStartedAt + (session.openSeconds ?? 0) * 1000, session.lastLiveOnTopicAt)
    const openSeconds = opened ? (lastAt - session.openStartedAt) / 1000 : null
    progress(
      `${target.name}: ${opened ? `${size} orders live in ${openSeconds?.toFixed(1)} s` : `NOT all ${size} orders live (initiated ${initiated}, on topic ${session.liveOnTopic.size})`}`,
    )
    if (settings.settleMs > 0) await sleep(settings.settleMs)
    const streamsBefore =
      target.requestorUrls[0] === undefined ? undefined : await streamMetrics(target.requestorUrls[0])
    progress(`${target.name}: idle for ${idleMs / 1000} s (no traffic), measuring CPU, RSS and Redis`)
    const meter = await usageMeter(target.pids, target.redisUrl)
    await sleep(idleMs)
    const idle = await meter.stop()
    const rss = rssOf(target.pids)
    const streamsAfter =
      target.requestorUrls[0] === undefined ? undefined : await streamMetrics(target.requestorUrls[0])
    const streamKind = "requestor_order_stream"
    const processorStreams = {
      open: streamsAfter?.open[streamKind] ?? null,
      endedWhileIdle:
        streamsBefore?.open[streamKind] === null || streamsBefore === undefined || streamsAfter === undefined
          ? null
          : (streamsAfter.disconnects[streamKind] ?? 0) - (streamsBefore.disconnects[streamKind] ?? 0),
    }
    const burst = await session.burst("one proposal per order", settings.burstConcurrency, settings.burstTimeoutMs)
    // Complete: every order got its proposal and every watcher and topic has it.
    const drained = (await session.drain(settings.burstTimeoutMs)) && burst.skipped === 0
    const { checks, streamErrors } = await session.finish()
    return {
      session,
      opened,
      openSeconds,
      rss,
      idle,
      burst,
      drained,
      checks,
      processorStreams,
      streamErrors,
      details: {
        initiate: session.openedSummary(),
        watchers: session.watchers,
        watcherStats: pool,
        liveOnTopic: session.liveOnTopic.size,
        idleCpu: idle.cpu,
        idleRedisCommandsPerSecond: idle.redisCommandsPerSecond,
        rss,
        streamMetricsBeforeIdle: streamsBefore,
        streamMetricsAfterIdle: streamsAfter,
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

const sizeFigures = (size: number, settings: Settings, system: LiveRun, baseline: LiveRun): Array<Figure> => {
  const watched = Math.min(size, settings.watchedOrders)
  const group = `${size.toLocaleString("en-US")} live orders (${watched.toLocaleString("en-US")} watched × ${settings.watchersPerOrder})`
  const baseRss = baseline.rss.baseline ?? null
  const baseCpu = cpuOf(baseline.idle.cpu, ["baseline"])
  const initiates = (run: LiveRun) =>
    run.session.opened === undefined || run.session.opened.seconds === 0
      ? null
      : run.session.opened.initiated / run.session.opened.seconds
  // Only a complete burst has a "until every ..." time.
  const untilWatchers = (run: LiveRun) =>
    run.drained ? (run.session.lastDeliverySeconds(run.burst, "WatchOrder") ?? null) : null
  const untilTopic = (run: LiveRun) =>
    run.drained ? (run.session.lastDeliverySeconds(run.burst, run.session.topicNames[0] ?? "") ?? null) : null
  const p99 = (run: LiveRun) => run.session.latency(run.burst, "WatchOrder")?.p99 ?? null
  const bareNote = "the bare server (one process)"
  return [
    {
      group,
      name: "initiates/s",
      unit: "/s",
      value: round(initiates(system), 1),
      baseline: round(initiates(baseline), 1),
      better: "higher",
    },
    {
      group,
      name: "time until every order is live",
      unit: "s",
      value: round(system.openSeconds, 1),
      baseline: round(baseline.openSeconds, 1),
      better: "lower",
    },
    {
      group,
      name: "RSS requestor",
      unit: "MiB",
      value: system.rss.requestor ?? null,
      baseline: baseRss,
      baselineNote: bareNote,
      better: "lower",
    },
    {
      group,
      name: "RSS processor",
      unit: "MiB",
      value: system.rss.processor ?? null,
      baseline: baseRss,
      baselineNote: bareNote,
      better: "lower",
    },
    {
      group,
      name: "idle CPU requestor",
      unit: "% of a core",
      value: round(system.idle.cpu.requestor, 2),
      baseline: round(baseCpu, 2),
      better: "lower",
    },
    {
      group,
      name: "idle CPU processor",
      unit: "% of a core",
      value: round(system.idle.cpu.processor, 2),
      baseline: round(baseCpu, 2),
      better: "lower",
    },
    {
      group,
      name: "idle Redis commands/s",
      unit: "/s",
      value: round(system.idle.redisCommandsPerSecond, 1),
      baselineNote: "the bare server uses no Redis",
      better: "lower",
    },
    {
      group,
      name: "idle Redis CPU",
      unit: "% of a core",
      value: round(system.idle.cpu.redis, 2),
      baselineNote: "no Redis",
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
    {
      group,
      name: "burst: until every watcher has its proposal",
      unit: "s",
      value: round(untilWatchers(system), 2),
      baseline: round(untilWatchers(baseline), 2),
      better: "lower",
    },
    {
      group,
      name: "burst: submit → WatchOrder p99",
      unit: "ms",
      value: round(p99(system), 1),
      baseline: round(p99(baseline), 1),
      better: "lower",
    },
    {
      group,
      name: "burst: until every proposal is on the topic",
      unit: "s",
      value: round(untilTopic(system), 2),
      baseline: round(untilTopic(baseline), 2),
      better: "lower",
    },
  ]
}

export const liveOrders: Scenario = {
  name: "live-orders",
  summary: "10k/50k/100k live orders on one requestor + one processor: open time, idle RSS/CPU/Redis, a proposal burst",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = settingsOf()
    const figures: Array<Figure> = []
    const checks: Array<ChannelCheck & { target: string }> = []
    const notes: Array<string> = []
    const details: Record<string, unknown> = {}
    let ok = true
    for (const size of settings.sizes) {
      if (!ok) {
        notes.push(`${size} live orders: skipped (a smaller size did not open or drain)`)
        continue
      }
      progress(`live-orders: ${size} orders, baseline first`)
      const baseline = await measureLive(await startBaseline(), size, settings, settings.baselineIdleMs)
      const target = context.external ?? (await startSystem({ redis: context.redis, processorDb: 2, requestorDb: 3 }))
      const system = await measureLive(target, size, settings, settings.idleMs)
      figures.push(...sizeFigures(size, settings, system, baseline))
      checks.push(
        ...baseline.checks.map((check) => ({ ...check, target: `baseline ${size}` })),
        ...system.checks.map((check) => ({ ...check, target: `system ${size}` })),
      )
      details[String(size)] = { system: system.details, baseline: baseline.details }
      notes.push(...streamErrorNote(`system ${size}`, system.streamErrors))
      notes.push(...streamErrorNote(`baseline ${size}`, baseline.streamErrors))
      if (system.processorStreams.open !== null)
        notes.push(
          `${size}: the requestor's /metrics: ${system.processorStreams.open} processor streams open after the idle window, ${system.processorStreams.endedWhileIdle} ended during it`,
        )
      const sizeOk = system.opened && system.drained && baseline.opened && baseline.drained
      if (!system.opened) notes.push(`${size}: not every order was live within ${settings.openTimeoutMs / 1000} s`)
      if (!system.drained)
        notes.push(
          `${size}: the burst was not sent, or not delivered everywhere, within ${settings.burstTimeoutMs / 1000} s`,
        )
      ok = ok && sizeOk && checksOk(system.checks) && checksOk(baseline.checks)
    }
    notes.push(
      `idle window: ${settings.idleMs / 1000} s for the system, ${settings.baselineIdleMs / 1000} s for the baseline; RSS read after it`,
    )
    return {
      scenario: "live-orders",
      system: context.external === undefined ? "1 processor + 1 requestor (started per size)" : "running services",
      baselineName: "bare node:http + nice-grpc server holding the same orders and watchers, same generator",
      startedAt: startedAt.toISOString(),
      durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1) ?? 0,
      settings,
      figures,
      checks,
      details,
      notes,
      ok: ok && checksOk(checks),
    }
  },
}
