/**
 * The one error body every REST endpoint of both services answers with:
 *
 *   { "error": { "code": "not_ready", "message": "...", "details": [{ "path": "redis", "problem": "..." }] } }
 *
 * `code` is a stable snake_case identifier for programs, `message` is for humans, `details`
 * lists the individual problems (a request field, a dependency, ...), possibly empty.
 */
import { Schema, SchemaIssue } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiSchema } from "effect/http-api"

export const ErrorDetail = Schema.Struct({
  /** What the problem is about: a JSON path into the request (`products[0].quantity`), a dependency name, ... */
  path: Schema.String,
  problem: Schema.String,
}).annotate({ identifier: "ErrorDetail" })
export type ErrorDetail = typeof ErrorDetail.Type

export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    code: Schema.String,
    message: Schema.String,
    details: Schema.Array(ErrorDetail),
  }),
}).annotate({ identifier: "ErrorBody", description: "The error body of every endpoint" })
export type ErrorBody = typeof ErrorBody.Type

export const errorBody = (code: string, message: string, details: ReadonlyArray<ErrorDetail> = []): ErrorBody => ({
  error: { code, message, details },
})

/**
 * An error class on the wire as the common error body at `status`, with response `headers`
 * (`Retry-After`, `WWW-Authenticate`, or none): the body carries the error's code, message and
 * details; `make` rebuilds the error from them and the headers, `headersOf` gives its headers.
 */
export const onWireWithHeaders =
  <S extends Schema.Top & { readonly Type: ErrorBody["error"] }, Headers extends Schema.Struct.Fields>(
    status: number,
    headers: Headers,
    make: (error: ErrorBody["error"], headers: Schema.Struct.Type<Headers>) => S["Type"],
    headersOf: (error: S["Type"]) => Schema.Struct.Type<Headers>,
  ) =>
  (self: S) =>
    self.pipe(
      HttpApiSchema.encodeToWithHeaders(
        { body: ErrorBody.pipe(HttpApiSchema.status(status)), headers },
        {
          decode: (wire) => make(wire.body.error, wire.headers),
          encode: (error) => ({
            body: errorBody(error.code, error.message, error.details),
            headers: headersOf(error),
          }),
        },
      ),
    )

/** The fields of every REST error class of both services: the common body's `error`. */
export const errorFields = {
  code: Schema.String,
  message: Schema.String,
  details: Schema.Array(ErrorDetail),
}

export type ErrorFields = ErrorBody["error"]

/** Wire form without extra headers: the common body at `status`; `make` rebuilds the error from it. */
export const onWire = <S extends Schema.Top & { readonly Type: ErrorFields }>(
  self: S,
  status: number,
  make: (value: ErrorFields) => S["Type"],
) => self.pipe(onWireWithHeaders(status, {}, make, () => ({})))

/** The fields of a REST error answered 503 with `Retry-After`: the common body's and the seconds to wait. */
export const retryAfterErrorFields = { ...errorFields, retryAfterSeconds: Schema.Int }

export type RetryAfterErrorFields = ErrorFields & { readonly retryAfterSeconds: number }

/**
 * Wire form of "unavailable, retry later" in both services: the common body at 503 with
 * `Retry-After` carrying the error's `retryAfterSeconds`; `make` rebuilds the error from them.
 */
export const onWireRetryAfter = <S extends Schema.Top & { readonly Type: RetryAfterErrorFields }>(
  self: S,
  make: (value: RetryAfterErrorFields) => S["Type"],
) =>
  self.pipe(
    onWireWithHeaders(
      503,
      { "retry-after": Schema.NumberFromString },
      (error, headers) => make({ ...error, retryAfterSeconds: headers["retry-after"] }),
      (error) => ({ "retry-after": error.retryAfterSeconds }),
    ),
  )

/** 415: a request body sent without `Content-Type: application/json` (every body of both services is JSON). */
export const unsupportedMediaType: ErrorBody = errorBody(
  "unsupported_media_type",
  "send JSON with Content-Type: application/json",
)

/** A JSON error response outside HttpApi's typed errors (router fallbacks, middleware). */
export const errorResponse = (
  status: number,
  body: ErrorBody,
  headers?: Readonly<Record<string, string>>,
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body, headers === undefined ? { status } : { status, headers })

const issueFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

const formatPath = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string =>
  (path ?? []).reduce<string>((out, segment) => {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment
    if (typeof key === "number") return `${out}[${key}]`
    return out === "" ? String(key) : `${out}.${String(key)}`
  }, "")

/** Turns a schema issue into `details`, one entry per problem, with dotted paths. */
export const issueDetails = (issue: SchemaIssue.Issue, prefix = ""): ReadonlyArray<ErrorDetail> =>
  issueFormatter(issue).issues.map(({ path, message }) => {
    const inner = formatPath(path)
    return { path: prefix === "" ? inner : inner === "" ? prefix : `${prefix}.${inner}`, problem: message }
  })
