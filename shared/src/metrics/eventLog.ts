/**
 * `dcent_order_events_total{status}` as a decorator around `OrderEventLog`: on the processor the
 * events `append` and `appendAt` committed, on the requestor the events `record` recorded (duplicates are not
 * counted) — each counted once, after its commit.
 */
import { Effect, Layer } from "effect"
import { OrderEventLog, type OrderEventLogShape } from "../eventlog/OrderEventLog.ts"
import type { Catalogue } from "./catalogue.ts"
import { Metrics } from "./Metrics.ts"

export const instrumentEventLog = (log: OrderEventLogShape, catalogue: Catalogue): OrderEventLogShape => {
  const counters = new Map<string, ReturnType<typeof catalogue.orderEvents.labels>>()
  const count = (status: string) => {
    let counter = counters.get(status)
    if (counter === undefined) {
      counter = catalogue.orderEvents.labels(status)
      counters.set(status, counter)
    }
    counter.inc()
  }
  return {
    ...log,
    append: (orderReqId, drafts, options) =>
      log.append(orderReqId, drafts, options).pipe(
        Effect.tap((records) =>
          Effect.sync(() => {
            for (const record of records) count(record.status)
          }),
        ),
      ),
    appendAt: (orderReqId, expectedLastSeq, drafts, options) =>
      log.appendAt(orderReqId, expectedLastSeq, drafts, options).pipe(
        Effect.tap((result) =>
          Effect.sync(() => {
            if (result._tag === "Committed") for (const record of result.records) count(record.status)
          }),
        ),
      ),
    record: (event, options) =>
      log.record(event, options).pipe(
        Effect.tap((result) =>
          Effect.sync(() => {
            if (result === "recorded") count(event.status)
          }),
        ),
      ),
  }
}

/** `layer`'s event log, counting committed events. */
export const withEventLogMetrics = <E, R>(
  layer: Layer.Layer<OrderEventLog, E, R>,
): Layer.Layer<OrderEventLog, E, R | Metrics> =>
  Layer.effect(
    OrderEventLog,
    Effect.gen(function* () {
      const log = yield* OrderEventLog
      const { catalogue } = yield* Metrics
      return OrderEventLog.of(instrumentEventLog(log, catalogue))
    }),
  ).pipe(Layer.provide(layer))
