/**
 * What the failure-reporting HttpApi middlewares of both services share (the requestor's
 * `REQ_failures`, the processor's `PRP_FAILURES`; the spec: every failed operation is also
 * published, with its reason and the request).
 *
 * `reportingFailures(options)` is the middleware function. When the wrapped endpoint fails:
 *
 * - a request that does not match the endpoint's schema (path, query, headers or body — malformed
 *   JSON too) becomes the service's typed 400 (`options.badRequest`): `invalid_request`, one
 *   detail per problem with its path (`body.Location.Lat`);
 * - an error the service wants published (`options.failureOf`) is answered unchanged;
 * - a 415 (a body not sent as JSON; rendered as the common error body by `ErrorRendering`) is
 *   answered unchanged;
 *
 * and, unless the endpoint is a GET, `options.publish` is called first with the failure and the
 * request as it came (`readFailedRequest`). Anything else passes through untouched. Publishing
 * must not fail (the service logs its own publishing problems); it never changes the response.
 */
import { Effect, Option } from "effect"
import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "effect/http"
import { type HttpApiEndpoint, HttpApiError } from "effect/http-api"
import { type ErrorDetail, issueDetails, unsupportedMediaType } from "./errors.ts"

/** A failed request as the failure topics report it (and as its error body says). */
export interface RequestFailure {
  readonly status: number
  readonly code: string
  readonly message: string
  readonly details: ReadonlyArray<ErrorDetail>
}

/** The request of a failure, as it came. */
export interface FailedRequest {
  /** The JSON body; the raw text when it is not JSON; the query when there is no body; else `null`. */
  readonly request: unknown
  /** The order the request names (`OrderReqID`/`OrderReqId` in the body, the path or the query), when valid. */
  readonly orderReqId: string | undefined
  /** `SessionID` of the body, when there is one. */
  readonly sessionId: string | undefined
}

const slots: Readonly<Record<string, string>> = { Params: "path", Query: "query", Payload: "body", Headers: "headers" }

/** A request that does not match its endpoint's schema, as a 400 `invalid_request`; else `undefined`. */
export const schemaFailure = (error: unknown): RequestFailure | undefined => {
  if (!HttpApiError.HttpApiSchemaError.is(error)) return undefined
  const slot = slots[error.kind]
  if (slot === undefined) return undefined
  return {
    status: 400,
    code: "invalid_request",
    message: `the request ${slot} is invalid`,
    details: issueDetails(error.cause.issue, slot),
  }
}

/** The 415 HttpApi answers a body with another content type than the endpoint's (JSON). */
export const unsupportedMediaTypeFailure: RequestFailure = { status: 415, ...unsupportedMediaType.error }

const notJson = Symbol("notJson")

const parseJson = (text: string): unknown => {
  if (text === "") return notJson
  try {
    return JSON.parse(text)
  } catch {
    return notJson
  }
}

const field = (value: unknown, name: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined

/**
 * The current request as it came: its body re-read (HttpApi has read it already; the text is
 * kept), and the order id it names, normalised by `orderIdOf` (`undefined` when not a valid id).
 */
export const readFailedRequest = (
  orderIdOf: (candidate: string) => string | undefined,
): Effect.Effect<FailedRequest, never, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* request.text.pipe(Effect.orElseSucceed(() => ""))
    const body = parseJson(text)
    const query: Record<string, string> = Object.fromEntries(new URL(request.url, "http://localhost").searchParams)
    const params = Option.match(yield* Effect.serviceOption(HttpRouter.RouteContext), {
      onNone: () => ({}) as Readonly<Record<string, string | undefined>>,
      onSome: (route) => route.params,
    })
    const candidates = [field(body, "OrderReqID"), field(body, "OrderReqId"), params.OrderReqID, query.OrderReqID]
    const orderReqId = candidates
      .filter((candidate): candidate is string => typeof candidate === "string")
      .map(orderIdOf)
      .find((id) => id !== undefined)
    const sessionId = field(body, "SessionID")
    return {
      request: body !== notJson ? body : text !== "" ? text : Object.keys(query).length > 0 ? query : null,
      orderReqId,
      sessionId: typeof sessionId === "string" ? sessionId : undefined,
    }
  })

export interface ReportingFailuresOptions<Bad> {
  /** The service's typed 400 for a request that does not match its endpoint's schema. */
  readonly badRequest: (failure: RequestFailure) => Bad
  /** The other errors to publish, as failures (default: none). */
  readonly failureOf?: (error: unknown) => RequestFailure | undefined
  /** The order id a request names, normalised, or `undefined` when `candidate` is not a valid id. */
  readonly orderIdOf: (candidate: string) => string | undefined
  /** Publishes one failure (never for a GET). Must not fail: log instead. */
  readonly publish: (
    endpoint: HttpApiEndpoint.Top,
    failure: RequestFailure,
    request: FailedRequest,
  ) => Effect.Effect<void>
}

/** The middleware function of a failure-reporting `HttpApiMiddleware` (see the module comment). */
export const reportingFailures =
  <Bad>(options: ReportingFailuresOptions<Bad>) =>
  <E, R>(
    httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    { endpoint }: { readonly endpoint: HttpApiEndpoint.Top },
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E | Bad, R | HttpServerRequest.HttpServerRequest> => {
    const publish = (failure: RequestFailure) =>
      endpoint.method === "GET"
        ? Effect.void
        : readFailedRequest(options.orderIdOf).pipe(
            Effect.flatMap((request) => options.publish(endpoint, failure, request)),
          )
    return httpEffect.pipe(
      Effect.tap((response) => (response.status === 415 ? publish(unsupportedMediaTypeFailure) : Effect.void)),
      Effect.catch((error): Effect.Effect<never, E | Bad, HttpServerRequest.HttpServerRequest> => {
        const invalid = schemaFailure(error)
        if (invalid !== undefined)
          return publish(invalid).pipe(Effect.andThen(Effect.fail(options.badRequest(invalid))))
        const failure = options.failureOf?.(error)
        if (failure !== undefined) return publish(failure).pipe(Effect.andThen(Effect.fail(error)))
        return Effect.fail(error)
      }),
    )
  }
