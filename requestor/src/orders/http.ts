/**
 * Handlers of `OrdersApi`: parse the wire body into a domain command (`schemas.ts`), call
 * `Orders`, and for `GET /api/v1/orders/{id}/events` stream server-sent events from
 * `OrderEvents`. At most `SSE_MAX_STREAMS` SSE responses are open at once; past that a new one
 * is refused with 503 `overloaded` and `Retry-After` before anything is read.
 */
import { observedLimiter } from "@dcent/shared/metrics/admission"
import { AdmissionEntries, DeliveryStages, StreamKinds } from "@dcent/shared/metrics/catalogue"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import { Effect, Layer, Result, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { RequestorConfig } from "../config.ts"
import { RequestorApi } from "../http/Api.ts"
import { OrderEvents, signalReconnect, trackWatch } from "../streams/OrderEvents.ts"
import { Unavailable } from "./errors.ts"
import { OrderFailureReportingLive } from "./failures.ts"
import { Orders } from "./Orders.ts"
import {
  toFinaliseCommand,
  toFollowUpCommand,
  toInitiateCommand,
  toOrderDetails,
  toPauseCommand,
  toResumeCommand,
} from "./schemas.ts"

/** The event as SSE `data:` (PascalCase, like the REST bodies). */
export const eventJson = (record: OrderEventRecord) => ({
  OrderReqID: record.orderReqId,
  Seq: record.seq,
  EventID: record.eventId,
  Status: record.status,
  ...(record.proposalId === undefined ? {} : { ProposalID: record.proposalId }),
  ...(record.followUpId === undefined ? {} : { FollowUpID: record.followUpId }),
  OccurredAt: record.occurredAt,
  Message: record.message,
  Details: record.details,
})

/** One SSE message: `id` = seq, `event` = status, `data` = the event (JSON has no raw newlines). */
export const sseMessage = (record: OrderEventRecord): string =>
  `id: ${record.seq}\nevent: ${record.status}\ndata: ${JSON.stringify(eventJson(record))}\n\n`

/**
 * Sent when the service shuts down (drain) before `OrderFinalised`: reconnect (the load balancer
 * picks another replica) after `retry` ms with `Last-Event-ID` = the last seq; EventSource does
 * that by itself once the response ends. `data` says the same for other clients.
 */
export const sseReconnect = (lastSeq: number): string =>
  `event: reconnect\nretry: 1000\ndata: ${JSON.stringify({
    Reason: "shutting_down",
    Message: "this replica is shutting down; reconnect with Last-Event-ID to resume",
    LastSeq: lastSeq,
  })}\n\n`

const newUuid = () => crypto.randomUUID()

const OrdersGroup = HttpApiBuilder.group(
  RequestorApi,
  "orders",
  Effect.fn(function* (handlers) {
    const orders = yield* Orders
    const orderEvents = yield* OrderEvents
    const config = yield* RequestorConfig
    const tracked = trackWatch((yield* Metrics).catalogue, StreamKinds.Sse, DeliveryStages.Sse)
    const sseStreams = yield* observedLimiter({
      entry: AdmissionEntries.Sse,
      maxInFlight: config.sseMaxStreams,
      retryAfterSeconds: config.httpAdmission.retryAfterSeconds,
    })
    /** A slot among the open SSE streams, given back when the request's scope closes (the response was sent or abandoned). */
    const sseSlot = Effect.suspend(() => {
      const refusal = sseStreams.tryAcquire()
      if (refusal === undefined) return Effect.addFinalizer(() => Effect.sync(sseStreams.release))
      return Effect.fail(
        new Unavailable({
          code: "overloaded",
          message: "too many event streams are open; retry later",
          details: [{ path: "sse", problem: refusal.message }],
          retryAfterSeconds: refusal.retryAfterSeconds,
        }),
      )
    })

    return handlers.handleAll({
      register: ({ payload }) => orders.register(toOrderDetails(payload), payload),

      getOrder: ({ params }) => orders.get(params.OrderReqID),

      initiate: ({ payload }) =>
        Effect.gen(function* () {
          const command = toInitiateCommand(payload)
          if (Result.isFailure(command)) {
            return yield* orders.rejected("initiate", command.failure, {
              orderReqId: payload.OrderReqID ?? payload.OrderReqId,
              sessionId: payload.SessionID,
              request: payload,
            })
          }
          return yield* orders.initiate(command.success, payload)
        }),

      followUp: ({ payload }) => orders.followUp(toFollowUpCommand(payload, newUuid), payload),

      finalize: ({ params, payload }) =>
        orders.finalise(toFinaliseCommand(params.OrderReqID, payload, newUuid), payload ?? null),

      pause: ({ params, payload }) =>
        orders.pause(toPauseCommand(params.OrderReqID, payload, newUuid), payload ?? null),

      resume: ({ params, payload }) =>
        orders.resume(toResumeCommand(params.OrderReqID, payload, newUuid), payload ?? null),

      events: ({ params, query, headers }) =>
        Effect.gen(function* () {
          // Before any work: past SSE_MAX_STREAMS open streams, 503 overloaded + Retry-After.
          yield* sseSlot
          // EventSource sends Last-Event-ID on reconnects, with the original URL: the header wins.
          const fromSeq = Number(headers["last-event-id"] ?? query.from_seq ?? "0")
          const watch = yield* orderEvents.watch(params.OrderReqID, fromSeq)
          // Finalised and fully seen: 204 tells EventSource to stop reconnecting.
          if (watch.complete) return HttpServerResponse.empty({ status: 204 })
          const heartbeats = Stream.tick(`${config.sseHeartbeatSeconds} seconds`).pipe(
            Stream.drop(1),
            Stream.map(() => ": keep-alive\n\n"),
          )
          const body = Stream.make(`retry: 2000\n: ${params.OrderReqID} after seq ${fromSeq}\n\n`).pipe(
            Stream.concat(
              signalReconnect(tracked(watch.events), fromSeq, orderEvents.isShuttingDown, (lastSeq) =>
                Stream.make(sseReconnect(lastSeq)),
              ).pipe(
                Stream.map((item) => (typeof item === "string" ? item : sseMessage(item))),
                // A failure mid-way (Redis) ends the response; the client resumes with Last-Event-ID.
                Stream.catchCause((cause) =>
                  Stream.fromEffect(
                    Effect.logWarning("SSE stream failed").pipe(
                      Effect.annotateLogs({ cause }),
                      Effect.as(": error\n\n"),
                    ),
                  ),
                ),
                Stream.merge(heartbeats, { haltStrategy: "left" }),
              ),
            ),
            Stream.encodeText,
          )
          return HttpServerResponse.stream(body, {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-cache", "x-accel-buffering": "no" },
          })
        }),
    })
  }),
)

/** The order group with its failure-reporting middleware. */
export const OrdersHandlers = OrdersGroup.pipe(Layer.provide(OrderFailureReportingLive))
