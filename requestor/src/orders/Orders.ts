/**
 * The buyer's operations on orders. Every state change is committed through the event log in one
 * atomic step with its topic messages (outbox); every failed operation also publishes
 * `REQ_failures` (with the reason and the request) the same way.
 *
 * - `register`: `order:{id}` with the details, REGISTERED (201; 200 when it existed).
 * - `initiate`: REGISTERED or unknown-with-inline-details → SUBMITTED + live, `BUYER_ACKNOWLEDGEMENTS`
 *   ("Order Submitted"), stream holder started (202). Already live → 200, same order, no second
 *   stream, nothing published. Unknown without details → 404 naming both fixes.
 * - `followUp` / `finalise` / `pause` / `resume`: unary calls to the processor (idempotent by
 *   TransactionUUID); the resulting event arrives on the order's stream, which is awaited
 *   briefly so that a `GET` right after the answer already shows it.
 *
 * Changes of one order are serialised within the process (a keyed lock). Across requestor
 * replicas, initiate's REGISTERED/unknown → SUBMITTED transition is a compare-and-set inside the
 * atomic commit (`OrderEventLog.commitIf`): of two replicas initiating one order at once, exactly
 * one commits (one `BUYER_ACKNOWLEDGEMENTS`), the other answers like a repeated initiate.
 */

