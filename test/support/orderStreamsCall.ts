/**
 * A client of `ProcessOrderStreams` for tests: one multiplexed call whose commands (`open`,
 * `close`) the test sends as it goes, and whose every answer is kept in arrival order.
 */
import {
  OrderStreamingServiceDefinition,
  type OrderStreamsRequest,
  type OrderStreamsResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { eventStatusFromProto } from "@dcent/shared/orders/events"
import { type Channel, createClient } from "nice-grpc"

/** One multiplexed call: send commands, collect every answer. */
export const openOrderStreamsCall = (channel: Channel) => {
  const client = createClient(OrderStreamingServiceDefinition, channel)
  const abort = new AbortController()
  const pending: Array<OrderStreamsRequest> = []
  let wake: (() => void) | undefined
  let closed = false
  const commands: AsyncIterable<OrderStreamsRequest> = {
    async *[Symbol.asyncIterator]() {
      while (!closed) {
        const next = pending.shift()
        if (next !== undefined) {
          yield next
          continue
        }
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
    },
  }
  const responses: Array<OrderStreamsResponse> = []
  const listeners = new Set<() => void>()
  const done = (async () => {
    for await (const response of client.processOrderStreams(commands, { signal: abort.signal })) {
      responses.push(response)
      for (const listener of listeners) listener()
    }
  })()
  done.catch(() => {})
  const send = (command: Partial<OrderStreamsRequest>) => {
    pending.push({ open: undefined, close: undefined, traceContext: {}, ...command })
    wake?.()
  }
  const waitFor = (check: () => boolean, what: string, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      const test = () => {
        if (!check()) return
        clearTimeout(timer)
        listeners.delete(test)
        resolve()
      }
      const timer = setTimeout(() => {
        listeners.delete(test)
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(summary())}`))
      }, timeoutMs)
      listeners.add(test)
      test()
    })
  /** Each answer as `opened:<id>`, `refused:<id>:<code>` or `<id>:<seq>:<status>`. */
  const summary = () =>
    responses.map((response) => {
      if (response.opened !== undefined) return `opened:${response.opened.orderReqId}`
      if (response.refused !== undefined) return `refused:${response.refused.orderReqId}:${response.refused.errorCode}`
      const event = response.event!
      return `${event.orderReqId}:${event.seq}:${eventStatusFromProto(event.streamingResponseStatus)}`
    })
  const eventsOf = (id: string) =>
    responses.flatMap((response) => (response.event?.orderReqId === id ? [response.event] : []))
  return {
    responses,
    send,
    waitFor,
    summary,
    eventsOf,
    cancel: () => {
      closed = true
      wake?.()
      abort.abort()
    },
  }
}
