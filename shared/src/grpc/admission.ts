/**
 * A gRPC server stage (`stages.ts`): admission control for gRPC calls (`../admission`).
 *
 * - Unary calls: at most `maxUnaryInFlight` at once;
 * - streaming calls (`ProcessOrderStream`, `WatchOrder`): at most `maxStreams` open at once, a
 *   stream holding its slot until it ends.
 *
 * Past a bound the call fails at once, before its handler runs, with `RESOURCE_EXHAUSTED` and
 * these trailers:
 *
 *   retry-after              seconds to wait before retrying (as HTTP's Retry-After)
 *   grpc-retry-pushback-ms   the same in ms: the server pushback of gRPC's retry design (A6),
 *                            honoured by clients whose retry policy retries RESOURCE_EXHAUSTED
 *   dcent-error-code         overloaded
 *
 * The standard health and reflection services are never refused: probes must answer exactly
 * when the server is busiest.
 */
import { type CallContext, type ServerError, Status } from "nice-grpc-common"
import type { Limiter, Overloaded } from "../admission/Limiter.ts"
import { isHealthOrReflection } from "./calls.ts"
import { grpcError } from "./errorDetails.ts"
import type { ServerStage } from "./stages.ts"

export const retryAfterTrailer = "retry-after"
export const retryPushbackTrailer = "grpc-retry-pushback-ms"
export const overloadedCode = "overloaded"

/** RESOURCE_EXHAUSTED with the `retry-after`, `grpc-retry-pushback-ms` and `dcent-error-code` trailers. */
export const resourceExhausted = (
  context: CallContext,
  retryAfterSeconds: number,
  code: string,
  message: string,
): ServerError => {
  context.trailer.set(retryAfterTrailer, String(retryAfterSeconds))
  context.trailer.set(retryPushbackTrailer, String(retryAfterSeconds * 1000))
  return grpcError(context, { status: Status.RESOURCE_EXHAUSTED, code, message })
}

const refuse = (context: CallContext, refusal: Overloaded): ServerError =>
  resourceExhausted(context, refusal.retryAfterSeconds, overloadedCode, refusal.message)

export interface RpcAdmissionLimiters {
  readonly unary: Limiter
  readonly streams: Limiter
}

/** A server stage (`stages.ts`), inside the metrics stage (so refusals are counted as calls). */
export const rpcServerAdmission = (limiters: RpcAdmissionLimiters): ServerStage => ({
  enter: (call, context) => {
    if (isHealthOrReflection(call.method.path)) return undefined
    const limiter = call.requestStream || call.responseStream ? limiters.streams : limiters.unary
    const refusal = limiter.tryAcquire()
    if (refusal !== undefined) throw refuse(context, refusal)
    return () => limiter.release()
  },
})
