/**
 * The requestor's gRPC link to the processor (`PROCESSOR_GRPC_URL`): one channel, the order
 * stream and the unary calls, as Effects with one typed error. Several processor replicas share
 * the channel (`./target.ts`: round-robin over the ones that are up), so a stream broken by a dead
 * processor reconnects through another.
 *
 * - `orderStreams` has no deadline: the call lives as long as its shard is held (the original
 *   implementation cut it after 600 s). A dead connection is noticed by HTTP/2 keepalive pings;
 *   interrupting the stream cancels the call.
 * - Unary calls are bounded (`callTimeout`, default 10 s) and cancelled when interrupted. They
 *   wait for the channel to be connected first ("wait for ready", within the same bound): right
 *   after a processor restart the channel is still in TRANSIENT_FAILURE until its next
 *   reconnect attempt, and a call made then would fail at once with UNAVAILABLE (a 503 to the
 *   buyer) although the processor is back. nice-grpc 2.1 has no `waitForReady` call option (its
 *   call options are metadata, signal and the header/trailer callbacks, and grpc-js reads the
 *   flag only from its own Metadata), so the client waits with `waitForChannelReady`.
 * - Every call carries the requestor's credential (`ServiceCredential`: `x-api-key` or its own
 *   service token; nothing with `AUTH_MODE=disabled`), and a unary call made for a buyer's
 *   request names that buyer (`dcent-on-behalf-of`, from `CurrentPrincipal`) so the processor
 *   checks the buyer rules itself.
 */

