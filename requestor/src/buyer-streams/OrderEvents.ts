/**
 * The public read side: an order's recorded events after a seq, then the live ones, ending after
 * `OrderFinalised`. `WatchOrder` (gRPC, `./grpc.ts`) and SSE (`./sse.ts`) both read it; every
 * watch is a member of one `OrderEventLog.followSet` per process, so they never skip or repeat an
 * event and agree with each other and with `GET /api/v1/orders/{id}`.
 *
 * `shutdown` ends every open watch (drain, SIGTERM) with `Shutdown`, so the servers do not wait
 * for long-lived streams when the service stops; each protocol then sends its "reconnect
 * elsewhere from your last seq" signal.
 */
import { isTerminalStatus, type OrderEventRecord } from "@dcent/shared/orders/events"
import { OrderEventLog, type OrderFollowedEvent, type OrderFollowSet } from "@dcent/shared/orders/OrderEventLog"
import { Context, Effect, Layer } from "effect"
import { decodeArchivedEvents } from "../orders/archivedEvents.ts"
import { OrderNotFound, StorageUnavailable, storageUnavailableOrDefect } from "../orders/errors.ts"
import { OrderStore } from "../orders/OrderStore.ts"
import { deliverySpan } from "../processor-streams/eventSpans.ts"

/** What a watch's `next` answered. */
export type WatchNext =
  | { readonly _tag: "Events"; readonly records: ReadonlyArray<OrderEventRecord> }
  /** After `OrderFinalised`: nothing more. */
  | { readonly _tag: "End" }
  /** Cut short by the service shutting down: the client should watch again elsewhere. */
  | { readonly _tag: "Shutdown" }
  /** The log could not be read (Redis): the client should watch again later. */
  | { readonly _tag: "Failed"; readonly error: StorageUnavailable }

/**
 * One open watch: a member of the process's shared follow set and a small buffer, no fiber or
 * stream of its own (50,000 of them are held by one requestor). One reader at a time.
 */
export interface Watch {
  /** Waits for the next events (or the end). */
  readonly next: () => Promise<WatchNext>
  /** Stops the watch (idempotent). */
  readonly close: () => void
}

export interface WatchResult {
  /** The watch; `undefined` when the order is finalised and nothing follows `fromSeq`. */
  readonly watch: Watch | undefined
  /** True when the order is finalised and nothing follows `fromSeq` (SSE answers 204 then). */
  readonly complete: boolean
}

export interface OrderEventsShape {
  /** NOT_FOUND for an unknown order. */
  readonly watch: (
    orderReqId: string,
    fromSeq: number,
  ) => Effect.Effect<WatchResult, OrderNotFound | StorageUnavailable>
  /** Ends every open watch. */
  readonly shutdown: Effect.Effect<void>
  /** True once `shutdown` ran: a watch that ended before `OrderFinalised` was cut short by it. */
  readonly isShuttingDown: () => boolean
}

/** A watch of events known in full (a finished order): them, then `End`. */
const fixedWatch = (records: ReadonlyArray<OrderEventRecord>): Watch => {
  let pending: WatchNext | undefined = { _tag: "Events", records }
  return {
    next: async () => {
      const next = pending ?? { _tag: "End" }
      pending = undefined
      return next
    },
    close: () => {
      pending = undefined
    },
  }
}

/** A watch buffers at most this many events its client has not taken; past it, reads pause. */
const bufferLimit = 512

class WatchState implements Watch {
  queue: Array<OrderEventRecord> = []
  lastQueued: number
  paused = false
  ended: WatchNext | undefined
  wake: (() => void) | undefined
  readonly key: string
  readonly orderReqId: string
  private readonly hub: WatchHub

  constructor(hub: WatchHub, key: string, orderReqId: string, fromSeq: number) {
    this.hub = hub
    this.key = key
    this.orderReqId = orderReqId
    this.lastQueued = fromSeq
  }

  // Not an async function: an idle watch (most of 50,000) holds one promise, not a suspended frame.
  next = (): Promise<WatchNext> => {
    const ready = this.take()
    if (ready !== undefined) return Promise.resolve(ready)
    // Taken when the wake-up runs, after the delivery that woke it: an order's events of one delivery go together.
    return new Promise<void>((resolve) => {
      this.wake = resolve
    }).then(this.next)
  }

  private take(): WatchNext | undefined {
    if (this.queue.length > 0) {
      const records = this.queue
      this.queue = []
      if (this.paused && this.ended === undefined) this.hub.resume(this)
      return { _tag: "Events", records }
    }
    return this.ended
  }

  close = () => this.hub.close(this)

  signal() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/**
 * How many watches each followed event goes to: the follow set hands an order's watches the same
 * record object (one read or notification for all of them), so what is done per event rather than
 * per watch (its span; the encodings, cached by record in `./grpc.ts` and `./sse.ts`) is done once.
 */
const watchesPerRecord = (followed: ReadonlyArray<OrderFollowedEvent>) => {
  const counts = new Map<OrderEventRecord, number>()
  for (const { record } of followed) counts.set(record, (counts.get(record) ?? 0) + 1)
  return counts
}

/** Every open watch of the process, over one follow set and one taker fiber. */
class WatchHub {
  private readonly watches = new Map<string, WatchState>()
  private readonly set: OrderFollowSet
  private counter = 0
  shuttingDown = false

