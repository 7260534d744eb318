/**
 * The sending half of the load generator: proposal submissions over undici keep-alive pools,
 * closed loop (a fixed number in flight, each sent when the previous answered) or open loop (a
 * fixed offered rate: each send is scheduled by the clock and its latency counted from when it
 * was due, so a slow server cannot hide its latency by slowing the sender down — no coordinated
 * omission). Every submission goes into the `Ledger`; each phase gets its own HTTP figures.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Pool } from "undici"
import { type Ledger, Outcomes } from "./ledger.ts"
import { nowMs } from "./ops.ts"
import { progress } from "./report.ts"
import { Counter, Samples, type Summary } from "./stats.ts"
import type { Submission } from "./workload.ts"

/** The status label of an open-loop send skipped because `maxInFlight` were outstanding. */
export const notSentLabel = "not sent (generator limit)"

export interface HttpAnswer {
  readonly status: number
  /** `201`, `503+Retry-After`, `timeout`, `error ECONNRESET`, ... */
  readonly label: string
}

/** Keep-alive pools, one per base URL; requests go round-robin over them. */
export class HttpClient {
  private readonly pools: Array<Pool>
  private readonly timeoutMs: number
  private next = 0

  constructor(baseUrls: ReadonlyArray<string>, connections: number, timeoutMs = 30_000) {
    this.timeoutMs = timeoutMs
    this.pools = baseUrls.map(
      (url) =>
        new Pool(url, {
          connections: Math.max(1, Math.ceil(connections / baseUrls.length)),
          pipelining: 1,
          keepAliveTimeout: 60_000,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        }),
    )
  }

