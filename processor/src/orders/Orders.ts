/**
 * The order lifecycle over Redis: every command runs under the per-order lock
 * (`order-lock:{id}`), reads the order's state, asks the pure `decide`, and commits the
 * resulting events, the new state, the timer changes and the topic messages in ONE
 * `OrderEventLog.append` (one Lua script: all or nothing).
 *
 * `open` additionally enqueues the order's dispatch job (idempotent by OrderReqID) when the order
 * is new or was never dispatched; `resume` does the same for an order paused before its dispatch.
 */
import {
  type CoordinationError,
  DistributedLock,
  type LockLost,
  type LockTimeout,
  orderLockName,
} from "@dcent/shared/coordination/DistributedLock"
import { PriorityQueue } from "@dcent/shared/coordination/PriorityQueue"
import { type EventLogError, OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import type { OutboxEntry, StateWrite } from "@dcent/shared/eventlog/types"
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import type { RedisError, RedisUnavailable } from "@dcent/shared/redis/errors"
import { Redis } from "@dcent/shared/redis/Redis"
import { currentTraceCarrier } from "@dcent/shared/telemetry/traceContext"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { ProcessorConfig } from "../config.ts"
import { type Command, type Decision, decide, type Replies } from "./decide.ts"
import { type CommandError, Unavailable } from "./errors.ts"
import { Keys, type OrderDetails, type OrderState, OrderStateJson } from "./model.ts"
import { outboxEntries } from "./outbox.ts"

/** The dispatch queue (shared by every replica). */
export const dispatchQueue = "dispatch"

export interface DispatchJobPayload {
  readonly orderReqId: string
  /** W3C trace context of the request that queued the job: the dispatch continues its trace. */
  readonly traceContext?: Readonly<Record<string, string>>
}

export interface CommandResult<R> {
  readonly reply: R
  readonly records: ReadonlyArray<OrderEventRecord>
}

export interface OrdersShape {
  /** The order's state, `None` when unknown. */
  readonly get: (orderReqId: string) => Effect.Effect<Option.Option<OrderState>, Unavailable>
  /** Runs one command under the order's lock and commits its outcome atomically. */
  readonly run: <C extends Command>(
    orderReqId: string,
    command: C,
  ) => Effect.Effect<CommandResult<Replies[C["_tag"]]>, CommandError>
  /** Opens the order (idempotent) and makes sure its dispatch job is queued while it needs one. */
  readonly open: (details: OrderDetails) => Effect.Effect<Replies["Open"], CommandError>
  /** Queues the order's dispatch job (idempotent while queued or running). */
  readonly enqueueDispatch: (state: OrderState) => Effect.Effect<boolean, Unavailable>
  /** Writes topic messages through the outbox without an event (e.g. `PRP_FAILURES`). */
  readonly publish: (orderReqId: string, entries: ReadonlyArray<OutboxEntry>) => Effect.Effect<void, Unavailable>
}

export interface OrdersOptions {
  /** Lease of the order lock (default 10 s, renewed while held). */
  readonly lockTtlMs?: number
  /** How long a command waits for a busy order lock (default 5 s, then 503). */
  readonly lockWaitMs?: number
}

const decodeState = Schema.decodeUnknownEffect(OrderStateJson)
const encodeState = Schema.encodeSync(OrderStateJson)

const redisUnavailable = (error: RedisUnavailable | RedisError) =>
  new Unavailable({ dependency: "redis", reason: error.message })

const eventLogUnavailable = (error: EventLogError) => new Unavailable({ dependency: "redis", reason: error.message })

const lockUnavailable = (error: LockTimeout | LockLost | CoordinationError) =>
  new Unavailable({
    dependency: error._tag === "CoordinationError" ? "redis" : "order lock",
    reason: error.message,
  })

/** The writes that carry a decision's state and timer changes. */
export const decisionWrites = (orderReqId: string, decision: Decision<unknown>): ReadonlyArray<StateWrite> => [
  ...(decision.state === undefined
    ? []
    : [{ op: "set" as const, key: Keys.order(orderReqId), value: encodeState(decision.state) }]),
  ...decision.timers.set.map((timer) => ({
    op: "zadd" as const,
    key: Keys.timers,
    score: timer.dueAt,
    member: timer.member,
  })),
  ...decision.timers.clear.map((member) => ({ op: "zrem" as const, key: Keys.timers, member })),
]

export const makeOrders = (options: OrdersOptions = {}) =>
  Effect.gen(function* () {
    const redis = yield* Redis
    const eventLog = yield* OrderEventLog
    const lock = yield* DistributedLock
    const queue = yield* PriorityQueue
    const config = yield* ProcessorConfig
    const orderExpiryMs = config.orderExpiryMinutes * 60_000
    const lockOptions = { ttlMs: options.lockTtlMs ?? 10_000, waitMs: options.lockWaitMs ?? 5_000 }

    const get = Effect.fn("Orders.get")(function* (orderReqId: string) {
      const raw = yield* redis
        .use("GET", (client) => client.get(Keys.order(orderReqId)))
        .pipe(Effect.mapError(redisUnavailable))
      if (raw === null) return Option.none<OrderState>()
      const state = yield* decodeState(raw).pipe(
        Effect.mapError(
          (error) => new Unavailable({ dependency: "order state", reason: `order ${orderReqId}: ${error.message}` }),
        ),
      )
      return Option.some(state)
    })

    /** Read, decide, commit: the body that runs under the order lock. */
    const step = <C extends Command>(orderReqId: string, command: C) =>
      Effect.gen(function* () {
        const [stored, logSeq] = yield* Effect.all(
          [get(orderReqId), eventLog.lastSeq(orderReqId).pipe(Effect.mapError(eventLogUnavailable))],
          { concurrency: 2 },
        )
        let state = Option.getOrUndefined(stored)
        if (state !== undefined && state.lastSeq !== logSeq) {
          // Should not happen (state and events are committed together); trust the log.
          yield* Effect.logWarning("order state and event log disagree on the last seq; using the log").pipe(
            Effect.annotateLogs({ orderReqId, stateSeq: state.lastSeq, logSeq }),
          )
          state = { ...state, lastSeq: logSeq }
        }
        const now = new Date(yield* Clock.currentTimeMillis)
        const decision = yield* Effect.fromResult(
          decide(state, command, { now, newId: () => crypto.randomUUID(), orderExpiryMs }, orderReqId),
        )
        const writes = decisionWrites(orderReqId, decision)
        if (decision.events.length === 0 && writes.length === 0) return { reply: decision.reply, records: [] }
        const details = (decision.state ?? state)?.details
        const records = yield* eventLog
          .append(orderReqId, decision.events, {
            writes,
            outbox: (records) => (details === undefined ? [] : outboxEntries(details, decision.outbox, records)),
          })
          .pipe(Effect.mapError(eventLogUnavailable))
        const first = records[0]
        if (first !== undefined && state !== undefined && first.seq !== state.lastSeq + 1) {
          yield* Effect.logError("order events got unexpected seqs").pipe(
            Effect.annotateLogs({ orderReqId, expected: state.lastSeq + 1, got: first.seq }),
          )
        }
        return { reply: decision.reply as Replies[C["_tag"]], records }
      })

    const run = <C extends Command>(orderReqId: string, command: C) =>
      lock.withLock(orderLockName(orderReqId), step(orderReqId, command), lockOptions).pipe(
        Effect.catchTags({
          LockTimeout: (error) => Effect.fail(lockUnavailable(error)),
          LockLost: (error) => Effect.fail(lockUnavailable(error)),
          CoordinationError: (error) => Effect.fail(lockUnavailable(error)),
        }),
        Effect.withSpan("Orders.run", { attributes: { orderReqId, command: command._tag } }),
      )

    const enqueueDispatch = Effect.fn("Orders.enqueueDispatch")(function* (state: OrderState) {
      const payload: DispatchJobPayload = {
        orderReqId: state.details.orderReqId,
        traceContext: yield* currentTraceCarrier,
      }
      return yield* queue
        .enqueue(dispatchQueue, {
          id: state.details.orderReqId,
          priority: state.details.priority,
          payload: JSON.stringify(payload),
        })
        .pipe(Effect.mapError((error) => new Unavailable({ dependency: "redis", reason: error.message })))
    })

    const open = Effect.fn("Orders.open")(function* (details: OrderDetails) {
      yield* Effect.annotateCurrentSpan({ orderReqId: details.orderReqId })
      const { reply } = yield* run(details.orderReqId, { _tag: "Open", details })
      if (reply.needsDispatch) {
        const queued = yield* enqueueDispatch(reply.state)
        if (reply.created) {
          yield* Effect.logInfo("order opened").pipe(
            Effect.annotateLogs({ orderReqId: details.orderReqId, priority: details.priority, queued }),
          )
        }
      }
      return reply
    })

    const publish = Effect.fn("Orders.publish")(function* (orderReqId: string, entries: ReadonlyArray<OutboxEntry>) {
      if (entries.length === 0) return
      yield* eventLog
        .append(orderReqId === "" ? "-" : orderReqId, [], { extraOutbox: entries })
        .pipe(Effect.mapError(eventLogUnavailable))
    })

    return { get, run, open, enqueueDispatch, publish } satisfies OrdersShape
  })

export class Orders extends Context.Service<Orders, OrdersShape>()("dcent/processor/Orders") {
  static readonly layer = Layer.effect(Orders, makeOrders())
  static readonly layerWith = (options: OrdersOptions) => Layer.effect(Orders, makeOrders(options))
}
