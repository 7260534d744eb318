/**
 * One target under the generator, from live orders to delivery checks: sellers registered,
 * orders initiated, watchers holding `WatchOrder` / SSE streams on them, topics tailed, then the
 * phases a scenario runs (closed loop, open loop, bursts), a drain until every accepted
 * submission's event has reached every watcher and topic (bounded), and the checks.
 */
import { randomUUID } from "node:crypto"
import { type BenchCredentials, benchCredentials, noCredentials } from "./credentials.ts"
import { burst, closedLoop, HttpClient, type LoadContext, openLoop, PhaseRecord } from "./generator.ts"
import { Ledger } from "./ledger.ts"
import { Channels, nowMs, type WatchChannel } from "./ops.ts"
import { buyerOf, initiateOrders, type OpenedOrders, registerSellers, sellerIds } from "./orders.ts"
import { type ChannelCheck, progress } from "./report.ts"
import type { Summary } from "./stats.ts"
import type { Target } from "./targets.ts"
import { TopicTail } from "./topic-tail.ts"
import { WatcherPool, type WatchResult, type WatchSpec } from "./watchers.ts"
import { type Submission, Workload } from "./workload.ts"

export interface SessionOptions {
  readonly target: Target
  readonly orders: number
  /** Watchers per order on each channel (0 = unwatched). */
  readonly grpcPerOrder: (order: number) => number
  readonly ssePerOrder: (order: number) => number
  readonly sellers: number
  /** Tail the target's topics. */
  readonly topics: boolean
  readonly updateShare: number
  /** Keep-alive connections for submissions (all processors together). */
  readonly connections: number
  /** Initiates in flight while opening the orders. */
  readonly openConcurrency: number
  readonly httpTimeoutMs: number
  readonly progressMs: number
  /** Bound on initiating the orders, and then on waiting for every watcher's first event. */
  readonly watchTimeoutMs: number
  readonly watchOpenRate: number
  readonly streamsPerChannel: number
}

