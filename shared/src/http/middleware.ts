/**
 * Renders the failures HttpApi and the router would answer with an empty or plain-text body in
 * the common error body instead: unknown route → 404 `not_found`, a request that does not match
 * the endpoint's schema → 400 `invalid_request` with one detail per problem, a body that is not
 * sent as JSON → 415 `unsupported_media_type`, an oversized body → 413 `payload_too_large`,
 * anything unexpected → 500 `internal` (logged with its cause).
 */
import { Cause, Effect } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest, type HttpServerResponse } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { errorBody, errorResponse, unsupportedMediaType } from "./errors.ts"
import { schemaFailure } from "./failedRequests.ts"

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
      const invalid = schemaFailure(error)
      if (invalid !== undefined) {
        return errorResponse(400, errorBody(invalid.code, invalid.message, invalid.details))
      }
    }
    if (Cause.hasInterruptsOnly(cause)) return yield* Effect.failCause(cause)
    yield* Effect.logError("unhandled error", cause)
    return errorResponse(500, errorBody("internal", "internal server error"))
  })

/**
 * HttpApi answers a body whose content type the endpoint does not accept with a plain-text 415
 * (`Unsupported content-type: ...`) as a response, not as an error; every body here is JSON.
 */
const jsonUnsupportedMediaType = (response: HttpServerResponse.HttpServerResponse) =>
  response.status === 415 && !("contentType" in response.body && /json/i.test(response.body.contentType ?? ""))
    ? errorResponse(415, unsupportedMediaType)
    : response

/** Global router middleware; add it to the routes served by `HttpRouter.serve`. */
export const ErrorRendering = HttpRouter.middleware(
  (effect) => Effect.catchCause(effect, (cause) => render(cause)).pipe(Effect.map(jsonUnsupportedMediaType)),
  { global: true },
)
