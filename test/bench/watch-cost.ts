/**
 * What one held watch costs the requestor, at a small scale (`make bench-fan-out` holds 60,000;
 * this holds a few thousand, so it can run beside other work): K orders are opened, the
 * requestor's heap is collected and measured (V8 inspector: `HeapProfiler.collectGarbage`, then
 * `process.memoryUsage()`), W `WatchOrder` streams and S SSE responses are opened on them, the heap
 * is collected and measured again; then a burst of one proposal per order and its delivery. The
 * bare server of the baseline gets the same in the same run.
 *
 *   node test/bench/watch-cost.ts            (WATCH_COST_ORDERS=500 WATCH_COST_WATCHORDER=4000 WATCH_COST_SSE=1000)
 *   WATCH_COST_SNAPSHOTS=dir                 also writes heap snapshots before and after the watches
 *                                            and a CPU profile of the burst
 *
 * Per watch: (after − before) / (W + S) of the heap used (JS objects), of `external` (Node buffers,
 * e.g. HTTP/2 and socket buffers) and of RSS (which also holds garbage not collected yet).
 */
import { writeFileSync } from "node:fs"
import { intEnv, stringEnv } from "./lib/config.ts"
import { rssMiB } from "./lib/procstat.ts"
import { progress } from "./lib/report.ts"
import { common, round } from "./lib/scenario.ts"
import { Session } from "./lib/session.ts"
import { benchRedis, startBaseline, startSystem, type Target } from "./lib/targets.ts"

const settings = {
  ...common(),
  orders: intEnv("WATCH_COST_ORDERS", 500, 50, 1),
  watchOrder: intEnv("WATCH_COST_WATCHORDER", 4000, 200, 0),
  sse: intEnv("WATCH_COST_SSE", 1000, 50, 0),
  snapshots: stringEnv("WATCH_COST_SNAPSHOTS"),
}

const inspectPort = { baseline: 19_291, system: 19_292 }

/** A V8 inspector session on a process started with `--inspect=port`. */
const inspector = async (port: number) => {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl: string
  }>
  const url = list[0]?.webSocketDebuggerUrl
  if (url === undefined) throw new Error(`no inspector target on port ${port}`)
  const socket = new WebSocket(url)
  await new Promise((resolve, reject) => {
    socket.onopen = resolve
    socket.onerror = reject
  })
  let id = 0
  const pending = new Map<number, (result: unknown) => void>()
  let chunks: Array<string> = []
  socket.onmessage = (message) => {
    const data = JSON.parse(String(message.data)) as {
      id?: number
      method?: string
      params?: { chunk?: string }
      result?: unknown
    }
    if (data.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(data.params?.chunk ?? "")
    if (data.id !== undefined) pending.get(data.id)?.(data.result)
  }
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      id += 1
      pending.set(id, resolve)
      socket.send(JSON.stringify({ id, method, params }))
    })
  return {
    memory: async () => {
      await send("HeapProfiler.collectGarbage")
      await send("HeapProfiler.collectGarbage")
      const result = (await send("Runtime.evaluate", {
        expression: "JSON.stringify(process.memoryUsage())",
        returnByValue: true,
      })) as { result: { value: string } }
      return JSON.parse(result.result.value) as NodeJS.MemoryUsage
    },
    snapshot: async (path: string) => {
      chunks = []
      await send("HeapProfiler.enable")
      await send("HeapProfiler.takeHeapSnapshot", { reportProgress: false })
      writeFileSync(path, chunks.join(""))
      chunks = []
    },
    profile: {
      start: async () => {
        await send("Profiler.enable")
        await send("Profiler.start")
      },
      stop: async (path: string) => {
        const result = (await send("Profiler.stop")) as { profile: unknown }
        writeFileSync(path, JSON.stringify(result.profile))
      },
    },
    close: () => socket.close(),
  }
}

const spread = (total: number, orders: number) => (order: number) =>
  Math.floor(total / orders) + (order < total % orders ? 1 : 0)

