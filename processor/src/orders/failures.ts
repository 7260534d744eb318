/**
 * The implementation of `SellerFailureReporting` (declared in `./api.ts`), the HttpApi
 * middleware of the seller-facing groups, on the shared `reportingFailures`
 * (`@dcent/shared/http/failedRequests`).
 *
 * - A request that does not match the endpoint's schema becomes a typed 400 (`invalid_request`,
 *   one detail per problem with its path, e.g. `body.ProposalDictObj.Price`).
 * - Every failed seller-side operation (POST/DELETE; not the GETs) is published to
 *   `PRP_FAILURES` (Key `PRP_SUBMISSION`) through the outbox with the reason, the status and the
 *   original request body — schema errors, the typed errors of the handlers (a 503 too: while
 *   Redis, where the outbox lives, is down, the report waits in `PendingReports`) and a body not
 *   sent as JSON (415). Publishing never changes the response; when it fails it is logged.
 */

import { Unauthorized } from "@dcent/shared/auth/http"
import { type RequestFailure, reportingFailures } from "@dcent/shared/http/failedRequests"
import { isId } from "@dcent/shared/orders/wire"
import { PendingReports } from "@dcent/shared/outbox/PendingReports"
import { DateTime, Effect, Layer, Option } from "effect"
import { ApiBadRequest, type ApiError, statusOf } from "../http/errors.ts"
import { SellerFailureReporting } from "./api.ts"
import { Orders } from "./Orders.ts"
import { proposalFailure } from "./outbox.ts"

const apiErrorTags: ReadonlySet<string> = new Set([
  "ApiBadRequest",
  "ApiForbidden",
  "ApiNotFound",
  "ApiConflict",
  "ApiUnavailable",
])

const isApiError = (error: unknown): error is ApiError =>
  typeof error === "object" && error !== null && apiErrorTags.has((error as { _tag?: string })._tag ?? "")

/** The operation names used in `PRP_FAILURES`. */
const operations: Record<string, string> = {
  submit: "proposal-submission",
  create: "seller-followup",
  lock: "edit-lock",
  release: "edit-lock-release",
  releaseByQuery: "edit-lock-release",
}

/**
 * The handlers' typed errors, all published — a 503 too: its report waits in `PendingReports`
 * until the Redis that is down (where the outbox lives) is back.
 */
const failureOf = (error: unknown): RequestFailure | undefined =>
  isApiError(error)
    ? { status: statusOf(error), code: error.code, message: error.message, details: error.details }
    : // Refused by the authentication inside this middleware (401): published too.
      error instanceof Unauthorized
      ? { status: 401, code: error.code, message: error.message, details: error.details }
      : undefined

export const SellerFailureReportingLive = Layer.effect(
  SellerFailureReporting,
  Effect.gen(function* () {
    const orders = yield* Orders
    const pendingReports = yield* Effect.serviceOption(PendingReports)

    return reportingFailures({
      badRequest: (failure) =>
        new ApiBadRequest({ code: failure.code, message: failure.message, details: failure.details }),
      failureOf,
      orderIdOf: (candidate) => (isId(candidate) ? candidate : undefined),
      publish: (endpoint, failure, { orderReqId, request }) => {
        const operation = operations[endpoint.identifier] ?? endpoint.identifier
        return Effect.gen(function* () {
          const state =
            orderReqId === undefined
              ? Option.none()
              : yield* orders.get(orderReqId).pipe(Effect.orElseSucceed(() => Option.none()))
          const entry = proposalFailure({
            orderReqId: orderReqId ?? "unknown",
            sessionId: Option.match(state, { onNone: () => "", onSome: (order) => order.details.sessionId }),
            operation,
            code: failure.code,
            reason: failure.message,
            status: failure.status,
            details: failure.details,
            request,
            timestamp: DateTime.formatIso(yield* DateTime.now),
          })
          yield* orders.publish(orderReqId ?? "unknown", [entry]).pipe(
            // Redis (the outbox) is down: hold the report and commit it once Redis is back.
            Effect.catch((error) =>
              Option.isSome(pendingReports)
                ? pendingReports.value.defer(orderReqId ?? "unknown", [entry])
                : Effect.fail(error),
            ),
          )
        }).pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning("could not publish PRP_FAILURES", cause).pipe(Effect.annotateLogs({ operation })),
          ),
        )
      },
    })
  }),
)