import { onBehalfMetadata } from "@dcent/shared/auth/grpc"
import { CurrentPrincipal } from "@dcent/shared/auth/http"
import { isUnrestricted } from "@dcent/shared/auth/Principal"
import { ServiceCredential } from "@dcent/shared/auth/ServiceCredential"
import { grpcChannelCredentials } from "@dcent/shared/config/tls"
import type {
  FollowUpRequest,
  FollowUpResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import {
  type FinaliseOrderRequest,
  type FinaliseOrderResponse,
  OrderNonStreamingServiceDefinition,
  type PauseOrderRequest,
  type PauseOrderResponse,
  type ResumeOrderRequest,
  type ResumeOrderResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import {
  OrderStreamingServiceDefinition,
  type OrderStreamsRequest,
  type OrderStreamsResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { errorCodeOf, errorCodeTrailer, errorDetailsClientMiddleware } from "@dcent/shared/grpc/errorDetails"
import { maxReceiveMessageOption } from "@dcent/shared/grpc/limits"
import { DeliveryStages, DisconnectReasons, StreamKinds } from "@dcent/shared/metrics/catalogue"
import { rpcClientMetrics } from "@dcent/shared/metrics/grpc"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { trackEventStream } from "@dcent/shared/metrics/streams"
import { currentSpanOption, rpcClientTracing, type TraceCallOptions } from "@dcent/shared/telemetry/grpc"
import { Context, Duration, Effect, Layer, Option, Schema, Stream } from "effect"
import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  ClientError,
  createChannel,
  createClientFactory,
  Metadata,
  Status,
  waitForChannelReady,
} from "nice-grpc"
import { RequestorConfig } from "../config.ts"
import { parseProcessorTarget } from "./target.ts"

/** A call to the processor failed: `code` is the gRPC status (`UNAVAILABLE`, `NOT_FOUND`, ...). */
export class ProcessorCallError extends Schema.TaggedError<ProcessorCallError>()("ProcessorCallError", {
  method: Schema.String,
  code: Schema.Number,
  details: Schema.String,
  /**
   * The processor's machine-readable reason, e.g. `order_paused`: the standard `ErrorInfo.reason`,
   * else the trailer `dcent-error-code`.
   */
  reason: Schema.optionalKey(Schema.String),
  /** The processor's retry hint (trailer `retry-after`, seconds), sent with RESOURCE_EXHAUSTED when overloaded. */
  retryAfterSeconds: Schema.optionalKey(Schema.Int),
}) {
  get codeName(): string {
    return Status[this.code] ?? `CODE_${this.code}`
  }

  override get message() {
    return `processor ${this.method} failed: ${this.codeName}${this.details === "" ? "" : ` (${this.details})`}`
  }
}

export interface ProcessorClientShape {
  /** `PROCESSOR_GRPC_URL`, for logs. */
  readonly address: string
  /**
   * `ProcessOrderStreams`: one call carrying many orders' streams (`open` / `close` commands in,
   * `opened` / `refused` / events out); ends when the processor ends it.
   */
  readonly orderStreams: (
    commands: AsyncIterable<OrderStreamsRequest>,
  ) => Stream.Stream<OrderStreamsResponse, ProcessorCallError>
  readonly followUp: (request: FollowUpRequest) => Effect.Effect<FollowUpResponse, ProcessorCallError>
  readonly finalise: (request: FinaliseOrderRequest) => Effect.Effect<FinaliseOrderResponse, ProcessorCallError>
  readonly pause: (request: PauseOrderRequest) => Effect.Effect<PauseOrderResponse, ProcessorCallError>
  readonly resume: (request: ResumeOrderRequest) => Effect.Effect<ResumeOrderResponse, ProcessorCallError>
}

export interface ProcessorClientOptions {
  readonly address: string
  /** Bound on each unary call (default 10 s). */
  readonly callTimeout?: Duration.Input
  /** Extra channel options (merged over the keepalive defaults). */
  readonly channelOptions?: ChannelOptions
  /** TLS / mutual TLS to the processor (`TLS_*`, `grpcChannelCredentials`); plain TCP without. */
  readonly credentials?: ChannelCredentials | undefined
  /** The largest message accepted from the processor (`GRPC_MAX_RECEIVE_MESSAGE_BYTES`). */
  readonly maxReceiveMessageBytes?: number
}

/** The trailer carrying the processor's retry hint in seconds (admission control). */
export const retryAfterTrailer = "retry-after"

/** What the trailers of a failed call said. */
interface TrailerInfo {
  readonly reason?: string | undefined
  readonly retryAfter?: string | undefined
}

const toCallError =
  (method: string, trailers?: () => TrailerInfo) =>
  (cause: unknown): ProcessorCallError => {
    if (cause instanceof ClientError) {
      const { reason: trailerReason, retryAfter } = trailers?.() ?? {}
      const reason = errorCodeOf(cause, trailerReason)
      const seconds = retryAfter === undefined ? Number.NaN : Number(retryAfter)
      return new ProcessorCallError({
        method,
        code: cause.code,
        details: cause.details,
        ...(reason === undefined ? {} : { reason }),
        ...(Number.isInteger(seconds) && seconds > 0 ? { retryAfterSeconds: seconds } : {}),
      })
    }
    if (cause instanceof Error && cause.name === "AbortError") {
      return new ProcessorCallError({ method, code: Status.CANCELLED, details: "cancelled" })
    }
    return new ProcessorCallError({
      method,
      code: Status.UNKNOWN,
      details: cause instanceof Error ? cause.message : String(cause),
    })
  }

/** Detects dead connections on long idle streams; the processor must permit pings this often. */
const keepalive: ChannelOptions = {
  "grpc.keepalive_time_ms": 20_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 5_000,
}

export class ProcessorClient extends Context.Service<ProcessorClient, ProcessorClientShape>()(
  "dcent/requestor/ProcessorClient",
) {
  static readonly make = Effect.fn("ProcessorClient.make")(function* (options: ProcessorClientOptions) {
    // One channel over every processor replica named in the address (round-robin when several).
    const target = parseProcessorTarget(options.address)
    if ("problem" in target) return yield* Effect.die(new Error(`PROCESSOR_GRPC_URL: ${target.problem}`))
    const channel = yield* Effect.acquireRelease(
      Effect.sync(() =>
        createChannel(target.target, options.credentials, {
          ...keepalive,
          ...(options.maxReceiveMessageBytes === undefined
            ? {}
            : maxReceiveMessageOption(options.maxReceiveMessageBytes)),
          ...target.channelOptions,
          ...options.channelOptions,
        }),
      ),
      (channel) => Effect.sync(() => channel.close()),
    )
    const { catalogue } = yield* Metrics.orUnscraped
    // Client spans (W3C trace context in the metadata): each call passes its caller's span as `traceParent`.
    // Outermost: a failure with standard details (ErrorInfo, BadRequest) arrives as a RichClientError.
    const clients = createClientFactory()
      .use(errorDetailsClientMiddleware)
      .use(rpcClientMetrics(catalogue))
      .use(rpcClientTracing(yield* Effect.context<never>()))
    const streaming = clients.create(OrderStreamingServiceDefinition, channel)
    const unaryClient = clients.create(OrderNonStreamingServiceDefinition, channel)
    // Open streams and the "received on the processor stream" stage of the end-to-end latency.
    const tracked = trackEventStream<OrderStreamsResponse>(catalogue, {
      kind: StreamKinds.OrderStreamsCall,
      stage: DeliveryStages.Stream,
      occurredAt: (response) => response.event?.occurredAt,
      // Many orders on one call: no single last event.
      isTerminal: () => false,
      onInterrupt: DisconnectReasons.Shutdown,
      onEarlyEnd: DisconnectReasons.Completed,
    })
    const callTimeout = Duration.fromInputUnsafe(options.callTimeout ?? "10 seconds")
    const credential = yield* Effect.serviceOption(ServiceCredential)
    /** The requestor's credential, and for a buyer's request that buyer (on behalf of). */
    const callMetadata = (onBehalf: boolean) =>
      Effect.gen(function* () {
        const metadata = Metadata(Option.isSome(credential) ? yield* credential.value.headers : {})
        const principal = onBehalf ? yield* Effect.serviceOption(CurrentPrincipal) : Option.none()
        if (Option.isSome(principal) && !isUnrestricted(principal.value)) onBehalfMetadata(principal.value, metadata)
        return metadata
      })

    const unary = <Req, Res>(
      method: string,
      call: (request: Req, options: CallOptions & TraceCallOptions) => Promise<Res>,
    ) =>
      Effect.fn(`ProcessorClient.${method}`)(function* (request: Req) {
        const traceParent = yield* currentSpanOption
        const metadata = yield* callMetadata(true)
        let trailers: TrailerInfo = {}
        const onTrailer = (trailer: Metadata) => {
          trailers = { reason: trailer.get(errorCodeTrailer), retryAfter: trailer.get(retryAfterTrailer) }
        }
        // Wait for ready: a call on a channel that is (re)connecting waits instead of failing at once.
        // The deadline is wall time: grpc-js compares it with its own `Date.now()`.
        const connected = Effect.tryPromise({
          try: () => waitForChannelReady(channel, new Date(Date.now() + Duration.toMillis(callTimeout))),
          catch: () =>
            new ProcessorCallError({
              method,
              code: Status.UNAVAILABLE,
              details: `no connection to ${options.address} within ${Duration.format(callTimeout)}`,
            }),
        })
        const answer = Effect.tryPromise({
          try: (signal) => call(request, { signal, onTrailer, traceParent, metadata }),
          catch: toCallError(method, () => trailers),
        })
        return yield* connected.pipe(
          Effect.andThen(answer),
          Effect.timeoutOrElse({
            duration: callTimeout,
            orElse: () =>
              Effect.fail(
                new ProcessorCallError({
                  method,
                  code: Status.DEADLINE_EXCEEDED,
                  details: `no answer within ${Duration.format(callTimeout)}`,
                }),
              ),
          }),
        )
      })

    // The multiplexed call is a connection (traced per order `open` by the stream holder).
    const orderStreams = (
      commands: AsyncIterable<OrderStreamsRequest>,
    ): Stream.Stream<OrderStreamsResponse, ProcessorCallError> =>
      Stream.unwrap(
        Effect.gen(function* () {
          // Aborting cancels the call even while a `next()` is pending.
          const controller = yield* Effect.acquireRelease(
            Effect.sync(() => new AbortController()),
            (controller) => Effect.sync(() => controller.abort()),
          )
          // The call is the requestor's own (it outlives the requests that open orders on it): no on-behalf.
          const metadata = yield* callMetadata(false)
          const responses = streaming.processOrderStreams(commands, { signal: controller.signal, metadata })
          return Stream.fromAsyncIterable(responses, toCallError("ProcessOrderStreams"))
        }),
      ).pipe(tracked)

    return ProcessorClient.of({
      address: options.address,
      orderStreams,
      followUp: unary("ProcessFollowUp", (request: FollowUpRequest, options) =>
        unaryClient.processFollowUp(request, options),
      ),
      finalise: unary("FinaliseOrder", (request: FinaliseOrderRequest, options) =>
        unaryClient.finaliseOrder(request, options),
      ),
      pause: unary("PauseOrder", (request: PauseOrderRequest, options) => unaryClient.pauseOrder(request, options)),
      resume: unary("ResumeOrder", (request: ResumeOrderRequest, options) => unaryClient.resumeOrder(request, options)),
    })
  })

  /** The client for `PROCESSOR_GRPC_URL`. */
  static readonly layer: Layer.Layer<ProcessorClient, never, RequestorConfig> = Layer.effect(
    ProcessorClient,
    Effect.gen(function* () {
      const config = yield* RequestorConfig
      return yield* ProcessorClient.make({
        address: config.processorGrpcUrl,
        credentials: grpcChannelCredentials(config.tls),
        maxReceiveMessageBytes: config.grpcMaxReceiveMessageBytes,
      })
    }),
  )
}
