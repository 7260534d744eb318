/**
 * `REQ_failures`: every failed buyer operation is published there (with the reason and the
 * request), added to the outbox (`Outbox.add`) like any other topic message. The one
 * publishing path: `Orders` reports its operations' failures, the order handlers their policy
 * refusals, and the HttpApi middleware (`./failures.ts`) requests refused before they reach a
 * handler.
 */
import { Topics } from "@dcent/shared/broker/topics"
import type { FailedRequest, RequestFailure } from "@dcent/shared/http/failedRequests"
import { MessageKeys, topicMessage } from "@dcent/shared/orders/topicMessage"
import { Outbox } from "@dcent/shared/outbox/Outbox"
import { PendingReports } from "@dcent/shared/outbox/PendingReports"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { statusOf, toApiError } from "../http/errors.ts"
import type { Operation } from "./domain.ts"
import type { OrderError } from "./errors.ts"
import { OrderStore } from "./OrderStore.ts"

export type { Operation }

/** The `Key` of an operation's `REQ_failures` message (the spec's topic table). */
export const failureKeys: Readonly<Record<Operation, string>> = {
  register: MessageKeys.OrderSubmission,
  initiate: MessageKeys.OrderSubmission,
  followup: MessageKeys.OrderUpdates,
  finalize: MessageKeys.OrderUpdates,
  pause: MessageKeys.OrderUpdates,
  resume: MessageKeys.OrderUpdates,
}

/** An operation's error as `REQ_failures` reports it: the REST answer the buyer got (`../http/errors.ts`). */
export const failureOf = (error: OrderError): RequestFailure => {
  const answer = toApiError(error)
  return { status: statusOf(answer), code: answer.code, message: answer.message, details: answer.details }
}

export interface OrderFailureReportsShape {
  /**
   * Publishes a failed `operation` (Key per `failureKeys`; best effort: a failure to publish is
   * logged, and while Redis is down the report waits in `PendingReports`). Without a valid order
   * id the message key is `unknown`.
   */
  readonly report: (operation: Operation, failure: RequestFailure, failed: FailedRequest) => Effect.Effect<void>
  /** Fails with `error` after publishing it (for requests refused before `Orders`). */
  readonly rejected: (
    operation: Operation,
    error: OrderError,
    failed: FailedRequest,
  ) => Effect.Effect<never, OrderError>
  /** `effect`, with its failure published (and its logs and spans annotated with the order). */
  readonly reported: <A, E extends OrderError, R>(
    operation: Operation,
    failed: FailedRequest & { readonly orderReqId: string },
    effect: Effect.Effect<A, E, R>,
  ) => Effect.Effect<A, E, R>
}

export class OrderFailureReports extends Context.Service<OrderFailureReports, OrderFailureReportsShape>()(
  "dcent/requestor/OrderFailureReports",
) {
  static readonly make = Effect.gen(function* () {
    const store = yield* OrderStore
    const outbox = yield* Outbox
    const pendingReports = yield* Effect.serviceOption(PendingReports)

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
          timestamp: DateTime.formatIso(yield* DateTime.now),
          fields: {
            Operation: operation,
            Reason: failure.code,
            HttpStatus: failure.status,
            Problems: failure.details,
            Request: failed.request ?? null,
          },
        })
        yield* outbox.add(orderReqId, [message]).pipe(
          // Redis (the outbox) is down: hold the report and commit it once Redis is back.
          Effect.catchIf(
            (error) => error.reason === "Unavailable" && Option.isSome(pendingReports),
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
      failed: FailedRequest & { readonly orderReqId: string },
      effect: Effect.Effect<A, E, R>,
    ) =>
      effect.pipe(
        Effect.tapError((error) => report(operation, failureOf(error), failed)),
        Effect.annotateLogs({ orderReqId: failed.orderReqId }),
        Effect.annotateSpans({ orderReqId: failed.orderReqId }),
      )

    return OrderFailureReports.of({ report, rejected, reported })
  })

  static readonly layer: Layer.Layer<OrderFailureReports, never, OrderStore | Outbox> = Layer.effect(
    OrderFailureReports,
    OrderFailureReports.make,
  )
}
