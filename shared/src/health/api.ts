/**
 * The health endpoints both services expose (contract only; handlers in `handlers.ts`).
 *
 *   GET /healthz  200 {"status":"ok"}                        the process is alive
 *   GET /readyz   200 {"status":"ready","checks":[...]}      every dependency answers
 *                 503 ErrorBody + Retry-After                 which dependency failed, and why
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ErrorBody, errorBody } from "../http/errors.ts"

export const Alive = Schema.Struct({ status: Schema.Literal("ok") }).annotate({ identifier: "Alive" })

export const CheckResult = Schema.Struct({
  name: Schema.String.annotate({
    description: "The dependency: the broker kind (`kafka`, `nats`, `memory`), `redis`, `topics`",
  }),
  ok: Schema.Boolean,
  problem: Schema.optionalKey(Schema.String.annotate({ description: "Why the check failed; absent when ok" })),
  durationMs: Schema.Int.annotate({ description: "How long the check took" }),
}).annotate({ identifier: "CheckResult" })
export type CheckResult = typeof CheckResult.Type

export const Ready = Schema.Struct({
  status: Schema.Literal("ready"),
  checks: Schema.Array(CheckResult),
}).annotate({ identifier: "Ready" })

/** At least one dependency failed its check. */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  checks: Schema.Array(CheckResult),
  retryAfterSeconds: Schema.Int,
}) {
  override get message() {
    const failed = this.checks.filter((check) => !check.ok).map((check) => check.name)
    return `not ready: ${failed.join(", ")} unavailable`
  }
}

/** On the wire: status 503, the common error body (one detail per failed check) and `Retry-After`. */
export const NotReadyResponse = NotReady.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: ErrorBody.pipe(HttpApiSchema.status(503)),
      headers: { "retry-after": Schema.NumberFromString },
    },
    {
      decode: ({ body, headers }) =>
        new NotReady({
          checks: body.error.details.map((detail) => ({
            name: detail.path,
            ok: false,
            problem: detail.problem,
            durationMs: 0,
          })),
          retryAfterSeconds: headers["retry-after"],
        }),
      encode: (error) => ({
        body: errorBody(
          "not_ready",
          error.message,
          error.checks
            .filter((check) => !check.ok)
            .map((check) => ({ path: check.name, problem: check.problem ?? "failed" })),
        ),
        headers: { "retry-after": error.retryAfterSeconds },
      }),
    },
  ),
)

export class HealthApi extends HttpApiGroup.make("health", { topLevel: true })
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: Alive }).annotateMerge(
      OpenApi.annotations({ summary: "Liveness: the process is up and serving HTTP" }),
    ),
    HttpApiEndpoint.get("readyz", "/readyz", { success: Ready, error: NotReadyResponse }).annotateMerge(
      OpenApi.annotations({
        summary: "Readiness: the broker, Redis and the topics are available",
        description: "503 with the failed dependencies in `error.details` and a `Retry-After` header otherwise.",
      }),
    ),
  )
  .annotateMerge(OpenApi.annotations({ title: "Health", description: "Liveness and readiness probes" })) {}
