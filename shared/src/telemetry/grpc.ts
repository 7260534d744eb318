/**
 * gRPC spans following the OpenTelemetry RPC semantic conventions (a client middleware and a
 * server stage), with the W3C trace context carried in the call metadata (`traceparent`).
 *
 * - Client: a CLIENT span `<package.Service>/<Method>` (e.g.
 *   `dcent.orders.v1.OrderStreamingService/ProcessOrderStream`) per call, a child of the span
 *   the caller passes as the call option `traceParent` (nice-grpc middleware runs outside Effect,
 *   so the caller hands its span over: `{ traceParent: yield* currentSpanOption }`); its
 *   `traceparent` goes into the request metadata.
 * - Server: a SERVER span per call, a child of the incoming `traceparent` (a new root without
 *   one), handed to the implementation as `CallContext.traceSpan`; `withCallSpan(call)` makes
 *   it the parent of the Effect the handler runs.
 *
 * Attributes: `rpc.system` = grpc, `rpc.service`, `rpc.method`, `rpc.grpc.status_code` (numeric).
 * For server-streaming calls the span lasts as long as the stream. Span status: a client span
 * fails on any non-OK code; a server span only on the codes the conventions count as server
 * errors (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).
 */
import { Clock, type Context, Effect, Exit, type Tracer } from "effect"
import {
  type CallContext,
  type CallOptions,
  type ClientMiddleware,
  type ClientMiddlewareCall,
  Metadata,
  Status,
} from "nice-grpc-common"
import { rpcNames, statusOfError } from "../grpc/calls.ts"
import type { ServerStage } from "../grpc/stages.ts"
import { carrierOf, continueFrom, traceparentHeader } from "./traceContext.ts"

interface RpcSpanNaming {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
}

// Made once per method path: every span of a method shares them.
const namingByPath = new Map<string, RpcSpanNaming>()

const namingOf = (path: string): RpcSpanNaming => {
  let naming = namingByPath.get(path)
  if (naming === undefined) {
    const { service, method } = rpcNames(path)
    naming = {
      name: `${service}/${method}`,
      attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method },
    }
    namingByPath.set(path, naming)
  }
  return naming
}

/** The span name of a call: `pkg.Service/Method`. */
export const rpcSpanName = (path: string): string => namingOf(path).name

/** The span attributes every call of the method has (`rpc.system`, `rpc.service`, `rpc.method`). */
export const rpcAttributes = (path: string): Readonly<Record<string, string>> => namingOf(path).attributes

const serverErrorCodes: ReadonlySet<Status> = new Set([
  Status.UNKNOWN,
  Status.DEADLINE_EXCEEDED,
  Status.UNIMPLEMENTED,
  Status.INTERNAL,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
])

/** Whether a call ending with `code` marks the span as failed. */
export const isSpanError = (side: "client" | "server", code: Status): boolean =>
  code !== Status.OK && (side === "client" || serverErrorCodes.has(code))

/** Starts and ends Effect spans from outside Effect, with the tracer of `context`. */
const spansWith = (context: Context.Context<never>) => {
  const run = Effect.runSyncWith(context)
  return {
    start: (name: string, options: Tracer.SpanOptionsNoTrace): Tracer.Span => run(Effect.makeSpan(name, options)),
    end: (span: Tracer.Span, side: "client" | "server", code: Status, error: unknown) => {
      span.attribute("rpc.grpc.status_code", code)
      const exit = isSpanError(side, code)
        ? Exit.fail(error instanceof Error ? error : new Error(`gRPC status ${Status[code] ?? code}`))
        : Exit.void
      span.end(run(Clock.currentTimeNanos), exit)
    },
  }
}

/** What a nice-grpc middleware returns (its `next` may end without a value). */
// biome-ignore lint/suspicious/noConfusingVoidType: nice-grpc's own middleware result type
type MiddlewareResult<Response> = AsyncGenerator<Response, Response | void, undefined>

/** Call option of the client middleware: the caller's span. */
export interface TraceCallOptions {
  readonly traceParent?: Tracer.AnySpan | undefined
}

export { currentSpanOption } from "./traceContext.ts"

/**
 * Client middleware; attach with `createClientFactory().use(rpcClientTracing(context))`, where
 * `context` (`yield* Effect.context()`) provides the tracer.
 */
/** Both directions streaming: a long-lived connection, traced per operation by its handlers. */
const isConnection = (method: { readonly requestStream: boolean; readonly responseStream: boolean }) =>
  method.requestStream && method.responseStream

export const rpcClientTracing = (context: Context.Context<never>): ClientMiddleware<TraceCallOptions> => {
  const spans = spansWith(context)
  return async function* rpcClientTracingMiddleware<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions & Partial<TraceCallOptions>,
  ): MiddlewareResult<Response> {
    const { traceParent, ...rest } = options
    // A bidirectional call is a connection carrying many operations for as long as it lives
    // (e.g. many orders' streams): its handlers trace each operation, not the call.
    if (isConnection(call.method)) return yield* call.next(call.request, rest)
    const span = spans.start(rpcSpanName(call.method.path), {
      kind: "client",
      attributes: rpcAttributes(call.method.path),
      ...(traceParent === undefined ? { root: true } : { parent: traceParent }),
    })
    const metadata = Metadata(rest.metadata)
    metadata.set(traceparentHeader, carrierOf(span)[traceparentHeader] ?? "")
    let code: Status = Status.OK
    let failure: unknown
    try {
      return yield* call.next(call.request, { ...rest, metadata })
    } catch (error) {
      code = statusOfError(error)
      failure = error
      throw error
    } finally {
      if (code === Status.OK && rest.signal?.aborted === true) code = Status.CANCELLED
      spans.end(span, "client", code, failure)
    }
  }
}

/** What the server middleware adds to the `CallContext`. */
export interface TraceCallContext {
  readonly traceSpan?: Tracer.Span
}

/**
 * Server stage (`../grpc/stages.ts`), where `context` provides the tracer. The span reaches the
 * implementation as `CallContext.traceSpan`.
 */
export const rpcServerTracing = (context: Context.Context<never>): ServerStage => {
  const spans = spansWith(context)
  return {
    enter: (call, callContext) => {
      // Health checks and reflection are not worth a trace.
      if (call.method.path.startsWith("/grpc.") || isConnection(call.method)) return undefined
      const traceparent = callContext.metadata.get(traceparentHeader)
      const span = spans.start(rpcSpanName(call.method.path), {
        kind: "server",
        attributes: rpcAttributes(call.method.path),
        ...continueFrom(traceparent === undefined ? undefined : { [traceparentHeader]: traceparent }),
      })
      const traced: CallContext & TraceCallContext = { ...callContext, traceSpan: span }
      return {
        context: traced,
        onEnd: (end) => {
          let code: Status = end.failed ? statusOfError(end.error) : Status.OK
          if (code === Status.OK && callContext.signal.aborted) code = Status.CANCELLED
          spans.end(span, "server", code, end.failed ? end.error : undefined)
        },
      }
    },
  }
}

/** Runs a handler's effect as a child of the call's server span (when the middleware made one). */
export const withCallSpan =
  (call: CallContext) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const span = (call as CallContext & TraceCallContext).traceSpan
    return span === undefined ? effect : Effect.withParentSpan(effect, span)
  }
