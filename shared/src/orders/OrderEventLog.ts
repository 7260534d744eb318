/**
 * The order's event log: the generic `../eventlog` log over the order events of `./events.ts`.
 * Both services use it under their own Redis prefix — the processor appends (`appendAt`), the
 * requestor records what the processor streamed (`record`) — and it ends a follow set's member
 * after `OrderFinalised`.
 */
import { Context, Layer } from "effect"
import {
  type AppendAtResult,
  type EventCodec,
  type EventLogOptions,
  type EventLogShape,
  type FollowedEvent,
  type FollowSet,
  makeEventLog,
} from "../eventlog/EventLog.ts"
import type { CommitOptions } from "../eventlog/types.ts"
import { withEventLogMetrics } from "../metrics/eventLog.ts"
import type { Metrics } from "../metrics/Metrics.ts"
import type { Redis } from "../redis/Redis.ts"
import { EventDraft, isTerminalStatus, OrderEventRecord, recordOf } from "./events.ts"

export { orderEventsKey, outboxStreamKey } from "../eventlog/encoding.ts"
export { EventLogError, isRetryLater, SeqGap } from "../eventlog/errors.ts"
export type { CommitCondition, OutboxEntry, StateCommit, StateGuard, StateWrite } from "../eventlog/types.ts"

/** How the event log reads and builds order events. */
export const orderEventCodec: EventCodec<EventDraft, OrderEventRecord> = {
  draft: EventDraft,
  record: OrderEventRecord,
  recordOf,
  logIdOf: (record) => record.orderReqId,
  isLast: (record) => isTerminalStatus(record.status),
}

export type OrderEventLogShape = EventLogShape<EventDraft, OrderEventRecord>
export type OrderFollowSet = FollowSet<OrderEventRecord>
export type OrderFollowedEvent = FollowedEvent<OrderEventRecord>
export type OrderCommitOptions = CommitOptions<OrderEventRecord>
export type OrderAppendAtResult = AppendAtResult<OrderEventRecord>

export class OrderEventLog extends Context.Service<OrderEventLog, OrderEventLogShape>()("dcent/OrderEventLog") {
  static readonly make = (options: EventLogOptions = {}) => makeEventLog("OrderEventLog", orderEventCodec, options)

  /** The log over the service's `Redis` (default options). */
  static readonly layer: Layer.Layer<OrderEventLog, never, Redis> = Layer.effect(OrderEventLog, OrderEventLog.make())

  static readonly layerWith = (options: EventLogOptions): Layer.Layer<OrderEventLog, never, Redis> =>
    Layer.effect(OrderEventLog, OrderEventLog.make(options))
}

/** `layer`'s order event log, counting committed events per status (`dcent_order_events_total`). */
export const withOrderEventMetrics = <E, R>(
  layer: Layer.Layer<OrderEventLog, E, R>,
): Layer.Layer<OrderEventLog, E, R | Metrics> =>
  withEventLogMetrics(OrderEventLog, (record: OrderEventRecord) => record.status, layer)
