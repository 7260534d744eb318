/**
 * Renders the failures HttpApi and the router would answer with an empty body in the common
 * error body instead: unknown route → 404 `not_found`, a request that does not match the
 * endpoint's schema → 400 `invalid_request` with one detail per problem, an oversized body →
 * 413 `payload_too_large`, anything unexpected → 500 `internal` (logged with its cause).
 */
import { Cause, Effect } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { errorBody, errorResponse, issueDetails } from "./errors.ts"

const requestKinds: ReadonlySet<string> = new Set(["Params", "Headers", "Query", "Payload"])

const kindPath: Record<string, string> = { Params: "path", Headers: "headers", Query: "query", Payload: "body" }

const render = (cause: Cause.Cause<unknown>) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    for (const reason of cause.reasons) {
      const error = reason._tag === "Fail" ? reason.error : reason._tag === "Die" ? reason.defect : undefined
      const inner = HttpServerError.isHttpServerError(error) ? error.reason : error
      if (typeof inner === "object" && inner !== null && "_tag" in inner) {
        if (inner._tag === "RouteNotFound") {
          return errorResponse(404, errorBody("not_found", `no route for ${request.method} ${request.url}`))
        }
        if (inner._tag === "RequestParseError") {
          return "reason" in inner && inner.reason === "BodyTooLarge"
            ? errorResponse(413, errorBody("payload_too_large", "the request body is too large"))
            : errorResponse(400, errorBody("invalid_request", "the request could not be parsed"))
        }
      }
      if (HttpApiError.HttpApiPayloadTooLarge.is(error)) {
        return errorResponse(413, errorBody("payload_too_large", error.message))
      }
      if (HttpApiError.HttpApiSchemaError.is(error) && requestKinds.has(error.kind)) {
        const where = kindPath[error.kind] ?? error.kind
        return errorResponse(
          400,
          errorBody("invalid_request", `the request ${where} is invalid`, issueDetails(error.cause.issue, where)),
        )
      }
    }
    if (Cause.hasInterruptsOnly(cause)) return yield* Effect.failCause(cause)
    yield* Effect.logError("unhandled error", cause)
    return errorResponse(500, errorBody("internal", "internal server error"))
  })

/** Global router middleware; add it to the routes served by `HttpRouter.serve`. */
export const ErrorRendering = HttpRouter.middleware((effect) => Effect.catchCause(effect, (cause) => render(cause)), {
  global: true,
})
