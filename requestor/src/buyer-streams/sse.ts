/**
 * The body of one SSE response (`GET /api/v1/orders/{id}/events`) as a plain async generator over
 * the order's watch: no fiber or Effect stream per open response (10,000 are held by one
 * requestor), served as a raw Node stream.
 *
 *   retry + comment line ─▶ one message per event (`id` = seq) ─▶ ends after `OrderFinalised`
 *   every `heartbeatMs` without an event: `: keep-alive`
 *   shutdown (drain) ─▶ `event: reconnect` with the last seq, then the end
 *   the log failing (Redis) ─▶ `: error`, then the end (the client resumes with Last-Event-ID)
 */
import { DisconnectReasons } from "@dcent/shared/metrics/catalogue"
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

const heartbeat = Symbol("heartbeat")

/** `pending`, or `heartbeat` when `ms` pass first (the timer is cleared either way). */
const orHeartbeat = (pending: Promise<WatchNext>, ms: number): Promise<WatchNext | typeof heartbeat> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const beat = new Promise<typeof heartbeat>((resolve) => {
    timer = setTimeout(() => resolve(heartbeat), ms)
  })
  return Promise.race([pending, beat]).finally(() => clearTimeout(timer))
}

export async function* sseBody(watch: Watch, options: SseBodyOptions): AsyncGenerator<string> {
  let reason: (typeof DisconnectReasons)[keyof typeof DisconnectReasons] = DisconnectReasons.ClientClosed
  let lastSeq = options.fromSeq
  options.streams.opened()
  try {
    yield `retry: 2000\n: ${options.orderReqId} after seq ${options.fromSeq}\n\n`
    let pending = watch.next()
    while (true) {
      const next = await orHeartbeat(pending, options.heartbeatMs)
      if (next === heartbeat) {
        yield ": keep-alive\n\n"
        continue
      }
      if (next._tag === "Events") {
        let chunk = ""
        for (const record of next.records) {
          options.delivered(record)
          lastSeq = record.seq
          chunk += options.message(record)
        }
        pending = watch.next()
        yield chunk
        continue
      }
      if (next._tag === "End") {
        reason = DisconnectReasons.Completed
        return
      }
      if (next._tag === "Shutdown") {
        reason = DisconnectReasons.Shutdown
        yield options.reconnect(lastSeq)
        return
      }
      reason = DisconnectReasons.Error
      options.onFailure(next.error.message)
      yield ": error\n\n"
      return
    }
  } finally {
    watch.close()
    options.streams.closed(reason)
  }
}