import { createHash } from "node:crypto"
import { Topics } from "@dcent/shared/broker/topics"
import { serialiseByKey } from "@dcent/shared/concurrency/serialiseByKey"
import {
  type EventLogError,
  OrderEventLog,
  type OutboxEntry,
  type StateWrite,
} from "@dcent/shared/eventlog/OrderEventLog"
import { FollowUpOutcome } from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import type { FailedRequest, RequestFailure } from "@dcent/shared/http/failedRequests"
import { OrderEventRecordJson } from "@dcent/shared/orders/events"
import { MessageKeys, topicMessage } from "@dcent/shared/orders/topicMessage"
import { PendingReports } from "@dcent/shared/outbox/PendingReports"
import { Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { Status } from "nice-grpc"
import { RequestorConfig } from "../config.ts"
import { type ProcessorCallError, ProcessorClient } from "../processor/ProcessorClient.ts"
import { StreamHolder } from "../streams/StreamHolder.ts"
import type {
  FinaliseCommand,
  FollowUpCommand,
  InitiateCommand,
  OrderDetails,
  PauseCommand,
  ResumeCommand,
  StoredOrder,
} from "./domain.ts"
import { Conflict, InvalidRequest, NotFound, type OrderError, Unavailable, UpstreamFailed } from "./errors.ts"
import { followUpWrite, Keys, OrderStore, registerWrites, type StoredFollowUp, submitWrites } from "./OrderStore.ts"
import { deriveOrderState } from "./state.ts"
import {
  type ActionResult,
  type FollowUpDelivery,
  type FollowUpResult,
  type InitiateResult,
  type OrderView,
  orderView,
  type RegisterResult,
  type WatchLinks,
} from "./views.ts"

/** The buyer-side operations, as `REQ_failures` names them (`Operation`). */
export type Operation = "register" | "initiate" | "followup" | "finalize" | "pause" | "resume"

/** The `Key` of an operation's `REQ_failures` message (the spec's topic table). */
export const failureKeys: Readonly<Record<Operation, string>> = {
  register: MessageKeys.OrderSubmission,
  initiate: MessageKeys.OrderSubmission,
  followup: MessageKeys.OrderUpdates,
  finalize: MessageKeys.OrderUpdates,
  pause: MessageKeys.OrderUpdates,
  resume: MessageKeys.OrderUpdates,
}

export interface OrdersShape {
  readonly register: (
    details: OrderDetails,
    request: unknown,
  ) => Effect.Effect<RegisterResult, Conflict | Unavailable | InvalidRequest>
  readonly get: (orderReqId: string) => Effect.Effect<OrderView, NotFound | Unavailable>
  readonly initiate: (command: InitiateCommand, request: unknown) => Effect.Effect<InitiateResult, OrderError>
  readonly followUp: (command: FollowUpCommand, request: unknown) => Effect.Effect<FollowUpResult, OrderError>
  readonly finalise: (command: FinaliseCommand, request: unknown) => Effect.Effect<ActionResult, OrderError>
  readonly pause: (command: PauseCommand, request: unknown) => Effect.Effect<ActionResult, OrderError>
  readonly resume: (command: ResumeCommand, request: unknown) => Effect.Effect<ActionResult, OrderError>
  /**
   * Publishes a failed `operation` to `REQ_failures` (Key per `failureKeys`; best effort: a
   * failure to publish is logged). The one publishing path: the operations below use it for
   * their own failures, `rejected` and the HttpApi middleware (`failures.ts`) for requests
   * refused before they reach them. Without a valid order id the message key is `unknown`.
   */
  readonly report: (operation: Operation, failure: RequestFailure, failed: FailedRequest) => Effect.Effect<void>
  /** Fails with `error` after publishing it to `REQ_failures` (for requests refused before `Orders`). */
  readonly rejected: (
    operation: Operation,
    error: OrderError,
    failed: FailedRequest,
  ) => Effect.Effect<never, OrderError>
  /** `register` unless the order exists (demo data); true when it registered. */
  readonly registerIfAbsent: (details: OrderDetails) => Effect.Effect<boolean, Unavailable>
}

/** The HTTP status an error is answered with (for `REQ_failures`). */
const statusOf: Record<OrderError["_tag"], number> = {
  InvalidRequest: 400,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  Unavailable: 503,
  UpstreamFailed: 502,
}

/** An operation's error as `REQ_failures` reports it. */
export const failureOf = (error: OrderError): RequestFailure => ({
  status: statusOf[error._tag],
  code: error.code,
  message: error.message,
  details: error.details,
})

/** A processor failure as the buyer sees it. */
export const fromProcessorError = (error: ProcessorCallError): OrderError => {
  const text = error.details === "" ? error.message : error.details
  // The processor's machine-readable reason (trailer), else a leading "order_paused: ..." in the text.
  const reason = error.reason ?? /^([a-z][a-z0-9_]*):\s/.exec(error.details)?.[1]
  switch (error.code) {
    case Status.NOT_FOUND:
      return new NotFound({ code: reason ?? "not_found", message: text, details: [] })
    case Status.FAILED_PRECONDITION:
    case Status.ALREADY_EXISTS:
    case Status.ABORTED:
      return new Conflict({ code: reason ?? "wrong_state", message: text, details: [] })
    case Status.INVALID_ARGUMENT:
    case Status.OUT_OF_RANGE:
      return new InvalidRequest({
        code: reason ?? "invalid_request",
        message: text,
        details: [{ path: "body", problem: text }],
      })
    case Status.RESOURCE_EXHAUSTED:
      // The processor's admission control refused the call before doing it: retry after its hint.
      return new Unavailable({
        code: reason ?? "overloaded",
        message: `the processor is overloaded; retry later (${text})`,
        details: [{ path: "processor", problem: text }],
        retryAfterSeconds: error.retryAfterSeconds ?? 1,
      })
    case Status.UNAVAILABLE:
    case Status.DEADLINE_EXCEEDED:
    case Status.CANCELLED:
      return Unavailable.of("processor", `${error.codeName}${error.details === "" ? "" : `: ${error.details}`}`)
    default:
      return new UpstreamFailed({ code: "processor_error", message: error.message, details: [] })
  }
}

/** Archived events (JSON texts as the log held them) as records. */
export const decodeArchivedEvents = (events: ReadonlyArray<string>) =>
  Effect.forEach(events, (json) => decodeRecordJson(json).pipe(Effect.orDie))

const decodeRecordJson = Schema.decodeUnknownEffect(OrderEventRecordJson)

const eventLogFailure = (error: EventLogError) =>
  error.unavailable ? Effect.fail(Unavailable.of("redis", error.reason)) : Effect.die(error)

/** Same details, whatever the key order of the JSON they came in. */
const sameDetails = (a: OrderDetails, b: OrderDetails) => canonical(a) === canonical(b)

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : inner,
  )

