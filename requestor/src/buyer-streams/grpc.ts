/**
 * The requestor's public gRPC server (`GRPC_SERVER_HOST:REQUESTOR_GRPC_PORT`, default
 * 127.0.0.1:50052): `dcent.orders.v1.OrderWatchService/WatchOrder` for buyer apps, plus the
 * standard health service and server reflection (shared `GrpcServer`).
 *
 * WatchOrder: the order's events after `from_seq`, then live ones, ending after `OrderFinalised`.
 * Unknown order → NOT_FOUND; an empty or malformed id (the REST rule, `@dcent/shared/orders/wire`)
 * → INVALID_ARGUMENT; Redis down → UNAVAILABLE. A client that goes away cancels its watch at once.
 * At shutdown (drain) an open watch ends with UNAVAILABLE ("watch again with from_seq = N"), so
 * the client resumes on another replica.
 *
 * Authentication (`authorization: Bearer …` or `x-api-key` metadata) is the shared server's
 * middleware (UNAUTHENTICATED); the watch itself asks the requestor's policy (`../auth/policy.ts`,
 * action `watch`): a buyer watches only its own orders, an operator any — else PERMISSION_DENIED
 * (counted and logged), the same rule as the SSE route.
 */

import { callPrincipal, permissionDenied } from "@dcent/shared/auth/grpc"
import { isUnrestricted } from "@dcent/shared/auth/Principal"
import { grpcServerCredentials } from "@dcent/shared/config/tls"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { loadDescriptorSet } from "@dcent/shared/grpc/descriptor"
import { GrpcServer } from "@dcent/shared/grpc/GrpcServer"
import { grpcService } from "@dcent/shared/grpc/services"
import { DeliveryStages, type DisconnectReason, DisconnectReasons, StreamKinds } from "@dcent/shared/metrics/catalogue"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { deliveryObserver, streamTracker } from "@dcent/shared/metrics/streams"
import { type OrderEventRecord, orderEventToProto } from "@dcent/shared/orders/events"
import { isId } from "@dcent/shared/orders/wire"
import { onDrain } from "@dcent/shared/runtime/Drain"
import { Cause, Clock, Effect, Exit, Layer } from "effect"
import { type CallContext, ServerError, Status } from "nice-grpc"
import { authorizeOrder } from "../auth/policy.ts"
import { RequestorConfig } from "../config.ts"
import type { OrderNotFound, StorageUnavailable } from "../orders/errors.ts"
import { OrderStore } from "../orders/OrderStore.ts"
import { OrderEvents, type Watch, type WatchNext } from "./OrderEvents.ts"

/** The one mapping from a watch's failures to gRPC statuses (a refused credential or policy is a `ServerError` already). */
const toServerError = (error: OrderNotFound | StorageUnavailable | ServerError): ServerError => {
  if (error instanceof ServerError) return error
  switch (error._tag) {
    case "OrderNotFound":
      return new ServerError(Status.NOT_FOUND, error.message)
    case "StorageUnavailable":
      return new ServerError(Status.UNAVAILABLE, error.message)
  }
}

type WatchOrderResponse = { readonly event: ReturnType<typeof orderEventToProto> }

/**
 * One response object per event, whatever number of watchers it goes to: with
 * `sharedResponses` below, it is converted and encoded once (records are shared across the
 * watches of an order, `OrderEvents.ts`).
 */
const responses = new WeakMap<OrderEventRecord, WatchOrderResponse>()
const responseOf = (record: OrderEventRecord): WatchOrderResponse => {
  let response = responses.get(record)
  if (response === undefined) {
    response = { event: orderEventToProto(record) }
    responses.set(record, response)
  }
  return response
}

interface WatchResponsesDeps {
  readonly now: () => number
  readonly observeDelivery: ReturnType<typeof deliveryObserver>
  readonly streams: ReturnType<typeof streamTracker>
}

const finished: IteratorReturnResult<void> = { done: true, value: undefined }

