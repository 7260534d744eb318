/**
 * The implementation of `OrderFailureReporting` (declared in `./api.ts`), the HttpApi middleware
 * of the order group, on the shared `reportingFailures` (`@dcent/shared/http/failedRequests`),
 * like the processor's `SellerFailureReporting`.
 *
 * - A request that does not match the endpoint's schema becomes a typed 400 (`invalid_request`,
 *   one detail per problem with its path, e.g. `body.Location.Lat`).
 * - Such a request, and a body not sent as JSON (415), is published to `REQ_failures` through
 *   `OrderFailureReports.report` — the same path the operations publish their own failures on (Key
 *   `ORD_SUBMISSION` for register/initiate, `ORD_UPDATES` for followup/finalize/pause/resume),
 *   with the reason and the request as it came. GETs are not published.
 * - A request refused by authentication (401, the `Authentication` middleware inside this one)
 *   is published the same way (never its credential: the request reported is the body).
 */
import { Unauthorized } from "@dcent/shared/auth/http"
import { reportingFailures } from "@dcent/shared/http/failedRequests"
import { Effect, Layer } from "effect"
import { InvalidRequest } from "../http/errors.ts"
import { OrderFailureReporting } from "./api.ts"
import { type Operation, OrderFailureReports } from "./failureReports.ts"
import { validOrderReqId } from "./schemas.ts"

/** Endpoint identifier → the operation named in `REQ_failures`. */
const operations: Readonly<Record<string, Operation>> = {
  register: "register",
  initiate: "initiate",
  followUp: "followup",
  finalize: "finalize",
  pause: "pause",
  resume: "resume",
}

export const OrderFailureReportingLive = Layer.effect(
  OrderFailureReporting,
  Effect.gen(function* () {
    const failureReports = yield* OrderFailureReports
    return reportingFailures({
      badRequest: (failure) =>
        new InvalidRequest({ code: failure.code, message: failure.message, details: failure.details }),
      // Only the 401s: `Orders` (and the handlers' policy checks) publish the operations' own
      // failures; here they would be published twice.
      failureOf: (error) =>
        error instanceof Unauthorized
          ? { status: 401, code: error.code, message: error.message, details: error.details }
          : undefined,
      orderIdOf: validOrderReqId,
      publish: (endpoint, failure, request) => {
        const operation = operations[endpoint.identifier]
        return operation === undefined ? Effect.void : failureReports.report(operation, failure, request)
      },
    })
  }),
)
