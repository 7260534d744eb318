/**
 * Failure reports (`REQ_failures`, `PRP_FAILURES`) that could not be committed to the outbox
 * because Redis — where the outbox lives — is down. A request refused during a Redis outage (503)
 * must still be reported; this holds such reports in memory and commits them once Redis answers
 * again, so they reach the topic through the outbox like every other message (stable `EventID`).
 *
 * - `defer(orderReqId, entries)`: queued (bounded by `capacity`, so a long outage cannot grow
 *   memory without end: when full the oldest is dropped, logged with its order id and topic and
 *   counted in `dcent_pending_reports_dropped_total{reason="capacity"}`) and committed in order by
 *   a background fiber that retries with the shared backoff (`RetryPolicies.deferredReport`:
 *   200 ms doubling to 5 s, jittered, until Redis is back). `dcent_pending_reports` is the
 *   number held now.
 * - Drain (SIGTERM, phase `flush`): what is still queued is committed once more and, if Redis is
 *   still down, published straight to the broker; only what neither takes is lost (logged at
 *   error with the order id, topic and event id — not the body — and counted with
 *   `reason="lost"`).
 *
 * Delivery is at least once: a commit whose answer was lost is committed again (same `EventID`).
 */
import { Context, Duration, Effect, Exit, Layer, Queue } from "effect"
import { Broker } from "../broker/Broker.ts"
import { DroppedReportReasons } from "../metrics/catalogue.ts"
import { Metrics } from "../metrics/Metrics.ts"
import { exponentialCapped, RetryPolicies } from "../resilience/schedules.ts"
import { onDrain } from "../runtime/Drain.ts"
import type { OutboxEntry } from "./entry.ts"
import { Outbox } from "./Outbox.ts"

export interface PendingReportsShape {
  /** Keeps `entries` (of order `orderReqId`, or `unknown`) until the outbox takes them. */
  readonly defer: (orderReqId: string, entries: ReadonlyArray<OutboxEntry>) => Effect.Effect<void>
  /** Reports waiting for Redis. */
  readonly size: Effect.Effect<number>
}

export interface PendingReportsOptions {
  /** Most reports held (default 10 000). */
  readonly capacity?: number
}

interface Pending {
  /** Increasing: the queue holds a contiguous run of them, oldest first. */
  readonly seq: number
  readonly orderReqId: string
  readonly entries: ReadonlyArray<OutboxEntry>
}

export class PendingReports extends Context.Service<PendingReports, PendingReportsShape>()(
  "dcent/outbox/PendingReports",
) {
  static readonly make = Effect.fn("PendingReports.make")(function* (options: PendingReportsOptions = {}) {
    const outbox = yield* Outbox
    const broker = yield* Broker
    const { catalogue } = yield* Metrics.orUnscraped
    const capacity = Math.max(1, options.capacity ?? 10_000)
    // Sliding: an offer never waits; the oldest report makes room (taken first below, to be logged and counted).
    const queue = yield* Queue.sliding<Pending>(capacity)
    let nextSeq = 0
    /** The newest seq dropped for capacity: a report at or below it is no longer in the queue. */
    let droppedThrough = -1
    const held = () => catalogue.pendingReports.set(Queue.sizeUnsafe(queue))

    const commit = (pending: Pending) => outbox.add(pending.orderReqId, pending.entries)

    const defer = (orderReqId: string, entries: ReadonlyArray<OutboxEntry>) =>
      Effect.gen(function* () {
        if (entries.length === 0) return
        // One synchronous step: no other fiber sees the queue between the drop and the offer.
        const { dropped, waiting } = yield* Effect.sync(() => {
          const oldest = Queue.isFullUnsafe(queue) ? Queue.takeUnsafe(queue) : undefined
          const dropped = oldest !== undefined && Exit.isSuccess(oldest) ? oldest.value : undefined
          if (dropped !== undefined) droppedThrough = dropped.seq
          Queue.offerUnsafe(queue, { seq: nextSeq++, orderReqId, entries })
          held()
          return { dropped, waiting: Queue.sizeUnsafe(queue) }
        })
        if (dropped !== undefined) {
          catalogue.pendingReportsDropped.labels(DroppedReportReasons.Capacity).inc()
          yield* Effect.logError("failure report dropped: too many waiting for Redis").pipe(
            Effect.annotateLogs({ orderReqId: dropped.orderReqId, topic: dropped.entries[0]?.topic, capacity }),
          )
        }
        yield* Effect.logWarning("failure report held until Redis is back").pipe(
          Effect.annotateLogs({ orderReqId, topic: entries[0]?.topic, waiting }),
        )
      })

    const retry = exponentialCapped(RetryPolicies.deferredReport)
    const worker = Effect.gen(function* () {
      while (true) {
        // Waits for a report; it stays queued (and counted against the capacity) while it is committed.
        const next = yield* Queue.peek(queue)
        yield* commit(next).pipe(Effect.retry({ schedule: retry }))
        // Off the queue unless a full queue dropped it meanwhile: then the head is a report nobody
        // has committed yet.
        yield* Effect.sync(() => {
          if (next.seq > droppedThrough) Queue.takeUnsafe(queue)
          held()
        })
        yield* Effect.logInfo("held failure report committed to the outbox").pipe(
          Effect.annotateLogs({ orderReqId: next.orderReqId, waiting: Queue.sizeUnsafe(queue) }),
        )
      }
    })
    yield* Effect.forkScoped(worker)

    const publishDirect = (entry: OutboxEntry) =>
      broker.publish(`${entry.topic}.${entry.key}`, entry.payload, { headers: entry.headers })

    yield* onDrain({
      name: "held failure reports",
      phase: "flush",
      run: () =>
        Effect.gen(function* () {
          const remaining = yield* Queue.clear(queue)
          // The worker may be committing the old head: it must not take a later report in its place.
          droppedThrough = nextSeq - 1
          held()
          for (const next of remaining) {
            const committed = yield* commit(next).pipe(
              Effect.timeout(Duration.seconds(1)),
              Effect.as(true),
              Effect.orElseSucceed(() => false),
            )
            if (committed) continue
            for (const entry of next.entries) {
              yield* publishDirect(entry).pipe(
                Effect.timeout(Duration.seconds(2)),
                Effect.catchCause((cause) =>
                  Effect.sync(() => catalogue.pendingReportsDropped.labels(DroppedReportReasons.Lost).inc()).pipe(
                    Effect.andThen(
                      // Ids and the reason only: the body may carry buyer data.
                      Effect.logError("failure report lost: neither Redis nor the broker took it", cause).pipe(
                        Effect.annotateLogs({
                          orderReqId: next.orderReqId,
                          topic: entry.topic,
                          eventId: entry.headers["event-id"],
                        }),
                      ),
                    ),
                  ),
                ),
              )
            }
          }
        }),
    })

    return PendingReports.of({ defer, size: Queue.size(queue) })
  })

  static readonly layer: Layer.Layer<PendingReports, never, Outbox | Broker> = Layer.effect(
    PendingReports,
    PendingReports.make(),
  )
}