/**
 * One `WatchOrder` call's responses: the order's events after `from_seq`, then live ones, ending
 * after `OrderFinalised`; UNAVAILABLE ("watch again with from_seq = N") when the requestor shuts
 * down or the log cannot be read. A plain iterator over the watch, not an `async function*`: a
 * requestor holds 50,000 of them, and a suspended generator (frame, request queue, promises) per
 * call was a tenth of what one held watch cost. Opened on the first `next`, as a generator would.
 */
class WatchResponses implements AsyncIterableIterator<WatchOrderResponse, void, undefined> {
  private watch: Watch | undefined
  private started = false
  private ended = false
  private records: ReadonlyArray<OrderEventRecord> = []
  private index = 0
  private lastSeq: number
  private openedAt = 0
  private reason: DisconnectReason = DisconnectReasons.ClientClosed
  private readonly open: () => Promise<Watch | undefined>
  private readonly signal: AbortSignal
  private readonly deps: WatchResponsesDeps

  constructor(open: () => Promise<Watch | undefined>, signal: AbortSignal, fromSeq: number, deps: WatchResponsesDeps) {
    this.open = open
    this.signal = signal
    this.lastSeq = fromSeq
    this.deps = deps
  }

  [Symbol.asyncIterator]() {
    return this
  }

  next(): Promise<IteratorResult<WatchOrderResponse, void>> {
    if (this.ended) return Promise.resolve(finished)
    if (this.index < this.records.length) return Promise.resolve(this.emit())
    if (!this.started) {
      this.started = true
      return this.open().then(this.opened, this.fail)
    }
    const watch = this.watch
    if (watch === undefined || this.signal.aborted) return Promise.resolve(this.end())
    return watch.next().then(this.answer, this.fail)
  }

  return(): Promise<IteratorResult<WatchOrderResponse, void>> {
    return Promise.resolve(this.end())
  }

  throw(error: unknown): Promise<IteratorResult<WatchOrderResponse, void>> {
    this.end()
    return Promise.reject(error)
  }

  private readonly opened = (watch: Watch | undefined): Promise<IteratorResult<WatchOrderResponse, void>> => {
    if (watch === undefined) return Promise.resolve(this.end())
    if (this.ended) {
      // Returned while opening.
      watch.close()
      return Promise.resolve(finished)
    }
    this.watch = watch
    this.openedAt = this.deps.now()
    // A client that goes away cancels its watch at once (a pending `next` answers `End`).
    this.signal.addEventListener("abort", watch.close, { once: true })
    this.deps.streams.opened()
    return this.next()
  }

  private readonly answer = (
    next: WatchNext,
  ): IteratorResult<WatchOrderResponse, void> | Promise<IteratorResult<WatchOrderResponse, void>> => {
    if (next._tag === "Events") {
      this.records = next.records
      this.index = 0
      return this.next()
    }
    if (this.signal.aborted) return this.end()
    switch (next._tag) {
      case "End":
        this.reason = DisconnectReasons.Completed
        return this.end()
      case "Shutdown":
        this.reason = DisconnectReasons.Shutdown
        this.end()
        // Drain: a watch cut short ends with UNAVAILABLE, so the client resumes on another replica.
        throw new ServerError(
          Status.UNAVAILABLE,
          `the requestor is shutting down; watch again (another replica) with from_seq = ${this.lastSeq}`,
        )
      case "Failed":
        this.reason = DisconnectReasons.Error
        this.end()
        throw new ServerError(Status.UNAVAILABLE, `${next.error.message}; watch again with from_seq = ${this.lastSeq}`)
    }
  }

  private readonly fail = (error: unknown): never => {
    this.end()
    throw error
  }

  private emit(): IteratorResult<WatchOrderResponse, void> {
    const record = this.records[this.index++] as OrderEventRecord
    this.deps.observeDelivery(record.occurredAt, this.deps.now(), this.openedAt)
    this.lastSeq = record.seq
    return { done: false, value: responseOf(record) }
  }

