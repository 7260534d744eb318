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
import { OrderEvents } from "./OrderEvents.ts"

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

    // A plain async generator over the watch: no fiber or Effect stream per open watch.
    async function* watchOrder(
      request: { orderReqId: string; fromSeq: number },
      call: CallContext,
    ): AsyncGenerator<WatchOrderResponse> {
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
      const watch = opened.value.watch
      if (watch === undefined) return
      const openedAt = clock.currentTimeMillisUnsafe()
      let lastSeq = request.fromSeq
      let reason: DisconnectReason = DisconnectReasons.ClientClosed
      const onCancel = () => watch.close()
      call.signal.addEventListener("abort", onCancel, { once: true })
      streams.opened()
      try {
        while (!call.signal.aborted) {
          const next = await watch.next()
          if (next._tag === "Events") {
            for (const record of next.records) {
              observeDelivery(record.occurredAt, clock.currentTimeMillisUnsafe(), openedAt)
              lastSeq = record.seq
              yield responseOf(record)
            }
            continue
          }
          if (call.signal.aborted) return
          if (next._tag === "End") {
            reason = DisconnectReasons.Completed
            return
          }
          if (next._tag === "Shutdown") {
            reason = DisconnectReasons.Shutdown
            // Drain: a watch cut short ends with UNAVAILABLE, so the client resumes on another replica.
            throw new ServerError(
              Status.UNAVAILABLE,
              `the requestor is shutting down; watch again (another replica) with from_seq = ${lastSeq}`,
            )
          }
          reason = DisconnectReasons.Error
          throw new ServerError(Status.UNAVAILABLE, `${next.error.message}; watch again with from_seq = ${lastSeq}`)
        }
      } finally {
        call.signal.removeEventListener("abort", onCancel)
        watch.close()
        streams.closed(reason)
      }
    }

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