  /** One JSON request, with `authorization` when given; never throws (failures become a label). */
  async send(method: "POST" | "PUT", path: string, body: string, authorization?: string): Promise<HttpAnswer> {
    const pool = this.pools[this.next] as Pool
    this.next = (this.next + 1) % this.pools.length
    try {
      const response = await pool.request({
        method,
        path,
        headers:
          authorization === undefined
            ? { "content-type": "application/json" }
            : { "content-type": "application/json", authorization },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      await response.body.text()
      const retryAfter = response.statusCode >= 400 && response.headers["retry-after"] !== undefined
      return {
        status: response.statusCode,
        label: `${response.statusCode}${retryAfter ? "+Retry-After" : ""}`,
      }
    } catch (error) {
      // AbortSignal.timeout rejects with a DOMException named TimeoutError (numeric `code` 23).
      const name = error instanceof Error ? error.name : ""
      const code = (error as { code?: unknown }).code
      const label = typeof code === "string" ? code : name
      const timeout = /TIMEOUT|TimeoutError|AbortError/i.test(`${label} ${name}`)
      return { status: 0, label: timeout ? "timeout" : `error ${label}` }
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.pools.map((pool) => pool.close()))
  }
}

/** The HTTP side of one phase. */
export class PhaseRecord {
  readonly statuses = new Counter()
  readonly latency = new Samples()
  /** For windows over time: when each submission was due, its latency, and whether it was accepted. */
  readonly due: Array<number> = []
  readonly took: Array<number> = []
  readonly ok: Array<boolean> = []
  /** HTTP status of each answer (0: no answer). */
  readonly status: Array<number> = []
  sent = 0
  answered = 0
  accepted = 0
  /** Open loop: sends skipped because `maxInFlight` were outstanding (the generator's own limit), and when they were due. */
  skipped = 0
  readonly skippedDue: Array<number> = []
  startedAt = 0
  /** When the last answer came (closed loop) or the last send was due (open loop). */
  endedAt = 0
  /**
   * The generator's own event-loop delay during the phase (ms): when it is high, the generator
   * (sharing the machine) was late too, and the latencies include that.
   */
  loopDelay = { p99: 0, max: 0 }
  /** Resolves when every submission of the phase was answered. */
  settled: Promise<void> = Promise.resolve()

  readonly index: number
  readonly name: string

  constructor(index: number, name: string) {
    this.index = index
    this.name = name
  }

  /** Accepted submissions per second over the phase. */
  get throughput(): number {
    const seconds = (this.endedAt - this.startedAt) / 1000
    return seconds > 0 ? this.accepted / seconds : 0
  }

  summary(): Summary | undefined {
    return this.latency.summary()
  }

  record(dueAt: number, answer: HttpAnswer, at: number) {
    this.answered += 1
    this.statuses.add(answer.label)
    const ok = answer.status >= 200 && answer.status < 300
    if (ok) this.accepted += 1
    this.latency.push(at - dueAt)
    this.due.push(dueAt)
    this.took.push(at - dueAt)
    this.ok.push(ok)
    this.status.push(answer.status)
  }
}

export interface LoadContext {
  readonly http: HttpClient
  /** The bearer token of a seller (its own proposals), when the services authenticate. */
  readonly sellerAuthorization: (sellerId: string) => string | undefined
  readonly ledger: Ledger
  readonly next: () => Submission
  /** Open-loop submissions outstanding, across phases (bounded by each phase's `maxInFlight`). */
  readonly inFlight: { count: number }
  /** Prefix of the progress lines. */
  readonly label: string
  readonly progressMs: number
}

/** Sends one submission of `phase`, due at `dueAt`; books it and its answer. */
const submitOne = async (context: LoadContext, phase: PhaseRecord, submission: Submission, dueAt: number) => {
  const opId = context.ledger.add(submission.order, phase.index, dueAt)
  phase.sent += 1
  const answer = await context.http.send(
    "POST",
    "/api/v1/proposal-submissions",
    submission.body(opId),
    context.sellerAuthorization(submission.seller),
  )
  const at = nowMs()
  submission.release()
  context.ledger.settle(
    opId,
    answer.status >= 200 && answer.status < 300
      ? Outcomes.accepted
      : answer.status === 0
        ? Outcomes.unknown
        : Outcomes.refused,
  )
  phase.record(dueAt, answer, at)
}

const phaseTicker = (context: LoadContext, phase: PhaseRecord, inFlight: () => number) => {
  let lastAccepted = 0
  let lastAt = nowMs()
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const timer = setInterval(() => {
    const now = nowMs()
    const rate = ((phase.accepted - lastAccepted) / (now - lastAt)) * 1000
    lastAccepted = phase.accepted
    lastAt = now
    progress(
      `${context.label} ${phase.name}: sent ${phase.sent}, accepted ${phase.accepted} (${rate.toFixed(0)}/s), ` +
        `in flight ${inFlight()}, deliveries owed ${context.ledger.outstanding}`,
    )
  }, context.progressMs)
  return () => {
    clearInterval(timer)
    loop.disable()
    phase.loopDelay = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }
  }
}

/** `concurrency` submissions in flight for `durationMs`. */
export const closedLoop = async (
  context: LoadContext,
  phase: PhaseRecord,
  concurrency: number,
  durationMs: number,
): Promise<PhaseRecord> => {
  phase.startedAt = nowMs()
  const until = phase.startedAt + durationMs
  let inFlight = 0
  const stop = phaseTicker(context, phase, () => inFlight)
  const worker = async () => {
    while (nowMs() < until) {
      inFlight += 1
      await submitOne(context, phase, context.next(), nowMs())
      inFlight -= 1
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  phase.endedAt = nowMs()
  stop()
  return phase
}

/**
 * `rate` submissions per second, due by the clock, for `durationMs`; then waits for the answers,
 * unless `awaitAnswers` is false: then it returns when the last send was due and `phase.settled`
 * resolves with the answers (the next phase starts on time, as the clients of a real load would).
 * At most `maxInFlight` submissions are outstanding across all phases of the context.
 */
export const openLoop = async (
  context: LoadContext,
  phase: PhaseRecord,
  rate: number,
  durationMs: number,
  maxInFlight: number,
  awaitAnswers = true,
): Promise<PhaseRecord> => {
  phase.startedAt = nowMs()
  const total = Math.max(1, Math.round((rate * durationMs) / 1000))
  const interval = 1000 / rate
  const pending = new Set<Promise<void>>()
  const { inFlight } = context
  const stop = phaseTicker(context, phase, () => inFlight.count)
  let index = 0
  while (index < total) {
    const due = Math.min(total, Math.floor((nowMs() - phase.startedAt) / interval) + 1)
    for (; index < due; index += 1) {
      const dueAt = phase.startedAt + index * interval
      if (inFlight.count >= maxInFlight) {
        phase.skipped += 1
        phase.skippedDue.push(dueAt)
        phase.statuses.add(notSentLabel)
        continue
      }
      inFlight.count += 1
      const sending = submitOne(context, phase, context.next(), dueAt).finally(() => {
        inFlight.count -= 1
        pending.delete(sending)
      })
      pending.add(sending)
    }
    const wait = phase.startedAt + index * interval - nowMs()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    else await new Promise((resolve) => setImmediate(resolve))
  }
  phase.endedAt = phase.startedAt + durationMs
  phase.settled = Promise.all(pending).then(() => {})
  if (awaitAnswers) await phase.settled
  stop()
  return phase
}

/** One submission per listed order (a burst), `concurrency` at a time, as fast as answered, until `deadlineMs`. */
export const burst = async (
  context: LoadContext,
  phase: PhaseRecord,
  submissions: ReadonlyArray<() => Submission>,
  concurrency: number,
  deadlineMs = Number.POSITIVE_INFINITY,
): Promise<PhaseRecord> => {
  phase.startedAt = nowMs()
  const until = phase.startedAt + deadlineMs
  let inFlight = 0
  let next = 0
  const stop = phaseTicker(context, phase, () => inFlight)
  const worker = async () => {
    while (next < submissions.length && nowMs() < until) {
      const make = submissions[next] as () => Submission
      next += 1
      inFlight += 1
      await submitOne(context, phase, make(), nowMs())
      inFlight -= 1
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, submissions.length) }, worker))
  // Past the deadline: the rest are not sent (a slow system must not stretch the run without bound).
  phase.skipped = submissions.length - next
  if (phase.skipped > 0) phase.statuses.add(notSentLabel, phase.skipped)
  phase.endedAt = nowMs()
  stop()
  return phase
}
