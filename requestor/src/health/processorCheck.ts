/**
 * The requestor's `/readyz` check `processor`: a processor answers `grpc.health.v1.Health/Check`
 * with SERVING on `PROCESSOR_GRPC_URL` (over a channel of its own, so probing never competes
 * with the order streams; with several processors, round-robin over the ones that are up).
 * A processor that is down or draining (NOT_SERVING) makes the requestor not ready: its buyer
 * calls would answer 503 anyway.
 */
import { grpcChannelCredentials } from "@dcent/shared/config/tls"
import type { ReadinessCheck } from "@dcent/shared/health/Readiness"
import { Effect, Schema } from "effect"
import { createChannel, createClient } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { RequestorConfig } from "../config.ts"
import { parseProcessorTarget } from "../processor/target.ts"

/** `HealthCheckResponse.ServingStatus.SERVING` */
const SERVING = 1

const statusNames: Record<number, string> = { 0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN" }

/**
 * No processor answers the health check (`unreachable`), or it answers with another status than
 * SERVING (`not_serving`: draining, or its services not registered); the message is the check's problem.
 */
export class ProcessorNotReady extends Schema.TaggedError<ProcessorNotReady>()("ProcessorNotReady", {
  address: Schema.String,
  reason: Schema.Literals(["unreachable", "not_serving"]),
  problem: Schema.String,
  cause: Schema.optionalKey(Schema.Defect()),
}) {
  override get message() {
    return this.reason === "unreachable" ? `${this.address}: ${this.problem}` : `${this.address} is ${this.problem}`
  }
}

export const processorCheck = Effect.gen(function* () {
  const config = yield* RequestorConfig
  const target = parseProcessorTarget(config.processorGrpcUrl)
  if ("problem" in target) return yield* Effect.die(new Error(`PROCESSOR_GRPC_URL: ${target.problem}`))
  const channel = yield* Effect.acquireRelease(
    Effect.sync(() =>
      createChannel(target.target, grpcChannelCredentials(config.tls), {
        ...target.channelOptions,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 2_000,
      }),
    ),
    (channel) => Effect.sync(() => channel.close()),
  )
  const health = createClient(HealthDefinition, channel)
  const check: ReadinessCheck = {
    name: "processor",
    check: Effect.tryPromise({
      try: (signal) => health.check({ service: "" }, { signal }),
      catch: (cause) =>
        new ProcessorNotReady({
          address: config.processorGrpcUrl,
          reason: "unreachable",
          problem: cause instanceof Error ? cause.message : String(cause),
          cause,
        }),
    }).pipe(
      Effect.flatMap((answer) =>
        answer.status === SERVING
          ? Effect.void
          : Effect.fail(
              new ProcessorNotReady({
                address: config.processorGrpcUrl,
                reason: "not_serving",
                problem: statusNames[answer.status] ?? String(answer.status),
              }),
            ),
      ),
    ),
  }
  return check
})