  /** Once: closes the watch and counts the stream's end (only a watch that opened was counted). */
  private end(): IteratorReturnResult<void> {
    if (this.ended) return finished
    this.ended = true
    this.records = []
    const watch = this.watch
    if (watch !== undefined) {
      this.watch = undefined
      this.signal.removeEventListener("abort", watch.close)
      watch.close()
      this.deps.streams.closed(this.reason)
    }
    return finished
  }
}

export const GrpcLive = GrpcServer.layer(
  Effect.gen(function* () {
    const config = yield* RequestorConfig
    const events = yield* OrderEvents
    const context = yield* Effect.context<never>()
    const descriptorSet = yield* loadDescriptorSet()
    const { catalogue } = yield* Metrics
    const store = yield* OrderStore

    const runPromiseExit = Effect.runPromiseExitWith(context)
    const streams = streamTracker(catalogue, StreamKinds.WatchOrder)
    const observeDelivery = deliveryObserver(catalogue, DeliveryStages.WatchOrder)
    // The generator below runs outside Effect: it reads the layer's clock (a TestClock in tests).
    const clock = yield* Clock.Clock

    /** Opens the watch (what is checked before the first response); `undefined` when nothing follows. */
    const openWatch = async (request: { orderReqId: string; fromSeq: number }, call: CallContext) => {
      const orderReqId = request.orderReqId.trim()
      if (!isId(orderReqId)) {
        throw new ServerError(Status.INVALID_ARGUMENT, "order_req_id is required (e.g. ORD-001)")
      }
      const opened = await runPromiseExit(
        Effect.gen(function* () {
          const principal = yield* Effect.try({
            try: () => callPrincipal(call),
            catch: (error) => (error instanceof ServerError ? error : new ServerError(Status.UNAUTHENTICATED, "")),
          })
          if (!isUnrestricted(principal)) {
            const owner = (yield* store.get(orderReqId))?.details.buyerId
            const denied = authorizeOrder(principal, "watch", { orderReqId, owner })
            if (denied !== undefined) {
              const path = "/dcent.orders.v1.OrderWatchService/WatchOrder"
              return yield* Effect.fail(yield* permissionDenied(catalogue, call, path, principal, denied))
            }
          }
          return yield* events.watch(orderReqId, request.fromSeq)
        }),
      )
      if (Exit.isFailure(opened)) {
        const failure = opened.cause.reasons.find(Cause.isFailReason)
        if (failure !== undefined) throw toServerError(failure.error)
        throw new ServerError(Status.INTERNAL, "internal error")
      }
      return opened.value.watch
    }

    const watchOrder = (request: { orderReqId: string; fromSeq: number }, call: CallContext) =>
      new WatchResponses(() => openWatch(request, call), call.signal, request.fromSeq, {
        now: () => clock.currentTimeMillisUnsafe(),
        observeDelivery,
        streams,
      })

    return {
      host: config.grpcHost,
      port: config.grpcPort,
      descriptorSet,
      // Past GRPC_MAX_STREAMS open watches a new one fails at once with RESOURCE_EXHAUSTED.
      admission: config.grpcAdmission,
      maxReceiveMessageBytes: config.grpcMaxReceiveMessageBytes,
      // Buyer apps connect here: TLS when a certificate is configured, no client certificate asked for.
      credentials: grpcServerCredentials(config.tls, { requireClientCertificate: false }),
      services: [grpcService(OrderWatchServiceDefinition, { watchOrder }, { sharedResponses: ["watchOrder"] })],
    }
  }),
)

/** Ends open watches before the gRPC server drains (build after `GrpcLive`, so it is released first). */
export const WatchShutdownLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const events = yield* OrderEvents
    // Drain (SIGTERM): watches get their reconnect signal as soon as the drain starts.
    yield* onDrain({ name: "watch streams reconnect", phase: "streams", run: () => events.shutdown })
    yield* Effect.addFinalizer(() => events.shutdown)
  }),
)
