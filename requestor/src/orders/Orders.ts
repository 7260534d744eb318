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
 * Beside it: `failureReports.ts` (publishing `REQ_failures`), `processorErrors.ts` (a processor
 * gRPC failure as the buyer's error), `fingerprint.ts` (canonical JSON for idempotency checks).
 *
 * Changes of one order are serialised within the process (`serialiseByKey`, as in the processor). Across requestor
 * replicas, initiate's REGISTERED/unknown → SUBMITTED transition is a compare-and-set inside the
 * atomic commit (`OrderEventLog.commitIf`): of two replicas initiating one order at once, exactly
 * one commits (one `BUYER_ACKNOWLEDGEMENTS`), the other answers like a repeated initiate.
 */

import { Topics } from "@dcent/shared/broker/topics"
import { serialiseByKey } from "@dcent/shared/concurrency/serialiseByKey"
import { FollowUpOutcome } from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import { OrderEventLog, type StateWrite } from "@dcent/shared/orders/OrderEventLog"
import { MessageKeys, topicMessage } from "@dcent/shared/orders/topicMessage"
import { Context, DateTime, Effect, Layer, Stream } from "effect"
import { watchLinks } from "../buyer-streams/links.ts"
import { RequestorConfig } from "../config.ts"
import { type ProcessorCallError, ProcessorClient } from "../processor/ProcessorClient.ts"
import { StreamHolder } from "../processor-streams/StreamHolder.ts"
import { decodeArchivedEvents } from "./archivedEvents.ts"
import type {
  FinaliseCommand,
  FollowUpCommand,
  InitiateCommand,
  OrderDetails,
  PauseCommand,
  ResumeCommand,
  StoredOrder,
} from "./domain.ts"
import {
  IdempotencyKeyReused,
  NotificationTypeMissing,
  OrderChangedDuringInitiate,
  OrderDetailsMissing,
  OrderNotFound,
  type ProcessorError,
  type StorageUnavailable,
  storageUnavailableOrDefect,
  WrongOrderState,
} from "./errors.ts"
import { OrderFailureReports } from "./failureReports.ts"
import { followUpFingerprint, sameDetails } from "./fingerprint.ts"
import { followUpWrite, Keys, OrderStore, registerWrites, type StoredFollowUp, submitWrites } from "./OrderStore.ts"
import { fromProcessorError } from "./processorErrors.ts"
import { deriveOrderState } from "./state.ts"
import {
  type ActionResult,
  type FollowUpDelivery,
  type FollowUpResult,
  type InitiateResult,
  type OrderView,
  orderView,
  type RegisterResult,
} from "./views.ts"

export interface OrdersShape {
  readonly register: (
    details: OrderDetails,
    request: unknown,
  ) => Effect.Effect<RegisterResult, WrongOrderState | StorageUnavailable>
  readonly get: (orderReqId: string) => Effect.Effect<OrderView, OrderNotFound | StorageUnavailable>
  readonly initiate: (
    command: InitiateCommand,
    request: unknown,
  ) => Effect.Effect<
    InitiateResult,
    OrderDetailsMissing | NotificationTypeMissing | WrongOrderState | OrderChangedDuringInitiate | StorageUnavailable
  >
  readonly followUp: (command: FollowUpCommand, request: unknown) => Effect.Effect<FollowUpResult, ProcessorActionError>
  readonly finalise: (command: FinaliseCommand, request: unknown) => Effect.Effect<ActionResult, ProcessorActionError>
  readonly pause: (command: PauseCommand, request: unknown) => Effect.Effect<ActionResult, ProcessorActionError>
  readonly resume: (command: ResumeCommand, request: unknown) => Effect.Effect<ActionResult, ProcessorActionError>
  /** `register` unless the order exists (demo data); true when it registered. */
  readonly registerIfAbsent: (details: OrderDetails) => Effect.Effect<boolean, StorageUnavailable>
}

/** The failures of an operation the processor carries out (follow-up, finalize, pause, resume). */
export type ProcessorActionError =
  | OrderNotFound
  | WrongOrderState
  | IdempotencyKeyReused
  | ProcessorError
  | StorageUnavailable

const deliveryView = (result: NonNullable<StoredFollowUp["results"]>[number]): FollowUpDelivery => ({
  ProposalID: result.proposalId,
  Outcome: result.outcome,
  Seq: result.seq,
})

export class Orders extends Context.Service<Orders, OrdersShape>()("dcent/requestor/Orders") {
  static readonly make = Effect.gen(function* () {
    const store = yield* OrderStore
    const eventLog = yield* OrderEventLog
    const processor = yield* ProcessorClient
    const holders = yield* StreamHolder
    const config = yield* RequestorConfig
    const { reported } = yield* OrderFailureReports
    const withLock = serialiseByKey()
    const watch = (orderReqId: string) => watchLinks(orderReqId, config.grpcPort)

    const commit = (orderReqId: string, writes: ReadonlyArray<StateWrite>) =>
      eventLog.commitWrites(orderReqId, writes).pipe(Effect.catch(storageUnavailableOrDefect))

    /** The order's events: from Redis, or from the archive once it left Redis. */
    const eventsOf = (order: StoredOrder) =>
      Effect.gen(function* () {
        const id = order.details.orderReqId
        if (order.archived !== true) {
          const events = yield* eventLog.read(id, 0).pipe(Effect.catch(storageUnavailableOrDefect))
          // An ended order always has events: none means it was archived since its record was read.
          if (events.length > 0 || (order.status !== "FINALISED" && order.status !== "PAUSED")) return events
        }
        return yield* store.archivedEvents(id, 0).pipe(Effect.flatMap(decodeArchivedEvents))
      })

    const viewOf = (order: StoredOrder) =>
      eventsOf(order).pipe(Effect.map((events) => orderView(deriveOrderState(order, events))))

    /** Waits (bounded) until the event at `seq` is recorded, so a `GET` after the answer shows it. */
    const awaitRecorded = (orderReqId: string, seq: number) =>
      seq <= 0
        ? Effect.void
        : eventLog
            .follow(orderReqId, seq - 1)
            .pipe(Stream.take(1), Stream.runDrain, Effect.timeout("3 seconds"), Effect.ignore)

    const requireSubmitted = Effect.fn("Orders.requireSubmitted")(function* (
      orderReqId: string,
      operation: "followup" | "finalize" | "pause" | "resume",
    ) {
      const order = yield* store.get(orderReqId)
      if (order === undefined) return yield* new OrderNotFound({ orderReqId })
      if (order.status === "REGISTERED") {
        return yield* new WrongOrderState({ orderReqId, operation, reason: "not_submitted", status: order.status })
      }
      return order
    })

    const register = Effect.fn("Orders.register")(function* (details: OrderDetails, request: unknown) {
      const id = details.orderReqId
      return yield* reported(
        "register",
        { orderReqId: id, sessionId: details.sessionId, request },
        withLock(
          id,
          Effect.gen(function* () {
            const existing = yield* store.get(id)
            const now = DateTime.formatIso(yield* DateTime.now)
            if (existing !== undefined && sameDetails(existing.details, details)) {
              return { Outcome: "unchanged" as const, Order: yield* viewOf(existing) }
            }
            if (existing !== undefined && existing.status !== "REGISTERED") {
              return yield* new WrongOrderState({
                orderReqId: id,
                operation: "register",
                reason: "already_submitted",
                status: existing.status,
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
          const now = DateTime.formatIso(yield* DateTime.now)
          yield* commit(details.orderReqId, registerWrites(details, now, now))
          return true
        }),
      )
    })

    const get = Effect.fn("Orders.get")(function* (orderReqId: string) {
      const order = yield* store.get(orderReqId)
      if (order === undefined) return yield* new OrderNotFound({ orderReqId })
      return yield* viewOf(order)
    })

    /** Initiate of an order that is no longer REGISTERED: idempotent while live, a conflict once finalised. */
    const initiatedBefore = Effect.fn("Orders.initiatedBefore")(function* (existing: StoredOrder) {
      const id = existing.details.orderReqId
      if (existing.status === "FINALISED") {
        return yield* new WrongOrderState({
          orderReqId: id,
          operation: "initiate",
          reason: "finalised",
          status: existing.status,
        })
      }
      if (existing.archived === true) {
        return yield* new WrongOrderState({
          orderReqId: id,
          operation: "initiate",
          reason: "archived",
          status: existing.status,
        })
      }
      // Idempotent: the same order, no second stream, nothing published again.
      yield* holders.ensure(id)
      return {
        Outcome: "already_submitted" as const,
        Message: `Order ${id} is already ${existing.status === "PAUSED" ? "submitted (paused)" : "submitted"}`,
        Order: yield* viewOf(existing),
        Watch: watch(id),
      }
    })

    const initiate = Effect.fn("Orders.initiate")(function* (command: InitiateCommand, request: unknown) {
      const id = command.orderReqId
      yield* Effect.annotateCurrentSpan({ orderReqId: id })
      return yield* reported(
        "initiate",
        { orderReqId: id, sessionId: command.sessionId, request },
        withLock(
          id,
          Effect.gen(function* () {
            const existing = yield* store.get(id)
            if (existing !== undefined && existing.status !== "REGISTERED") return yield* initiatedBefore(existing)
            const details = command.details ?? existing?.details
            if (details === undefined) return yield* new OrderDetailsMissing({ orderReqId: id })
            const notificationType = command.notificationType ?? details.notificationType
            if (notificationType === undefined) return yield* new NotificationTypeMissing({ orderReqId: id })
            const now = DateTime.formatIso(yield* DateTime.now)
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
              .pipe(Effect.catch(storageUnavailableOrDefect))
            if (!committed) {
              // Another replica initiated it between our read and our commit.
              const current = yield* store.get(id)
              if (current === undefined || current.status === "REGISTERED") {
                return yield* new OrderChangedDuringInitiate({ orderReqId: id })
              }
              return yield* initiatedBefore(current)
            }
            yield* holders.ensure(id)
            yield* Effect.logInfo("order submitted")
            return {
              Outcome: "submitted" as const,
              Message: "Order Submitted",
              Order: orderView(deriveOrderState(stored, [])),
              Watch: watch(id),
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
        { orderReqId: id, sessionId: command.sessionId, request },
        Effect.gen(function* () {
          yield* requireSubmitted(id, "followup")
          const fingerprint = followUpFingerprint(command)
          if (command.transactionUuidGiven) {
            const earlier = yield* store.getFollowUp(id, command.transactionUuid)
            if (earlier !== undefined) {
              if (earlier.fingerprint !== fingerprint) {
                return yield* new IdempotencyKeyReused({ orderReqId: id, transactionUuid: command.transactionUuid })
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
            .pipe(Effect.mapError(fromProcessorError(id)))
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

    /** finalize / pause / resume: the processor's unary call, then the event it produced is awaited on the order's stream. */
    const action = <Res extends { readonly seq: number }>(
      operation: "finalize" | "pause" | "resume",
      resultStatus: ActionResult["Status"],
      command: { readonly orderReqId: string; readonly transactionUuid: string },
      request: unknown,
      call: Effect.Effect<Res, ProcessorCallError>,
    ) => {
      const id = command.orderReqId
      return reported(
        operation,
        { orderReqId: id, sessionId: undefined, request },
        Effect.gen(function* () {
          yield* Effect.annotateCurrentSpan({ orderReqId: id, transactionUuid: command.transactionUuid })
          yield* requireSubmitted(id, operation)
          const response = yield* call.pipe(Effect.mapError(fromProcessorError(id)))
          yield* holders.ensure(id)
          yield* awaitRecorded(id, response.seq)
          return { OrderReqID: id, TransactionUUID: command.transactionUuid, Status: resultStatus, Seq: response.seq }
        }),
      )
    }

    const finalise = Effect.fn("Orders.finalize")(function* (command: FinaliseCommand, request: unknown) {
      const { orderReqId, transactionUuid } = command
      return yield* action(
        "finalize",
        "FINALISED",
        command,
        request,
        processor.finalise({ orderReqId, transactionUuid, proposalId: command.proposalId ?? "" }),
      )
    })

    const pause = Effect.fn("Orders.pause")(function* (command: PauseCommand, request: unknown) {
      const { orderReqId, transactionUuid } = command
      return yield* action(
        "pause",
        "PAUSED",
        command,
        request,
        processor.pause({ orderReqId, transactionUuid, reason: command.reason ?? "" }),
      )
    })

    const resume = Effect.fn("Orders.resume")(function* (command: ResumeCommand, request: unknown) {
      const { orderReqId, transactionUuid } = command
      return yield* action("resume", "SUBMITTED", command, request, processor.resume({ orderReqId, transactionUuid }))
    })

    return Orders.of({ register, registerIfAbsent, get, initiate, followUp, finalise, pause, resume })
  })

  static readonly layer: Layer.Layer<
    Orders,
    never,
    OrderStore | OrderEventLog | ProcessorClient | StreamHolder | RequestorConfig | OrderFailureReports
  > = Layer.effect(Orders, Orders.make)
}
