/**
 * An independent stream observer of one order: a buyer app's `WatchOrder` client on the
 * requestors' public gRPC servers. When its stream breaks (the requestor died, drained, lost
 * Redis), it reconnects to the next requestor from its last seq, as a real app would.
 *
 * It de-duplicates nothing: an event whose seq is ≤ the last one seen counts as a duplicate, an
 * event that skips seqs counts as out of order (a gap), and every event is kept with the time it
 * arrived. It is done when it has seen `OrderFinalised` (the server then ends the stream).
 */
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { createChannel, createClient } from "nice-grpc"
import { type SeenEvent, seenFromProto, sleep } from "../support/e2e.ts"

export interface ObservedEvent extends SeenEvent {
  /** Epoch ms of arrival. */
  readonly receivedAtMs: number
}

export interface ObserverOptions {
  /** While it returns > 0 for the order, the client waits that long after each event (a slow consumer). */
  readonly pauseAfterEventMs?: (orderReqId: string) => number
}

export class OrderObserver {
  readonly orderReqId: string
  readonly events: Array<ObservedEvent> = []
  lastSeq = 0
  duplicates = 0
  outOfOrder = 0
  reconnects = 0
  /** Each duplicate or out-of-order arrival: which seq, after which, when (epoch ms). */
  readonly anomalies: Array<{
    readonly kind: "duplicate" | "out-of-order"
    readonly seq: number
    readonly after: number
    readonly at: number
  }> = []
  finalised = false
  lastError = ""
  private readonly controller = new AbortController()
  private readonly addresses: () => ReadonlyArray<string>
  private readonly options: ObserverOptions
  private preferred: number
  readonly done: Promise<void>

  constructor(
    orderReqId: string,
    addresses: () => ReadonlyArray<string>,
    preferred: number,
    options: ObserverOptions = {},
  ) {
    this.orderReqId = orderReqId
    this.addresses = addresses
    this.preferred = preferred
    this.options = options
    this.done = this.loop()
  }

  /** Arrival time of the event at `seq` (its first arrival), if it came. */
  receivedAt(seq: number): number | undefined {
    return this.events.find((event) => event.seq === seq)?.receivedAtMs
  }

  stop() {
    this.controller.abort()
  }

  private accept(event: SeenEvent) {
    if (event.seq <= this.lastSeq) {
      this.duplicates += 1
      this.anomalies.push({ kind: "duplicate", seq: event.seq, after: this.lastSeq, at: Date.now() })
    } else if (event.seq !== this.lastSeq + 1) {
      this.outOfOrder += 1
      this.anomalies.push({ kind: "out-of-order", seq: event.seq, after: this.lastSeq, at: Date.now() })
    }
    this.events.push({ ...event, receivedAtMs: Date.now() })
    this.lastSeq = Math.max(this.lastSeq, event.seq)
    if (event.status === "OrderFinalised") this.finalised = true
  }

  private async loop() {
    const signal = this.controller.signal
    let failures = 0
    while (!this.finalised && !signal.aborted) {
      const addresses = this.addresses()
      const address = addresses[this.preferred % addresses.length] as string
      const channel = createChannel(address)
      const client = createClient(OrderWatchServiceDefinition, channel)
      let progressed = false
      try {
        for await (const response of client.watchOrder(
          { orderReqId: this.orderReqId, fromSeq: this.lastSeq },
          { signal },
        )) {
          if (response.event === undefined) throw new Error("WatchOrderResponse without an event")
          this.accept(seenFromProto(response.event))
          progressed = true
          const pause = this.options.pauseAfterEventMs?.(this.orderReqId) ?? 0
          if (pause > 0) await sleep(pause)
        }
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error)
      } finally {
        channel.close()
      }
      if (this.finalised || signal.aborted) break
      // The stream ended or broke before the order's end: resume on the other requestor.
      this.reconnects += 1
      this.preferred += 1
      failures = progressed ? 0 : failures + 1
      await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 4)))
    }
  }
}
