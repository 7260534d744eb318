/**
 * The body of one SSE response (`GET /api/v1/orders/{id}/events`) as a plain async iterator over
 * the order's watch: no fiber or Effect stream of its own per open response (10,000 are held by
 * one requestor), served as a raw Node stream (`sseEndpoint.ts`).
 *
 *   retry + comment line ─▶ one message per event (`id` = seq) ─▶ ends after `OrderFinalised`
 *   every `heartbeatMs` without an event: `: keep-alive`
 *   shutdown (drain) ─▶ `event: reconnect` with the last seq, then the end
 *   the log failing (Redis) ─▶ `: error`, then the end (the client resumes with Last-Event-ID)
 */
import { type DisconnectReason, DisconnectReasons } from "@dcent/shared/metrics/catalogue"
import type { StreamTracker } from "@dcent/shared/metrics/streams"
import { eventBodyOf, type OrderEventRecord } from "@dcent/shared/orders/events"
import type { Watch, WatchNext } from "./OrderEvents.ts"

/** The event as SSE `data:` (PascalCase, like the REST bodies). */
export const eventJson = (record: OrderEventRecord) => ({ OrderReqID: record.orderReqId, ...eventBodyOf(record) })

/** Each event's message, made once however many responses send it (records are shared across watches). */
const messages = new WeakMap<OrderEventRecord, string>()

/** One SSE message: `id` = seq, `event` = status, `data` = the event (JSON has no raw newlines). */
export const sseMessage = (record: OrderEventRecord): string => {
  let message = messages.get(record)
  if (message === undefined) {
    message = `id: ${record.seq}\nevent: ${record.status}\ndata: ${JSON.stringify(eventJson(record))}\n\n`
    messages.set(record, message)
  }
  return message
}

/**
 * Sent when the service shuts down (drain) before `OrderFinalised`: reconnect (the load balancer
 * picks another replica) after `retry` ms with `Last-Event-ID` = the last seq; EventSource does
 * that by itself once the response ends. `data` says the same for other clients.
 */
export const sseReconnect = (lastSeq: number): string =>
  `event: reconnect\nretry: 1000\ndata: ${JSON.stringify({
    Reason: "shutting_down",
    Message: "this replica is shutting down; reconnect with Last-Event-ID to resume",
    LastSeq: lastSeq,
  })}\n\n`

export interface SseBodyOptions {
  readonly orderReqId: string
  readonly fromSeq: number
  readonly heartbeatMs: number
  /** One SSE message of an event. */
  readonly message: (record: OrderEventRecord) => string
  /** The `event: reconnect` message after `lastSeq`. */
  readonly reconnect: (lastSeq: number) => string
  /** Counts the open response and how it ended. */
  readonly streams: StreamTracker
  /** Observes each event's delivery (its age). */
  readonly delivered: (record: OrderEventRecord) => void
  /** The log failed mid-way. */
  readonly onFailure: (message: string) => void
}

const finished: IteratorResult<string, void> = { done: true, value: undefined }
const chunk = (value: string): IteratorResult<string, void> => ({ done: false, value })

/**
 * A plain iterator over the watch, not an `async function*`: its `return` (the client went away)
 * closes the watch at once, where a generator suspended in an `await` would only run its `finally`
 * at the next event or heartbeat; and it holds no suspended frame per open response. One reader at
 * a time, as the response's writer is.
 */
export class SseBody implements AsyncIterableIterator<string, void, undefined> {
  private started = false
  private ended = false
  /** The chunk just returned was the last one (reconnect / error): the next `next` ends. */
  private last = false
  private lastSeq: number
  private reason: DisconnectReason = DisconnectReasons.ClientClosed
  /** The watch's answer being awaited; kept across heartbeats, as each answer must be read once. */
  private pending: Promise<WatchNext> | undefined
  /** An answer that came while no `next` was waiting. */
  private ready: WatchNext | undefined
  private waiter: ((result: IteratorResult<string, void>) => void) | undefined
  private rejectWaiter: ((error: unknown) => void) | undefined
  /** The watch's answer rejected while no `next` was waiting. */
  private error: { readonly cause: unknown } | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly watch: Watch
  private readonly options: SseBodyOptions