const measure = async (name: keyof typeof inspectPort, target: Target) => {
  const session = new Session({
    target,
    orders: settings.orders,
    grpcPerOrder: spread(settings.watchOrder, settings.orders),
    ssePerOrder: spread(settings.sse, settings.orders),
    sellers: settings.sellers,
    topics: false,
    updateShare: 0,
    connections: 64,
    openConcurrency: settings.openConcurrency,
    httpTimeoutMs: settings.httpTimeoutMs,
    progressMs: settings.progressMs,
    watchTimeoutMs: 300_000,
    watchOpenRate: settings.watchOpenRate,
    streamsPerChannel: settings.streamsPerChannel,
  })
  const pid = target.requestorPids[0] as number
  const v8 = await inspector(inspectPort[name])
  try {
    await session.openOrders()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const before = await v8.memory()
    const rssBefore = rssMiB(pid) ?? 0
    if (settings.snapshots !== undefined) await v8.snapshot(`${settings.snapshots}/${name}-before.heapsnapshot`)
    await session.openWatchers()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const after = await v8.memory()
    const rssAfter = rssMiB(pid) ?? 0
    if (settings.snapshots !== undefined) await v8.snapshot(`${settings.snapshots}/${name}-after.heapsnapshot`)
    const watches = settings.watchOrder + settings.sse
    const perWatch = (key: "heapUsed" | "external" | "arrayBuffers") => Math.round((after[key] - before[key]) / watches)
    if (settings.snapshots !== undefined) await v8.profile.start()
    const burst = await session.burst("burst", 64, 60_000)
    const drained = await session.drain(60_000)
    if (settings.snapshots !== undefined) await v8.profile.stop(`${settings.snapshots}/${name}-burst.cpuprofile`)
    const { checks, streamErrors } = await session.finish()
    const latency = (channel: string) => {
      const summary = session.latency(burst, channel)
      return summary === undefined
        ? undefined
        : {
            p50: round(summary.p50, 0),
            p99: round(summary.p99, 0),
            max: round(summary.max, 0),
            last: round(session.lastDeliverySeconds(burst, channel), 2),
          }
    }
    return {
      name,
      watches,
      heapUsedMiB: { before: round(before.heapUsed / 2 ** 20, 1), after: round(after.heapUsed / 2 ** 20, 1) },
      rssMiB: { before: rssBefore, after: rssAfter },
      perWatchBytes: {
        heapUsed: perWatch("heapUsed"),
        external: perWatch("external"),
        rss: Math.round(((rssAfter - rssBefore) * 2 ** 20) / watches),
      },
      burst: { submissions: burst.statuses.toJSON(), WatchOrder: latency("WatchOrder"), SSE: latency("SSE") },
      drained,
      streamErrors,
      checks: checks.map(({ channel, lost, duplicated, outOfOrder, gaps }) => ({
        channel,
        lost,
        duplicated,
        outOfOrder,
        gaps,
      })),
    }
  } finally {
    v8.close()
    await session.stop()
  }
}

const redis = await benchRedis()
try {
  progress(`watch cost: ${settings.orders} orders, ${settings.watchOrder} WatchOrder + ${settings.sse} SSE watchers`)
  const inspect = (name: keyof typeof inspectPort) => `--inspect=127.0.0.1:${inspectPort[name]}`
  const baseline = await measure(
    "baseline",
    await startBaseline({ kafka: false, env: { NODE_OPTIONS: inspect("baseline") } }),
  )
  const system = await measure(
    "system",
    await startSystem({
      redis,
      processorDb: 4,
      requestorDb: 5,
      requestorEnv: {
        NODE_OPTIONS: [process.env.BENCH_SERVICE_NODE_OPTIONS ?? "", inspect("system")].join(" ").trim(),
      },
    }),
  )
  process.stdout.write(`${JSON.stringify({ settings, baseline, system }, null, 2)}\n`)
} finally {
  await redis.close()
}
process.exit(0)
