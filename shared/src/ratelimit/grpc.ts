/**
 * Rate limits on the gRPC servers (a server stage, `../grpc/stages.ts`, run by `GrpcServer` inside
 * authentication when the process has `RateLimits`; health and reflection are exempt).
 *
 * A call spends one point of its principal's budget (the caller; per peer address when
 * anonymous): `unary` for unary calls, `stream` for streaming ones, which also take a slot among
 * the principal's open streams (`RATE_LIMIT_STREAMS_PER_PRINCIPAL`, counted with its SSE
 * responses), held until the call ends. Past a limit the call fails before its handler with
 * `RESOURCE_EXHAUSTED` and the trailers of admission control (`../grpc/admission.ts`):
 * `retry-after`, `grpc-retry-pushback-ms`, `dcent-error-code` (`rate_limited` or
 * `too_many_streams`), plus `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`.
 */
import { Effect } from "effect"
import type { CallContext } from "nice-grpc-common"
import { callCaller } from "../auth/grpc.ts"
import { type Principal, unrestricted } from "../auth/Principal.ts"
import { resourceExhausted } from "../grpc/admission.ts"
import { isHealthOrReflection } from "../grpc/calls.ts"
import type { ServerStage, StageEntry } from "../grpc/stages.ts"
import { concurrentStreamsClass, RateLimitEntries } from "../metrics/catalogue.ts"
import { type RouteClass, RouteClasses } from "./config.ts"
import { rateLimitHeaders, streamRefusalMessage, subjectOf } from "./decision.ts"
import { isStreamRefusal, type RateLimitsShape } from "./RateLimits.ts"

export const rateLimitedCode = "rate_limited"
export const tooManyStreamsCode = "too_many_streams"

export interface RpcRateLimitOptions {
  /**
   * Whether anonymous callers (`AUTH_MODE=disabled`) are limited by their peer address (default
   * true). The processor turns it off: its gRPC port is only called by the requestor, whose calls
   * carry every buyer's traffic from one address.
   */
  readonly limitAnonymous?: boolean
}

const principalOf = (context: CallContext): Principal => {
  try {
    return callCaller(context)
  } catch {
    // No authentication on this server: every caller is anonymous.
    return unrestricted
  }
}

/** A server stage (`../grpc/stages.ts`) inside authentication (the principal is known). */
export const rpcServerRateLimit = (limits: RateLimitsShape, options: RpcRateLimitOptions = {}): ServerStage => ({
  enter: (call, context) => {
    if (isHealthOrReflection(call.method.path)) return undefined
    const subject = subjectOf(principalOf(context), context.peer, options)
    if (subject === undefined) return undefined
    const streaming = call.requestStream || call.responseStream
    return spend(limits, subject, streaming ? RouteClasses.Stream : RouteClasses.Unary, streaming, context)
  },
})

/** One point of the subject's budget, and for a stream a slot among its open streams (released at the end). */
const spend = async (
  limits: RateLimitsShape,
  subject: string,
  routeClass: RouteClass,
  streaming: boolean,
  context: CallContext,
): Promise<StageEntry> => {
  const decision = await Effect.runPromise(limits.consume(subject, routeClass))
  if (decision !== undefined) {
    for (const [name, value] of Object.entries(rateLimitHeaders(decision))) {
      if (name !== "retry-after") context.trailer.set(name, value)
    }
    if (!decision.allowed) {
      limits.refused(RateLimitEntries.Grpc, routeClass)
      throw resourceExhausted(
        context,
        decision.resetSeconds,
        rateLimitedCode,
        `too many ${routeClass} calls; retry after ${decision.resetSeconds} s`,
      )
    }
  }
  if (!streaming) return undefined
  const slot = await Effect.runPromise(limits.openStream(subject))
  if (isStreamRefusal(slot)) {
    limits.refused(RateLimitEntries.Grpc, concurrentStreamsClass)
    throw resourceExhausted(context, slot.retryAfterSeconds, tooManyStreamsCode, streamRefusalMessage(slot))
  }
  return () => slot.release()
}