/** `BENCH-1a2b3c4d`: the prefix of every id of one session (orders are `<prefix>-O<n>`). */
const newRunId = () => `BENCH-${randomUUID().replaceAll("-", "").slice(0, 8)}`

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class Session {
  readonly runId = newRunId()
  readonly orderIds: ReadonlyArray<string>
  readonly ledger: Ledger
  readonly phases: Array<PhaseRecord> = []
  readonly submitHttp: HttpClient
  readonly requestorHttp: HttpClient
  private readonly tails: Array<TopicTail> = []
  private pool: WatcherPool | undefined
  private workload: Workload | undefined
  private credentials: BenchCredentials = noCredentials
  /** Orders whose SellersSelected reached the first topic (BUYER_NOTIFY), and when the last did. */
  readonly liveOnTopic = new Set<string>()
  lastLiveOnTopicAt = 0
  opened: OpenedOrders | undefined
  /** When the first initiate was sent (epoch ms). */
  openStartedAt = 0
  /** From the first initiate until every watcher had its first event (seconds), when they all did. */
  openSeconds: number | undefined
  watchers = 0
  private watchResult: WatchResult | undefined
  /** Open-loop submissions outstanding across phases. */
  private readonly inFlight = { count: 0 }

  readonly options: SessionOptions

  constructor(options: SessionOptions) {
    this.options = options
    this.orderIds = Array.from({ length: options.orders }, (_, index) => `${this.runId}-O${index}`)
    const topics = options.topics ? options.target.topics : []
    this.ledger = new Ledger(["WatchOrder", "SSE", ...topics], (channel, order) =>
      channel === Channels.grpc || channel === Channels.sse ? this.watchersOf(order, channel) : 1,
    )
    this.submitHttp = new HttpClient(options.target.processorUrls, options.connections, options.httpTimeoutMs)
    this.requestorHttp = new HttpClient(
      options.target.requestorUrls,
      Math.max(options.openConcurrency, 8),
      options.httpTimeoutMs,
    )
  }

  get label(): string {
    return this.options.target.name
  }

  /** How opening the orders went, without the per-order flags (for JSON). */
  openedSummary() {
    if (this.opened === undefined) return undefined
    const { ok: _, ...summary } = this.opened
    return summary
  }

  /** Whether `order` was initiated. */
  isLive(order: number): boolean {
    return this.opened?.ok[order] === 1
  }

  /** Watchers of `order` on `channel` (none for an order that could not be initiated). */
  watchersOf(order: number, channel: WatchChannel): number {
    if (!this.isLive(order)) return 0
    return channel === Channels.grpc ? this.options.grpcPerOrder(order) : this.options.ssePerOrder(order)
  }

  /** The orders that were initiated, by index. */
  liveOrders(): Array<number> {
    return this.orderIds.map((_, order) => order).filter((order) => this.isLive(order))
  }

  /** Sellers, topic tails, orders, watchers; waits (bounded) until every watcher saw its first event. */
  async open(): Promise<void> {
    await this.openOrders(false)
  }

  /** Sellers, topic tails and orders; then the watchers unless `withoutWatchers`. */
  async openOrders(withoutWatchers = true): Promise<void> {
    const { options } = this
    this.credentials = await benchCredentials(buyerOf(this.runId), sellerIds(this.runId, options.sellers))
    const sellers = await registerSellers(this.submitHttp, this.runId, options.sellers, this.credentials.operator)
    const started = performance.now()
    this.openStartedAt = nowMs()
    this.workload = new Workload(this.orderIds, sellers, options.updateShare)
    this.startTails(nowMs() - 2_000)
    // The load starts only once every tail reads its topic live (else its first messages may be missed).
    const live = await Promise.all(this.tails.map((tail) => tail.live(15_000)))
    live.forEach((ok, index) => {
      if (!ok) progress(`${this.label}: the tail of ${this.tails[index]?.topic} is not reading live after 15 s`)
    })
    this.opened = await initiateOrders(this.requestorHttp, this.runId, this.orderIds, {
      concurrency: options.openConcurrency,
      label: `${this.label} opening orders`,
      progressMs: options.progressMs,
      deadlineMs: options.watchTimeoutMs,
      authorization: this.credentials.buyer,
    })
    progress(
      `${this.label}: ${this.opened.initiated}/${this.orderIds.length} orders initiated in ${this.opened.seconds.toFixed(1)} s`,
    )
    if (!withoutWatchers) await this.openWatchers(started)
  }

  /** The watchers (after `openOrders`); `started` is when opening began (`performance.now()`). */
  async openWatchers(started = performance.now()): Promise<void> {
    const { options } = this
    const specs = this.watchSpecs()
    this.watchers = specs.length
    if (specs.length === 0) return
    this.pool = WatcherPool.start(specs.length, (opId, channel, at) => this.ledger.deliver(opId, channel, at))
    this.pool.open(this.orderIds, specs, options.target, {
      streamsPerChannel: options.streamsPerChannel,
      openRate: options.watchOpenRate,
      authorization: this.credentials.buyer,
    })
    const pool = this.pool
    const reached = await this.waitUntil(
      () => pool.firstEvents >= specs.length,
      options.watchTimeoutMs,
      () => {
        const stats = pool.stats()
        return `${this.label} watchers: started ${stats.started}/${specs.length}, first event ${pool.firstEvents}, connected ${stats.connected}, reconnects ${stats.reconnects}`
      },
    )
    if (reached) this.openSeconds = (pool.lastFirstAt - (performance.timeOrigin + started)) / 1000
    progress(
      `${this.label}: ${pool.firstEvents}/${specs.length} watchers (${pool.processes} processes) had their first event`,
    )
  }

  private watchSpecs(): Array<WatchSpec> {
    const { options } = this
    const requestors = options.target.watchAddresses.length
    const specs: Array<WatchSpec> = []
    for (let order = 0; order < this.orderIds.length; order += 1) {
      for (let k = 0; k < this.watchersOf(order, Channels.grpc); k += 1)
        specs.push({ order, channel: Channels.grpc, target: (order + k) % requestors })
      for (let k = 0; k < this.watchersOf(order, Channels.sse); k += 1)
        specs.push({ order, channel: Channels.sse, target: (order + k + 1) % requestors })
    }
    return specs
  }

  private startTails(sinceMs: number) {
    if (!this.options.topics) return
    const prefix = `${this.runId}-`
    this.options.target.topics.forEach((topic, index) => {
      const tail = TopicTail.start(
        topic,
        sinceMs,
        (key) => key.startsWith(prefix),
        (opId, at) => this.ledger.deliver(opId, 2 + index, at),
        (key, status, at) => {
          if (index === 0 && status === "SellersSelected" && !this.liveOnTopic.has(key)) {
            this.liveOnTopic.add(key)
            this.lastLiveOnTopicAt = at
          }
        },
      )
      this.tails.push(tail)
    })
  }

  /** Polls `done` until true or `timeoutMs`; progress lines from `line`. */
  async waitUntil(done: () => boolean, timeoutMs: number, line: () => string): Promise<boolean> {
    const deadline = performance.now() + timeoutMs
    let lastLine = performance.now()
    while (!done()) {
      if (performance.now() > deadline) return false
      if (performance.now() - lastLine >= this.options.progressMs) {
        progress(line())
        lastLine = performance.now()
      }
      await sleep(50)
    }
    return true
  }

  private context(): LoadContext {
    const workload = this.workload
    if (workload === undefined) throw new Error("open() the session first")
    return {
      http: this.submitHttp,
      sellerAuthorization: this.credentials.seller,
      ledger: this.ledger,
      next: () => workload.next(),
      inFlight: this.inFlight,
      label: this.label,
      progressMs: this.options.progressMs,
    }
  }

  private phase(name: string): PhaseRecord {
    const phase = new PhaseRecord(this.phases.length, name)
    this.phases.push(phase)
    return phase
  }

  closedLoop(name: string, concurrency: number, durationMs: number): Promise<PhaseRecord> {
    progress(`${this.label} ${name}: closed loop, ${concurrency} in flight, ${durationMs / 1000} s`)
    return closedLoop(this.context(), this.phase(name), concurrency, durationMs)
  }

  /** See `openLoop` in `generator.ts` (`awaitAnswers` false: returns when the last send was due). */
  openLoop(
    name: string,
    rate: number,
    durationMs: number,
    maxInFlight: number,
    awaitAnswers = true,
  ): Promise<PhaseRecord> {
    progress(`${this.label} ${name}: open loop, ${rate.toFixed(0)}/s offered, ${durationMs / 1000} s`)
    return openLoop(this.context(), this.phase(name), rate, durationMs, maxInFlight, awaitAnswers)
  }

  /** One new proposal for each of `orders` (default: every order). */
  burst(name: string, concurrency: number, deadlineMs?: number, orders?: ReadonlyArray<number>): Promise<PhaseRecord> {
    const workload = this.workload
    if (workload === undefined) throw new Error("open() the session first")
    const list = orders ?? this.liveOrders()
    progress(`${this.label} ${name}: one proposal to each of ${list.length} orders, ${concurrency} in flight`)
    const submissions = list.map((order) => (): Submission => workload.forOrder(order, "new"))
    return burst(this.context(), this.phase(name), submissions, concurrency, deadlineMs)
  }

  /** Waits until every accepted submission's event reached every watcher and topic; false on timeout. */
  drain(timeoutMs: number): Promise<boolean> {
    return this.waitUntil(
      () => this.ledger.outstanding <= 0,
      timeoutMs,
      () => `${this.label} drain: ${this.ledger.outstanding} deliveries still owed`,
    )
  }

  /** Seconds from the start of `phase` until its last delivery on `channel`, if any arrived. */
  lastDeliverySeconds(phase: PhaseRecord, channel: string): number | undefined {
    const index = this.ledger.channels.indexOf(channel)
    const at = index < 0 ? undefined : this.ledger.lastDelivery(phase.index, index)
    return at === undefined ? undefined : (at - phase.startedAt) / 1000
  }

  /** Delivery latency (ms) of `phase`'s submissions on `channel` (`WatchOrder`, `SSE`, a topic). */
  latency(phase: PhaseRecord, channel: string): Summary | undefined {
    const index = this.ledger.channels.indexOf(channel)
    return index < 0 ? undefined : this.ledger.samples(phase.index, index).summary()
  }

  get topicNames(): ReadonlyArray<string> {
    return this.ledger.channels.slice(2)
  }

  /** Watcher process statistics (reconnects, connected) so far. */
  watcherStats() {
    return this.pool?.stats()
  }

  /** Closes watchers and tails; the checks per channel (watchers' seq checks and tails' included). */
  async finish(): Promise<{ checks: Array<ChannelCheck & { target: string }>; streamErrors: Record<string, number> }> {
    this.watchResult = await this.pool?.close()
    await Promise.all(this.tails.map((tail) => tail.stop()))
    const checks: Array<ChannelCheck & { target: string }> = []
    for (const channel of [Channels.grpc, Channels.sse] as const) {
      const check = this.ledger.check(channel)
      const integrity = this.watchResult?.integrity[channel]
      const hasWatchers = this.orderIds.some((_, order) => this.watchersOf(order, channel) > 0)
      if (!hasWatchers) continue
      checks.push({
        ...check,
        target: this.label,
        duplicated: check.duplicated + (integrity?.duplicates ?? 0),
        outOfOrder: integrity?.regressions ?? 0,
        gaps: integrity?.gaps ?? 0,
      })
    }
    this.tails.forEach((tail, index) => {
      const check = this.ledger.check(2 + index)
      checks.push({
        ...check,
        target: this.label,
        duplicated: check.duplicated + tail.integrity.duplicates,
        outOfOrder: tail.integrity.regressions,
        ...(this.options.target.replicated ? { orderNotPromised: true } : {}),
      })
      if (!tail.alive && tail.errorOutput !== "") progress(`kcat ${tail.topic}: ${tail.errorOutput}`)
    })
    return { checks, streamErrors: { ...(this.watchResult?.errors ?? {}) } }
  }

  /** Closes the HTTP pools and stops the target (its processes). */
  async stop(): Promise<void> {
    await this.pool?.close().catch(() => undefined)
    await Promise.all(this.tails.map((tail) => tail.stop()))
    await this.submitHttp.close()
    await this.requestorHttp.close()
    await this.options.target.stop()
  }
}
