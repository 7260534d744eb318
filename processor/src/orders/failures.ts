/**
 * The implementation of `SellerFailureReporting` (declared in `./api.ts`), the HttpApi
 * middleware of the seller-facing groups.
 *
 * - A request that does not match the endpoint's schema becomes a typed 400 (`invalid_request`,
 *   one detail per problem with its path, e.g. `body.ProposalDictObj.Price`).
 * - Every failed seller-side operation (POST/DELETE; not the GETs) is published to
 *   `PRP_FAILURES` (Key `PRP_SUBMISSION`) through the outbox with the reason, the status and the
 *   original request body. Publishing never changes the response; when it fails it is logged.
 */
import { issueDetails } from "@dcent/shared/http/errors"
import { Effect, Layer, Option } from "effect"
import { HttpServerRequest } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { ApiBadRequest, type ApiError, statusOf } from "../http/errors.ts"
import { SellerFailureReporting } from "./api.ts"
import { idProblem } from "./ids.ts"
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

const parseJson = (text: string): unknown => {
  if (text === "") return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const slots: Record<string, string> = { Params: "path", Query: "query", Payload: "body", Headers: "headers" }

/** The operation names used in `PRP_FAILURES`. */
const operations: Record<string, string> = {
  submit: "proposal-submission",
  create: "seller-followup",
  lock: "edit-lock",
  release: "edit-lock-release",
  releaseByQuery: "edit-lock-release",
}

/** The order id of a failed request: from the body or the query, when it is a valid id. */
const orderIdOf = (body: unknown, query: Record<string, unknown>): string | undefined => {
  const fromBody =
    typeof body === "object" && body !== null
      ? ((body as Record<string, unknown>).OrderReqID ?? (body as Record<string, unknown>).OrderReqId)
      : undefined
  const candidate = fromBody ?? query.OrderReqID
  return typeof candidate === "string" && idProblem(candidate) === undefined ? candidate : undefined
}

export const SellerFailureReportingLive = Layer.effect(
  SellerFailureReporting,
  Effect.gen(function* () {
    const orders = yield* Orders

    const report = (operation: string, error: ApiError) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const text = yield* request.text.pipe(Effect.orElseSucceed(() => ""))
        const body = parseJson(text)
        const query = Object.fromEntries(new URL(request.url, "http://localhost").searchParams)
        const orderReqId = orderIdOf(body, query)
        const state = orderReqId === undefined ? Option.none() : yield* orders.get(orderReqId)
        const entry = proposalFailure({
          orderReqId: orderReqId ?? "unknown",
          sessionId: Option.match(state, { onNone: () => "", onSome: (order) => order.details.sessionId }),
          operation,
          code: error.code,
          reason: error.message,
          status: statusOf(error),
          details: error.details,
          request: body ?? (text !== "" ? text : Object.keys(query).length > 0 ? query : null),
        })
        yield* orders.publish(orderReqId ?? "unknown", [entry])
      }).pipe(
        Effect.catchCause((cause) =>
          Effect.logWarning("could not publish PRP_FAILURES", cause).pipe(Effect.annotateLogs({ operation })),
        ),
      )

    return (httpEffect, { endpoint }) =>
      Effect.catch(httpEffect, (error) => {
        let apiError: ApiError | undefined
        if (HttpApiError.HttpApiSchemaError.is(error) && slots[error.kind] !== undefined) {
          const slot = slots[error.kind]!
          apiError = new ApiBadRequest({
            code: "invalid_request",
            message: `the request ${slot} is invalid`,
            details: issueDetails(error.cause.issue, slot),
          })
        } else if (isApiError(error)) {
          apiError = error
        }
        if (apiError === undefined) return Effect.fail(error)
        const failed = Effect.fail(apiError as never)
        if (endpoint.method === "GET" || apiError._tag === "ApiUnavailable") return failed
        return report(operations[endpoint.identifier] ?? endpoint.identifier, apiError).pipe(Effect.andThen(failed))
      })
  }),
)