  constructor(set: OrderFollowSet) {
    this.set = set
  }

  open(orderReqId: string, fromSeq: number): WatchState {
    this.counter += 1
    const watch = new WatchState(this, `w${this.counter}`, orderReqId, fromSeq)
    if (this.shuttingDown) {
      watch.ended = { _tag: "Shutdown" }
      return watch
    }
    this.watches.set(watch.key, watch)
    this.set.add(watch.key, orderReqId, fromSeq)
    return watch
  }

  close(watch: WatchState) {
    if (this.watches.get(watch.key) !== watch) return
    this.watches.delete(watch.key)
    this.set.remove(watch.key)
    watch.ended ??= { _tag: "End" }
    watch.signal()
  }

  /** A paused watch's client caught up: read on from what it was given. */
  resume(watch: WatchState) {
    watch.paused = false
    if (this.watches.get(watch.key) === watch) this.set.add(watch.key, watch.orderReqId, watch.lastQueued)
  }

  deliver(events: ReadonlyArray<OrderFollowedEvent>) {
    for (const { key, record } of events) {
      const watch = this.watches.get(key)
      if (watch === undefined || record.seq <= watch.lastQueued) continue
      watch.queue.push(record)
      watch.lastQueued = record.seq
      if (isTerminalStatus(record.status)) {
        // The set dropped the member after its final event.
        this.watches.delete(key)
        watch.ended = { _tag: "End" }
      } else if (watch.queue.length >= bufferLimit && !watch.paused) {
        watch.paused = true
        this.set.remove(key)
      }
      watch.signal()
    }
  }

  /** Ends every watch with `end` (shutdown, or the log failing). */
  endAll(end: WatchNext) {
    for (const watch of this.watches.values()) {
      this.set.remove(watch.key)
      watch.ended = end
      // Shutdown cuts short at once; events already buffered are not sent.
      watch.queue = []
      watch.signal()
    }
    this.watches.clear()
  }

  get size() {
    return this.watches.size
  }
}

export class OrderEvents extends Context.Service<OrderEvents, OrderEventsShape>()("dcent/requestor/OrderEvents") {
  static readonly make = Effect.gen(function* () {
    const eventLog = yield* OrderEventLog
    const store = yield* OrderStore
    const set = yield* Effect.acquireRelease(eventLog.followSet, (set) => Effect.sync(() => set.close()))
    const hub = new WatchHub(set)

    // The one taker: hands every followed event to its watch.
    yield* Effect.gen(function* () {
      while (true) {
        const taken = yield* set.take.pipe(Effect.result)
        if (taken._tag === "Failure") {
          hub.endAll({
            _tag: "Failed",
            error: new StorageUnavailable({ storage: "redis", problem: taken.failure.detail, cause: taken.failure }),
          })
          continue
        }
        for (const [record, watches] of watchesPerRecord(taken.success)) yield* deliverySpan(record, watches)
        hub.deliver(taken.success)
      }
    }).pipe(Effect.forkScoped)

    /** The events after `from` of an order that left Redis. */
    const archived = (orderReqId: string, from: number) =>
      store.archivedEvents(orderReqId, from).pipe(
        Effect.flatMap(decodeArchivedEvents),
        Effect.map((records) =>
          records.length === 0 ? { watch: undefined, complete: true } : { watch: fixedWatch(records), complete: false },
        ),
      )

    const watch = Effect.fn("OrderEvents.watch")(function* (orderReqId: string, fromSeq: number) {
      const order = yield* store.get(orderReqId)
      if (order === undefined) return yield* new OrderNotFound({ orderReqId })
      const from = Math.max(0, Math.floor(fromSeq))
      // An archived order can no longer change: its events, then the end.
      if (order.archived === true) return yield* archived(orderReqId, from)
      if (order.status === "FINALISED") {
        // Nothing follows: the events after `from`, read once, then the end.
        const records = yield* eventLog.read(orderReqId, from).pipe(Effect.catch(storageUnavailableOrDefect))
        const last = records.at(-1)
        if (last !== undefined && isTerminalStatus(last.status)) return { watch: fixedWatch(records), complete: false }
        const lastSeq = yield* eventLog.lastSeq(orderReqId).pipe(Effect.catch(storageUnavailableOrDefect))
        // The log is gone: archived since the order was read.
        if (lastSeq === 0) return yield* archived(orderReqId, from)
        if (from >= lastSeq) return { watch: undefined, complete: true }
      }
      const opened = hub.open(orderReqId, from)
      return { watch: opened, complete: false }
    })

    const shutdown = Effect.sync(() => {
      hub.shuttingDown = true
      hub.endAll({ _tag: "Shutdown" })
    })

    return OrderEvents.of({ watch, shutdown, isShuttingDown: () => hub.shuttingDown })
  })

  static readonly layer: Layer.Layer<OrderEvents, never, OrderEventLog | OrderStore> = Layer.effect(
    OrderEvents,
    OrderEvents.make,
  )
}
