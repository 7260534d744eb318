/**
 * The watching half of the load generator: forks watcher processes (`watch-worker.ts`), spreads
 * the watchers over them, and collects what they saw — every submission's deliveries (with the
 * time each watcher received it), each watcher's first event, their seq checks and stream errors.
 */
import { type ChildProcess, fork } from "node:child_process"
import { nodeBinary, repoRoot } from "../../support/processes.ts"
import { intEnv } from "./config.ts"
import type { WatchChannel } from "./ops.ts"
import type { ChannelIntegrity, FromWorker, OpenMessage, SummaryMessage, WorkerStats } from "./watch-protocol.ts"

export interface WatchSpec {
  readonly order: number
  readonly channel: WatchChannel
  /** Which requestor (index into the target's addresses). */
  readonly target: number
}

export interface WatchTarget {
  readonly watchAddresses: ReadonlyArray<string>
  readonly requestorUrls: ReadonlyArray<string>
}

export interface WatchResult {
  readonly integrity: ReadonlyArray<ChannelIntegrity>
  readonly errors: Readonly<Record<string, number>>
  readonly stats: WorkerStats
}

/** Watchers one process holds at most (`BENCH_WATCHERS_PER_WORKER`). */
export const watchersPerWorker = () => intEnv("BENCH_WATCHERS_PER_WORKER", 20_000, 20_000, 1)

const workerScript = `${repoRoot}test/bench/lib/watch-worker.ts`

const addStats = (a: WorkerStats, b: WorkerStats): WorkerStats => ({
  started: a.started + b.started,
  firstEvents: a.firstEvents + b.firstEvents,
  connected: a.connected + b.connected,
  reconnects: a.reconnects + b.reconnects,
})

const noStats: WorkerStats = { started: 0, firstEvents: 0, connected: 0, reconnects: 0 }

export class WatcherPool {
  private readonly latest = new Map<ChildProcess, WorkerStats>()
  private readonly summaries = new Map<ChildProcess, (summary: SummaryMessage) => void>()
  /** Watchers whose first event arrived, and when the last of them did (epoch ms). */
  firstEvents = 0
  lastFirstAt = 0
  total = 0

  private readonly workers: ReadonlyArray<ChildProcess>
  /** Called for every delivery of a submission's event. */
  private readonly onDelivery: (opId: number, channel: WatchChannel, at: number) => void

  private constructor(
    workers: ReadonlyArray<ChildProcess>,
    onDelivery: (opId: number, channel: WatchChannel, at: number) => void,
  ) {
    this.workers = workers
    this.onDelivery = onDelivery
    for (const worker of workers) {
      // A send to a process that just exited (EPIPE) is not worth a crash: `close` counts it as lost.
      worker.on("error", () => {})
      worker.on("message", (message: FromWorker) => {
        this.latest.set(worker, message.stats)
        if (message.t === "batch") {
          const { deliveries, firsts } = message
          for (let index = 0; index + 2 < deliveries.length; index += 3) {
            this.onDelivery(
              deliveries[index] as number,
              deliveries[index + 1] as WatchChannel,
              deliveries[index + 2] as number,
            )
          }
          for (let index = 0; index + 1 < firsts.length; index += 2) {
            this.firstEvents += 1
            this.lastFirstAt = Math.max(this.lastFirstAt, firsts[index + 1] as number)
          }
        } else this.summaries.get(worker)?.(message)
      })
    }
  }

  /** Forks enough processes for `watchers` watchers. */
  static start(watchers: number, onDelivery: (opId: number, channel: WatchChannel, at: number) => void): WatcherPool {
    const count = Math.max(1, Math.ceil(watchers / watchersPerWorker()))
    const workers = Array.from({ length: count }, () =>
      fork(workerScript, [], {
        execPath: nodeBinary,
        execArgv: ["--max-old-space-size=4096"],
        serialization: "advanced",
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    )
    return new WatcherPool(workers, onDelivery)
  }

  get processes(): number {
    return this.workers.length
  }

  /** Starts `specs` (spread round-robin over the processes), `openRate` watchers per second in all. */
  open(
    orderIds: ReadonlyArray<string>,
    specs: ReadonlyArray<WatchSpec>,
    target: WatchTarget,
    options: {
      readonly streamsPerChannel: number
      readonly openRate: number
      readonly authorization?: string | undefined
    },
  ): void {
    this.total += specs.length
    this.workers.forEach((worker, index) => {
      const mine = specs.filter((_, at) => at % this.workers.length === index)
      const message: OpenMessage = {
        t: "open",
        orderIds,
        orders: mine.map((spec) => spec.order),
        channels: mine.map((spec) => spec.channel),
        targets: mine.map((spec) => spec.target),
        watchAddresses: target.watchAddresses,
        requestorUrls: target.requestorUrls,
        streamsPerChannel: options.streamsPerChannel,
        openRate: Math.max(1, options.openRate / this.workers.length),
        authorization: options.authorization,
      }
      worker.send(message)
    })
  }

  stats(): WorkerStats {
    return [...this.latest.values()].reduce(addStats, noStats)
  }

  private closing: Promise<WatchResult> | undefined

  /** Closes every watcher and returns what the processes saw; the processes exit. Once. */
  close(): Promise<WatchResult> {
    this.closing ??= this.closeAll()
    return this.closing
  }

  private async closeAll(): Promise<WatchResult> {
    const summaries = await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<SummaryMessage | undefined>((resolve) => {
            if (worker.exitCode !== null || !worker.connected) return resolve(undefined)
            const timer = setTimeout(() => {
              worker.kill("SIGKILL")
              resolve(undefined)
            }, 60_000)
            this.summaries.set(worker, (summary) => {
              clearTimeout(timer)
              resolve(summary)
            })
            worker.once("exit", () => {
              clearTimeout(timer)
              resolve(undefined)
            })
            worker.send({ t: "close" })
          }),
      ),
    )
    const integrity: Array<ChannelIntegrity> = [0, 1].map(() => ({ duplicates: 0, regressions: 0, gaps: 0 }))
    const errors: Record<string, number> = {}
    let stats = noStats
    for (const summary of summaries) {
      if (summary === undefined) {
        errors["watcher process lost"] = (errors["watcher process lost"] ?? 0) + 1
        continue
      }
      summary.integrity.forEach((check, channel) => {
        const sum = integrity[channel] as ChannelIntegrity
        sum.duplicates += check.duplicates
        sum.regressions += check.regressions
        sum.gaps += check.gaps
      })
      for (const [label, count] of Object.entries(summary.errors)) errors[label] = (errors[label] ?? 0) + count
      stats = addStats(stats, summary.stats)
    }
    return { integrity, errors, stats }
  }
}
