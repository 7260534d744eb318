/**
 * Priority queue and semaphore metrics:
 *
 * - `dcent_queue_wait_seconds{priority}`: a decorator around `PriorityQueue` observing the wait
 *   (enqueue → take) of every job taken;
 * - `dcent_queue_depth{priority}`, `dcent_semaphore_permits{semaphore}` (its limit),
 *   `dcent_semaphore_permits_in_use{semaphore}`, `dcent_semaphore_waiters{semaphore}`: read from
 *   Redis on every scrape (they are shared by every replica, so each reports the same values).
 */
import { Effect, Layer, Option } from "effect"
import { DistributedSemaphore } from "../coordination/DistributedSemaphore.ts"
import { PriorityQueue, type PriorityQueueShape, priorities } from "../coordination/PriorityQueue.ts"
import type { Catalogue } from "./catalogue.ts"
import { withInstrumented } from "./instrument.ts"
import { Metrics } from "./Metrics.ts"

export const instrumentPriorityQueue = (queue: PriorityQueueShape, catalogue: Catalogue): PriorityQueueShape => {
  const waits = new Map(priorities.map((priority) => [priority, catalogue.queueWait.labels(priority)]))
  return {
    ...queue,
    take: (name, options) =>
      queue.take(name, options).pipe(
        Effect.tap((taken) =>
          Effect.sync(() => {
            if (Option.isSome(taken)) waits.get(taken.value.priority)?.observe(Math.max(0, taken.value.waitedMs) / 1000)
          }),
        ),
      ),
  }
}

/** `layer`'s priority queue, observing queue wait times. */
export const withQueueMetrics = withInstrumented(PriorityQueue, (queue, { catalogue }) =>
  instrumentPriorityQueue(queue, catalogue),
)

/** Reports the depth of queue `name` per priority on every scrape. */
export const queueDepthMetrics = (name: string): Layer.Layer<never, never, PriorityQueue | Metrics> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const queue = yield* PriorityQueue
      const { catalogue, onScrape } = yield* Metrics
      const gauges = priorities.map((priority) => [priority, catalogue.queueDepth.labels(priority)] as const)
      yield* onScrape(
        `queue ${name}`,
        queue.depth(name).pipe(
          Effect.tap((depth) =>
            Effect.sync(() => {
              for (const [priority, gauge] of gauges) gauge.set(depth[priority])
            }),
          ),
        ),
      )
    }),
  )

/** Reports semaphore `name` (limit `limit`) on every scrape. */
export const semaphoreMetrics = (
  name: string,
  limit: number,
): Layer.Layer<never, never, DistributedSemaphore | Metrics> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const semaphore = yield* DistributedSemaphore
      const { catalogue, onScrape } = yield* Metrics
      catalogue.semaphorePermits.labels(name).set(limit)
      const inUse = catalogue.semaphorePermitsInUse.labels(name)
      const waiters = catalogue.semaphoreWaiters.labels(name)
      yield* onScrape(
        `semaphore ${name}`,
        Effect.all([semaphore.inUse(name), semaphore.waiting(name)], { concurrency: 2 }).pipe(
          Effect.tap(([held, waiting]) =>
            Effect.sync(() => {
              inUse.set(held)
              waiters.set(waiting)
            }),
          ),
        ),
      )
    }),
  )