const deliveryView = (result: NonNullable<StoredFollowUp["results"]>[number]): FollowUpDelivery => ({
  ProposalID: result.proposalId,
  Outcome: result.outcome,
  Seq: result.seq,
})

/** What identifies a follow-up request apart from its TransactionUUID. */
export const followUpFingerprint = (command: FollowUpCommand): string =>
  createHash("sha256")
    .update(canonical({ orderReqId: command.orderReqId, audience: command.audience, message: command.message }))
    .digest("hex")

export class Orders extends Context.Service<Orders, OrdersShape>()("dcent/requestor/Orders") {
  static readonly make = Effect.gen(function* () {
    const store = yield* OrderStore
    const pendingReports = yield* Effect.serviceOption(PendingReports)
    const eventLog = yield* OrderEventLog
    const processor = yield* ProcessorClient
    const holders = yield* StreamHolder
    const config = yield* RequestorConfig
    const withLock = serialiseByKey()

    const watchLinks = (orderReqId: string): WatchLinks => ({
      Events: `/api/v1/orders/${encodeURIComponent(orderReqId)}/events`,
      Grpc: { Service: "dcent.orders.v1.OrderWatchService", Method: "WatchOrder", Port: config.grpcPort },
    })

    const commit = (
      orderReqId: string,
      writes: ReadonlyArray<StateWrite>,
      extraOutbox: ReadonlyArray<OutboxEntry> = [],
    ) => eventLog.append(orderReqId, [], { writes, extraOutbox }).pipe(Effect.catch(eventLogFailure), Effect.asVoid)

    /** The order's events: from Redis, or from the archive once it left Redis. */
    const eventsOf = (order: StoredOrder) =>
      Effect.gen(function* () {
        const id = order.details.orderReqId
        if (order.archived !== true) {
          const events = yield* eventLog.read(id, 0).pipe(Effect.catch(eventLogFailure))
          // An ended order always has events: none means it was archived since its record was read.
          if (events.length > 0 || (order.status !== "FINALISED" && order.status !== "PAUSED")) return events
        }
        return yield* store.archivedEvents(id, 0).pipe(Effect.flatMap(decodeArchivedEvents))
      })

    const viewOf = (order: StoredOrder) =>
      eventsOf(order).pipe(Effect.map((events) => orderView(deriveOrderState(order, events))))

    /** Publishes `REQ_failures` for a failed operation (best effort: Redis may be the failure). */
    const report = (operation: Operation, failure: RequestFailure, failed: FailedRequest) => {
      const orderReqId = failed.orderReqId ?? "unknown"
      return Effect.gen(function* () {
        const session =
          failed.sessionId ??
          (failed.orderReqId === undefined
            ? undefined
            : (yield* store.get(failed.orderReqId).pipe(Effect.orElseSucceed(() => undefined)))?.sessionId)
        const message = topicMessage({
          topic: Topics.RequestFailures,
          key: failureKeys[operation],
          orderReqId,
          sessionId: session ?? "",
          message: `${operation} failed: ${failure.message}`,
          fields: {
            Operation: operation,
            Reason: failure.code,
            HttpStatus: failure.status,
            Problems: failure.details,
            Request: failed.request ?? null,
          },
        })
        yield* eventLog.append(orderReqId, [], { extraOutbox: [message] }).pipe(
          // Redis (the outbox) is down: hold the report and commit it once Redis is back.
          Effect.catchIf(
            (error) => error.unavailable && Option.isSome(pendingReports),
            () => (Option.isSome(pendingReports) ? pendingReports.value.defer(orderReqId, [message]) : Effect.void),
          ),
        )
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.logWarning("could not publish REQ_failures").pipe(
            Effect.annotateLogs({ operation, orderReqId, cause }),
          ),
        ),
      )
    }

    const rejected = (operation: Operation, error: OrderError, failed: FailedRequest) =>
      report(operation, failureOf(error), failed).pipe(Effect.andThen(Effect.fail(error)))

    const reported = <A, E extends OrderError, R>(
      operation: Operation,
      orderReqId: string,
      sessionId: string | undefined,
      request: unknown,
      effect: Effect.Effect<A, E, R>,
    ) =>
      effect.pipe(
        Effect.tapError((error) => report(operation, failureOf(error), { orderReqId, sessionId, request })),
        Effect.annotateLogs({ orderReqId }),
        Effect.annotateSpans({ orderReqId }),
      )

    /** Waits (bounded) until the event at `seq` is recorded, so a `GET` after the answer shows it. */
    const awaitRecorded = (orderReqId: string, seq: number) =>
      seq <= 0
        ? Effect.void
        : eventLog
            .follow(orderReqId, seq - 1)
            .pipe(Stream.take(1), Stream.runDrain, Effect.timeout("3 seconds"), Effect.ignore)

    const requireSubmitted = Effect.fn("Orders.requireSubmitted")(function* (orderReqId: string, action: string) {
      const order = yield* store.get(orderReqId)
      if (order === undefined) return yield* NotFound.order(orderReqId)
      if (order.status === "REGISTERED") {
        return yield* new Conflict({
          code: "order_not_submitted",
          message: `order ${orderReqId} is registered but not initiated; ${action} needs POST /api/v1/initiate first`,
          details: [],
        })
      }
      return order
    })

    const register = Effect.fn("Orders.register")(function* (details: OrderDetails, request: unknown) {
      const id = details.orderReqId
      return yield* reported(
        "register",
        id,
        details.sessionId,
        request,
        withLock(
          id,
          Effect.gen(function* () {
            const existing = yield* store.get(id)
            const now = new Date().toISOString()
            if (existing !== undefined && sameDetails(existing.details, details)) {
              return { Outcome: "unchanged" as const, Order: yield* viewOf(existing) }
            }
            if (existing !== undefined && existing.status !== "REGISTERED") {
              return yield* new Conflict({
                code: "order_already_submitted",
                message: `order ${id} is ${existing.status}; its details can no longer change`,
                details: [],
              })
            }
            const registeredAt = existing?.registeredAt ?? now
            yield* commit(id, registerWrites(details, now, registeredAt))
            const order: StoredOrder = { details, status: "REGISTERED", registeredAt, updatedAt: now }
            const view = orderView(deriveOrderState(order, []))
            return existing === undefined
              ? { Outcome: "registered" as const, Order: view }
              : { Outcome: "updated" as const, Order: view }
          }),
        ),
      )
    })

    const registerIfAbsent = Effect.fn("Orders.registerIfAbsent")(function* (details: OrderDetails) {
      return yield* withLock(
        details.orderReqId,
        Effect.gen(function* () {
          if ((yield* store.get(details.orderReqId)) !== undefined) return false
          const now = new Date().toISOString()
          yield* commit(details.orderReqId, registerWrites(details, now, now))
          return true
        }),
      )
    })

    const get = Effect.fn("Orders.get")(function* (orderReqId: string) {
      const order = yield* store.get(orderReqId)
      if (order === undefined) return yield* NotFound.order(orderReqId)
      return yield* viewOf(order)
    })

    /** Initiate of an order that is no longer REGISTERED: idempotent while live, a conflict once finalised. */
    const initiatedBefore = Effect.fn("Orders.initiatedBefore")(function* (existing: StoredOrder) {
      const id = existing.details.orderReqId
      if (existing.status === "FINALISED") {
        return yield* new Conflict({
          code: "order_finalised",
          message: `order ${id} is finalised; it cannot be initiated again (use a new OrderReqID)`,
          details: [],
        })
      }
      if (existing.archived === true) {
        return yield* new Conflict({
          code: "order_archived",
          message: `order ${id} expired and was archived; it cannot be initiated again (use a new OrderReqID)`,
          details: [],
        })
      }
      // Idempotent: the same order, no second stream, nothing published again.
      yield* holders.ensure(id)
      return {
        Outcome: "already_submitted" as const,
        Message: `Order ${id} is already ${existing.status === "PAUSED" ? "submitted (paused)" : "submitted"}`,
        Order: yield* viewOf(existing),
        Watch: watchLinks(id),
      }
    })

    const initiate = Effect.fn("Orders.initiate")(function* (command: InitiateCommand, request: unknown) {
      const id = command.orderReqId
      yield* Effect.annotateCurrentSpan({ orderReqId: id })
      return yield* reported(
        "initiate",
        id,
        command.sessionId,
        request,
        withLock(
          id,
          Effect.gen(function* () {
            const existing = yield* store.get(id)
            if (existing !== undefined && existing.status !== "REGISTERED") return yield* initiatedBefore(existing)
            const details = command.details ?? existing?.details
            if (details === undefined) {
              return yield* NotFound.order(
                id,
                "register it first with POST /api/v1/orders, or send the order details inline in this request " +
                  "(BuyerID, Industry, Location, Products, DeliveryDate; Priority optional)",
              )
            }
            const notificationType = command.notificationType ?? details.notificationType
            if (notificationType === undefined) {
              return yield* InvalidRequest.of("the notification type is missing", [
                {
                  path: "body.NotificationType",
                  problem: 'Missing key (send "NotificationType" or "Notification type": GChat, Email or SMS)',
                },
              ])
            }
            const now = new Date().toISOString()
            const registeredAt = existing?.registeredAt ?? now
            const stored: StoredOrder = {
              details,
              status: "SUBMITTED",
              sessionId: command.sessionId,
              notificationType,
              registeredAt,
              submittedAt: now,
              updatedAt: now,
            }
            const acknowledgement = topicMessage({
              topic: Topics.BuyerAcknowledgements,
              key: MessageKeys.OrderSubmission,
              orderReqId: id,
              sessionId: command.sessionId,
              message: "Order Submitted",
              timestamp: now,
              details: {
                Status: "SUBMITTED",
                BuyerID: details.buyerId,
                Industry: details.industry,
                Priority: details.priority,
                NotificationType: notificationType,
                DeliveryDate: details.deliveryDate,
              },
            })
            const committed = yield* eventLog
              .commitIf(id, [{ key: Keys.order(id), field: "status", oneOf: ["", "REGISTERED"] }], {
                writes: submitWrites({
                  details,
                  writeDetails: command.details !== undefined,
                  sessionId: command.sessionId,
                  notificationType,
                  registeredAt,
                  now,
                }),
                extraOutbox: [acknowledgement],
              })
              .pipe(Effect.catch(eventLogFailure))
            if (!committed) {
              // Another replica initiated it between our read and our commit.
              const current = yield* store.get(id)
              if (current === undefined || current.status === "REGISTERED") {
                return yield* Unavailable.of("redis", `order ${id} changed while it was initiated; try again`)
              }
              return yield* initiatedBefore(current)
            }
            yield* holders.ensure(id)
            yield* Effect.logInfo("order submitted")
            return {
              Outcome: "submitted" as const,
              Message: "Order Submitted",
              Order: orderView(deriveOrderState(stored, [])),
              Watch: watchLinks(id),
            }
          }),
        ),
      )
    })

    const followUp = Effect.fn("Orders.followUp")(function* (command: FollowUpCommand, request: unknown) {
      const id = command.orderReqId
      yield* Effect.annotateCurrentSpan({ orderReqId: id, transactionUuid: command.transactionUuid })
      return yield* reported(
        "followup",
        id,
        command.sessionId,
        request,
        Effect.gen(function* () {
          yield* requireSubmitted(id, "a follow-up")
          const fingerprint = followUpFingerprint(command)
          if (command.transactionUuidGiven) {
            const earlier = yield* store.getFollowUp(id, command.transactionUuid)
            if (earlier !== undefined) {
              if (earlier.fingerprint !== fingerprint) {
                return yield* new Conflict({
                  code: "transaction_uuid_reused",
                  message: `TransactionUUID ${command.transactionUuid} was used for a different follow-up`,
                  details: [{ path: "body.TransactionUUID", problem: "already used for a different follow-up" }],
                })
              }
              return {
                OrderReqID: id,
                TransactionUUID: command.transactionUuid,
                FollowUpID: earlier.followUpId,
                Seq: earlier.seq,
                Duplicate: true,
                Results: (earlier.results ?? []).map(deliveryView),
              }
            }
          }
          const response = yield* processor
            .followUp({
              orderReqId: id,
              transactionUuid: command.transactionUuid,
              audienceProposalIds: [...command.audience],
              message: {
                urls: [...command.message.urls],
                messageType: command.message.messageType,
                text: command.message.text,
              },
            })
            .pipe(Effect.mapError(fromProcessorError))
          const results = response.results.map((result) => ({
            proposalId: result.proposalId,
            outcome:
              result.outcome === FollowUpOutcome.FOLLOW_UP_OUTCOME_EDIT_LOCK
                ? ("EDIT_LOCK" as const)
                : ("DELIVERED" as const),
            seq: result.seq,
          }))
          yield* commit(id, [
            followUpWrite(id, command.transactionUuid, {
              fingerprint,
              orderReqId: id,
              followUpId: response.followUpId,
              seq: response.seq,
              results,
            }),
          ])
          yield* awaitRecorded(id, Math.max(response.seq, ...results.map((result) => result.seq)))
          return {
            OrderReqID: id,
            TransactionUUID: command.transactionUuid,
            FollowUpID: response.followUpId,
            Seq: response.seq,
            Duplicate: false,
            Results: results.map(deliveryView),
          }
        }),
      )
    })

    const action = <Res extends { readonly seq: number }>(
      operation: "finalize" | "pause" | "resume",
      resultStatus: ActionResult["Status"],
      call: (orderReqId: string, transactionUuid: string) => Effect.Effect<Res, ProcessorCallError>,
    ) =>
      Effect.fn(`Orders.${operation}`)(function* (
        command: { readonly orderReqId: string; readonly transactionUuid: string },
        request: unknown,
      ) {
        const id = command.orderReqId
        yield* Effect.annotateCurrentSpan({ orderReqId: id, transactionUuid: command.transactionUuid })
        return yield* reported(
          operation,
          id,
          undefined,
          request,
          Effect.gen(function* () {
            yield* requireSubmitted(id, operation)
            const response = yield* call(id, command.transactionUuid).pipe(Effect.mapError(fromProcessorError))
            yield* holders.ensure(id)
            yield* awaitRecorded(id, response.seq)
            return { OrderReqID: id, TransactionUUID: command.transactionUuid, Status: resultStatus, Seq: response.seq }
          }),
        )
      })

    const finaliseAction = (command: FinaliseCommand) =>
      action("finalize", "FINALISED", (orderReqId, transactionUuid) =>
        processor.finalise({ orderReqId, transactionUuid, proposalId: command.proposalId ?? "" }),
      )
    const pauseAction = (command: PauseCommand) =>
      action("pause", "PAUSED", (orderReqId, transactionUuid) =>
        processor.pause({ orderReqId, transactionUuid, reason: command.reason ?? "" }),
      )
    const resumeAction = action("resume", "SUBMITTED", (orderReqId, transactionUuid) =>
      processor.resume({ orderReqId, transactionUuid }),
    )

    return Orders.of({
      register,
      report,
      rejected,
      registerIfAbsent,
      get,
      initiate,
      followUp,
      finalise: (command, request) => finaliseAction(command)(command, request),
      pause: (command, request) => pauseAction(command)(command, request),
      resume: (command, request) => resumeAction(command, request),
    })
  })

  static readonly layer: Layer.Layer<
    Orders,
    never,
    OrderStore | OrderEventLog | ProcessorClient | StreamHolder | RequestorConfig
  > = Layer.effect(Orders, Orders.make)
}
