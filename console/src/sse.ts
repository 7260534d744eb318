/**
 * An order's events over SSE, read with `fetch` (EventSource cannot send `Authorization`), parsed
 * by `eventsource-parser`. After a drop (network error, the browser going offline, or no byte,
 * not even a heartbeat comment, for `silenceMs`) it reconnects with `Last-Event-ID` = the last
 * seq received, so nothing is missed; an event at or below that seq is dropped and counted.
 */
import { createParser } from "eventsource-parser"
import { authHeaders, type Json } from "./api.ts"
import type { Session } from "./session.ts"

export type StreamState = "connecting" | "live" | "reconnecting" | "ended" | "refused"

export interface OrderStreamHandlers {
  readonly onEvent: (event: Json) => void
  readonly onState: (state: StreamState, detail?: string) => void
}

export interface OrderStream {
  readonly close: () => void
  readonly lastSeq: () => number
  readonly duplicates: () => number
}

export const watchOrderEvents = (
  session: Session | undefined,
  orderReqId: string,
  handlers: OrderStreamHandlers,
  { silenceMs = 40_000, fromSeq = 0 } = {},
): OrderStream => {
  let lastSeq = fromSeq
  let duplicates = 0
  let closed = false
  let current: AbortController | undefined
  let attempt = 0
  let wake: (() => void) | undefined

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })

  const onOffline = () => current?.abort(new Error("offline"))
  const onOnline = () => wake?.()
  addEventListener("offline", onOffline)
  addEventListener("online", onOnline)

  const once = async (): Promise<"ended" | "dropped" | "refused"> => {
    const controller = new AbortController()
    current = controller
    let silence: ReturnType<typeof setTimeout> | undefined
    const heard = () => {
      clearTimeout(silence)
      silence = setTimeout(() => controller.abort(new Error("silent")), silenceMs)
    }
    try {
      heard()
      const response = await fetch(`/api/v1/orders/${encodeURIComponent(orderReqId)}/events`, {
        headers: {
          accept: "text/event-stream",
          ...authHeaders(session),
          ...(lastSeq > 0 ? { "last-event-id": String(lastSeq) } : {}),
        },
        signal: controller.signal,
        cache: "no-store",
      })
      if (response.status === 204) return "ended"
      if (!response.ok || response.body === null) {
        const text = await response.text().catch(() => "")
        let message = `${response.status}`
        try {
          const error = JSON.parse(text).error
          message = `${response.status} ${error.code}: ${error.message}`
        } catch {}
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          handlers.onState("refused", message)
          return "refused"
        }
        throw new Error(message)
      }
      attempt = 0
      handlers.onState("live")
      let finalised = false
      const parser = createParser({
        onComment: heard,
        onEvent: (message) => {
          heard()
          const seq = Number(message.id)
          if (Number.isFinite(seq) && seq <= lastSeq) {
            duplicates++
            return
          }
          if (Number.isFinite(seq)) lastSeq = seq
          let event: Json
          try {
            event = JSON.parse(message.data)
          } catch {
            event = { Seq: seq, Status: message.event, Message: message.data }
          }
          if (event.Status === "OrderFinalised") finalised = true
          handlers.onEvent(event)
        },
      })
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        heard()
        parser.feed(value)
      }
      return finalised ? "ended" : "dropped"
    } catch {
      return "dropped"
    } finally {
      clearTimeout(silence)
    }
  }

  void (async () => {
    handlers.onState("connecting")
    while (!closed) {
      const outcome = await once()
      if (closed) return
      if (outcome === "ended") {
        handlers.onState("ended")
        return
      }
      if (outcome === "refused") return
      handlers.onState("reconnecting", navigator.onLine ? undefined : "offline")
      attempt++
      // Offline: wait for the `online` event (or 5 s); otherwise back off 0.5 s → 5 s.
      await pause(navigator.onLine ? Math.min(500 * 2 ** (attempt - 1), 5_000) : 5_000)
    }
  })()

  return {
    close: () => {
      closed = true
      removeEventListener("offline", onOffline)
      removeEventListener("online", onOnline)
      current?.abort()
      wake?.()
    },
    lastSeq: () => lastSeq,
    duplicates: () => duplicates,
  }
}
