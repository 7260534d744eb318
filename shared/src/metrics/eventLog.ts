/**
 * `dcent_order_events_total{status}` as a decorator around an event log (`../eventlog`): on the
 * processor the events `append` and `appendAt` committed, on the requestor the events `record`
 * recorded (duplicates are not counted) — each counted once, after its commit. Generic: the domain
 * says which status label an event has (`../orders/OrderEventLog.ts`).
 */
import { type Context, Effect, Layer } from "effect"
import type { EventLogShape } from "../eventlog/EventLog.ts"
import type { Catalogue } from "./catalogue.ts"
import { childPerKey } from "./instrument.ts"
import { Metrics } from "./Metrics.ts"

export const instrumentEventLog = <Draft, Rec>(
  log: EventLogShape<Draft, Rec>,
  catalogue: Catalogue,
  statusOf: (record: Rec) => string,
): EventLogShape<Draft, Rec> => {
  const counterFor = childPerKey((status) => catalogue.orderEvents.labels(status))
  const count = (record: Rec) => counterFor(statusOf(record)).inc()
  return {
    ...log,
    append: (logId, drafts, options) =>
      log.append(logId, drafts, options).pipe(
        Effect.tap((records) =>
          Effect.sync(() => {
            for (const record of records) count(record)
          }),
        ),
      ),
    appendAt: (logId, expectedLastSeq, drafts, options) =>
      log.appendAt(logId, expectedLastSeq, drafts, options).pipe(
        Effect.tap((result) =>
          Effect.sync(() => {
            if (result._tag === "Committed") for (const record of result.records) count(record)
          }),
        ),
      ),
    record: (event, options) =>
      log.record(event, options).pipe(
        Effect.tap((result) =>
          Effect.sync(() => {
            if (result === "recorded") count(event)
          }),
        ),
      ),
  }
}

/** `layer`'s event log (the service `log`), counting committed events by `statusOf`. */
export const withEventLogMetrics = <I, Draft, Rec, E, R>(
  log: Context.Service<I, EventLogShape<Draft, Rec>>,
  statusOf: (record: Rec) => string,
  layer: Layer.Layer<I, E, R>,
): Layer.Layer<I, E, R | Metrics> =>
  Layer.effect(
    log,
    Effect.gen(function* () {
      const inner = yield* log
      const { catalogue } = yield* Metrics
      return instrumentEventLog(inner, catalogue, statusOf)
    }),
  ).pipe(Layer.provide(layer))
