/**
 * `dcent_order_events_total{status}` as a decorator around `OrderEventLog`: on the processor the
 * events `append` and `appendAt` committed, on the requestor the events `record` recorded (duplicates are not
 * counted) — each counted once, after its commit.
 */
import { Effect } from "effect"
import { OrderEventLog, type OrderEventLogShape } from "../eventlog/OrderEventLog.ts"
import type { Catalogue } from "./catalogue.ts"
import { childPerKey, withInstrumented } from "./instrument.ts"

export const instrumentEventLog = (log: OrderEventLogShape, catalogue: Catalogue): OrderEventLogShape => {
  const counterFor = childPerKey((status) => catalogue.orderEvents.labels(status))
  const count = (status: string) => counterFor(status).inc()
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
export const withEventLogMetrics = withInstrumented(OrderEventLog, (log, { catalogue }) =>
  instrumentEventLog(log, catalogue),
)