  constructor(watch: Watch, options: SseBodyOptions) {
    this.watch = watch
    this.options = options
    this.lastSeq = options.fromSeq
  }

  [Symbol.asyncIterator]() {
    return this
  }

  next(): Promise<IteratorResult<string, void>> {
    const error = this.error
    if (error !== undefined) {
      this.error = undefined
      this.end()
      return Promise.reject(error.cause)
    }
    if (this.ended) return Promise.resolve(finished)
    if (this.last) return Promise.resolve(this.end())
    if (!this.started) {
      this.started = true
      this.options.streams.opened()
      return Promise.resolve(chunk(`retry: 2000\n: ${this.options.orderReqId} after seq ${this.options.fromSeq}\n\n`))
    }
    const ready = this.ready
    if (ready !== undefined) {
      this.ready = undefined
      return Promise.resolve(this.answer(ready))
    }
    if (this.pending === undefined) {
      this.pending = this.watch.next()
      this.pending.then(this.arrived, this.failed)
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve
      this.rejectWaiter = reject
      // One timer per response, restarted for every wait: a heartbeat after `heartbeatMs` of silence.
      if (this.timer === undefined) this.timer = setTimeout(this.beat, this.options.heartbeatMs)
      else this.timer.refresh()
    })
  }

  return(): Promise<IteratorResult<string, void>> {
    return Promise.resolve(this.end())
  }

  throw(error: unknown): Promise<IteratorResult<string, void>> {
    this.end()
    return Promise.reject(error)
  }

  private readonly beat = () => {
    const waiter = this.waiter
    if (waiter === undefined) return
    this.waiter = undefined
    this.rejectWaiter = undefined
    waiter(chunk(": keep-alive\n\n"))
  }

  private readonly arrived = (next: WatchNext) => {
    this.pending = undefined
    if (this.ended) return
    const waiter = this.waiter
    if (waiter === undefined) {
      this.ready = next
      return
    }
    this.waiter = undefined
    this.rejectWaiter = undefined
    waiter(this.answer(next))
  }

  // `Watch.next` answers the log's failures as `Failed`; a rejection is a defect: the body fails
  // (the response is cut off) and ends.
  private readonly failed = (cause: unknown) => {
    this.pending = undefined
    if (this.ended) return
    this.reason = DisconnectReasons.Error
    const reject = this.rejectWaiter
    if (reject === undefined) {
      this.error = { cause }
      return
    }
    this.waiter = undefined
    this.rejectWaiter = undefined
    this.end()
    reject(cause)
  }

  private answer(next: WatchNext): IteratorResult<string, void> {
    switch (next._tag) {
      case "Events": {
        let text = ""
        for (const record of next.records) {
          this.options.delivered(record)
          this.lastSeq = record.seq
          text += this.options.message(record)
        }
        return chunk(text)
      }
      case "End":
        this.reason = DisconnectReasons.Completed
        return this.end()
      case "Shutdown":
        this.reason = DisconnectReasons.Shutdown
        this.last = true
        return chunk(this.options.reconnect(this.lastSeq))
      case "Failed":
        this.reason = DisconnectReasons.Error
        this.last = true
        this.options.onFailure(next.error.message)
        return chunk(": error\n\n")
    }
  }

  private end(): IteratorResult<string, void> {
    if (this.ended) return finished
    this.ended = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.watch.close()
    const waiter = this.waiter
    this.waiter = undefined
    this.rejectWaiter = undefined
    waiter?.(finished)
    // A body returned before its first chunk never counted as open.
    if (this.started) this.options.streams.closed(this.reason)
    return finished
  }
}
