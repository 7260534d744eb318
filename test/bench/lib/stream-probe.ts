/**
 * Stream opens under load: `rate` times a second, a new `WatchOrder` call on one of the live
 * orders; each counts as served (its first event arrived), refused (the gRPC status, e.g.
 * RESOURCE_EXHAUSTED) or timed out, then is closed. Shows what admission control does to new
 * streams while the write path is overloaded.
 */
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { ClientError, createChannel, createClient, Status } from "nice-grpc"
import { Counter, Samples } from "./stats.ts"

export interface StreamProbe {
  /** Outcomes by label (`served`, `RESOURCE_EXHAUSTED`, `timeout`, ...). */
  readonly outcomes: Counter
  /** Time from the call to its first event, for served calls (ms). */
  readonly firstEvent: Samples
  /** Stops opening new calls and waits for the open ones. */
  readonly stop: () => Promise<void>
}

export const startStreamProbe = (
  address: string,
  orderIds: ReadonlyArray<string>,
  rate: number,
  timeoutMs = 10_000,
): StreamProbe => {
  const outcomes = new Counter()
  const firstEvent = new Samples()
  const channel = createChannel(address)
  const client = createClient(OrderWatchServiceDefinition, channel)
  const running = new Set<Promise<void>>()
  const once = async () => {
    const orderReqId = orderIds[Math.floor(Math.random() * orderIds.length)] as string
    const started = performance.now()
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    try {
      for await (const _ of client.watchOrder({ orderReqId, fromSeq: 0 }, { signal: controller.signal })) {
        firstEvent.push(performance.now() - started)
        outcomes.add("served")
        return
      }
      outcomes.add("ended without an event")
    } catch (error) {
      if (controller.signal.aborted) outcomes.add("timeout")
      else outcomes.add(error instanceof ClientError ? (Status[error.code] ?? String(error.code)) : "error")
    } finally {
      clearTimeout(timer)
      controller.abort()
    }
  }
  const timer = setInterval(() => {
    const call = once().finally(() => running.delete(call))
    running.add(call)
  }, 1000 / rate)
  return {
    outcomes,
    firstEvent,
    stop: async () => {
      clearInterval(timer)
      await Promise.allSettled([...running])
      channel.close()
    },
  }
}
