/**
 * Handlers of `OrdersApi`: parse the wire body into a domain command (`schemas.ts`) and call
 * `Orders`; their typed failures become REST errors through the one mapping `toApiError`
 * (`../http/errors.ts`). `GET /api/v1/orders/{id}/events` is authorized here and served to the buyer by
 * `../buyer-streams/sseEndpoint.ts` (admission slot, server-sent events).
 *
 * Authorization: every handler first asks the policy (`../auth/policy.ts`) whether the
 * authenticated principal (`CurrentPrincipal`, set by the `Authentication` middleware) may do
 * this to this order (its stored BuyerID); a refusal is 403 with the common error body, counted
 * and logged (`recordDenial`) and, for the operations, published to `REQ_failures`. A buyer that
 * leaves `BuyerID` out of a registration or of inline details gets its own `sub`.
 */

import { recordDenial } from "@dcent/shared/auth/denials"
import { CurrentPrincipal } from "@dcent/shared/auth/http"
import { hasRole, isUnrestricted, type Principal } from "@dcent/shared/auth/Principal"
import { Broker } from "@dcent/shared/broker/Broker"
import { allTopicNames } from "@dcent/shared/broker/topics"
import { AuthEntries } from "@dcent/shared/metrics/catalogue"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { Effect, Layer, Result } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { authorizeOrder, type OrderAction } from "../auth/policy.ts"
import { makeSseEndpoint } from "../buyer-streams/sseEndpoint.ts"
import { RequestorApi } from "../http/Api.ts"
import { toApiError } from "../http/errors.ts"
import { BuyerIdMissing, TopicMessagesUnavailable } from "./errors.ts"
import { failureOf, type Operation, OrderFailureReports } from "./failureReports.ts"
import { OrderFailureReportingLive } from "./failures.ts"
import { OrderStore } from "./OrderStore.ts"
import { Orders } from "./Orders.ts"
import {
  toFinaliseCommand,
  toFollowUpCommand,
  toInitiateCommand,
  toOrderDetails,
  toPauseCommand,
  toResumeCommand,
} from "./schemas.ts"

const newUuid = () => crypto.randomUUID()

/** A buyer that leaves `BuyerID` out means itself. */
const buyerIdOf = (principal: Principal, given: string | undefined): string | undefined =>
  given ?? (hasRole(principal, "buyer") && !isUnrestricted(principal) ? principal.sub : undefined)

const inlineDetailFields = ["Industry", "Location", "Products", "DeliveryDate"] as const

const routes: Readonly<Record<OrderAction, string>> = {
  register: "POST /api/v1/orders",
  initiate: "POST /api/v1/initiate",
  followup: "POST /api/v1/followup",
  finalize: "PUT /api/v1/finalize/:OrderReqID",
  pause: "PUT /api/v1/pause/:OrderReqID",
  resume: "PUT /api/v1/resume/:OrderReqID",
  read: "GET /api/v1/orders/:OrderReqID",
  watch: "GET /api/v1/orders/:OrderReqID/events",
  readMessages: "GET /api/v1/orders/:OrderReqID/messages",
}

const OrdersGroup = HttpApiBuilder.group(
  RequestorApi,
  "orders",
  Effect.fn(function* (handlers) {
    const orders = yield* Orders
    const failureReports = yield* OrderFailureReports
    const broker = yield* Broker
    const store = yield* OrderStore
    const { catalogue } = yield* Metrics
    const sse = yield* makeSseEndpoint

    /** The policy's answer for `action` on the order (its stored BuyerID): the principal, or 403. */
    const authorize = Effect.fn("Orders.authorize")(function* (
      action: OrderAction,
      orderReqId: string,
      claimedBuyer?: string,
    ) {
      const principal = yield* CurrentPrincipal
      if (isUnrestricted(principal)) return principal
      const owner = (yield* store.get(orderReqId))?.details.buyerId
      const denied = authorizeOrder(principal, action, { orderReqId, owner, claimedBuyer })
      if (denied === undefined) return principal
      yield* recordDenial(catalogue, {
        entry: action === "watch" ? AuthEntries.Sse : AuthEntries.Http,
        route: routes[action],
        status: 403,
        reason: denied.reason,
        detail: denied.detail,
        principal,
      })
      return yield* denied
    })

    /** `authorize` for an operation: a refusal is also published to REQ_failures. */
    const authorizeOperation = (
      operation: Operation & OrderAction,
      orderReqId: string,
      request: unknown,
      options: { readonly claimedBuyer?: string | undefined; readonly sessionId?: string | undefined } = {},
    ) =>
      authorize(operation, orderReqId, options.claimedBuyer).pipe(
        Effect.catchTag("PermissionDenied", (error) =>
          failureReports
            .report(operation, failureOf(error), { orderReqId, sessionId: options.sessionId, request })
            .pipe(Effect.andThen(Effect.fail(error))),
        ),
      )
    /** The order's messages on the eight topics, read back from the broker (operators). */
    const topicMessages = (orderReqId: string) =>
      Effect.gen(function* () {
        if (broker.readKey === undefined || broker.kind !== "kafka") {
          return yield* new TopicMessagesUnavailable({
            orderReqId,
            reason: "not_supported",
            problem: `the ${broker.kind} broker cannot be read back by key`,
          })
        }
        const messages = yield* broker
          .readKey(allTopicNames, orderReqId)
          .pipe(
            Effect.mapError(
              (error) =>
                new TopicMessagesUnavailable({ orderReqId, reason: "failed", problem: error.message, cause: error }),
            ),
          )
        const decoder = new TextDecoder()
        return {
          OrderReqID: orderReqId,
          Messages: messages.map((message) => {
            const [partition = "0", offset = "0", timestamp = ""] = message.position.split(":")
            const text = decoder.decode(message.payload)
            let payload: unknown = text
            try {
              payload = JSON.parse(text)
            } catch {}
            return {
              Topic: message.topic,
              Key: message.key,
              Partition: Number(partition),
              Offset: Number(offset),
              Timestamp: timestamp === "" ? "" : new Date(Number(timestamp)).toISOString(),
              Headers: { ...message.headers },
              Payload: payload,
            }
          }),
        }
      })

    return handlers.handleAll({
      register: ({ payload }) =>
        Effect.gen(function* () {
          const orderReqId = payload.OrderReqID ?? payload.OrderReqId ?? ""
          const principal = yield* CurrentPrincipal
          const buyerId = buyerIdOf(principal, payload.BuyerID)
          yield* authorizeOperation("register", orderReqId, payload, {
            claimedBuyer: buyerId,
            sessionId: payload.SessionID,
          })
          if (buyerId === undefined) {
            const error = new BuyerIdMissing({ orderReqId })
            yield* failureReports.report("register", failureOf(error), {
              orderReqId,
              sessionId: payload.SessionID,
              request: payload,
            })
            return yield* error
          }
          return yield* orders.register(toOrderDetails({ ...payload, BuyerID: buyerId }), payload)
        }).pipe(Effect.mapError(toApiError)),

      getOrder: ({ params }) =>
        authorize("read", params.OrderReqID).pipe(
          Effect.andThen(orders.get(params.OrderReqID)),
          Effect.mapError(toApiError),
        ),

      messages: ({ params }) =>
        authorize("readMessages", params.OrderReqID).pipe(
          Effect.andThen(orders.get(params.OrderReqID)),
          Effect.andThen(topicMessages(params.OrderReqID)),
          Effect.mapError(toApiError),
        ),

      initiate: ({ payload: body }) =>
        Effect.gen(function* () {
          const orderReqId = body.OrderReqID ?? body.OrderReqId ?? ""
          const principal = yield* CurrentPrincipal
          // Inline details without BuyerID: the authenticated buyer's.
          const inline = inlineDetailFields.some((field) => body[field] !== undefined)
          const buyerId = inline ? buyerIdOf(principal, body.BuyerID) : body.BuyerID
          const payload = buyerId === undefined ? body : { ...body, BuyerID: buyerId }
          yield* authorizeOperation("initiate", orderReqId, body, { claimedBuyer: buyerId, sessionId: body.SessionID })
          const command = toInitiateCommand(payload)
          if (Result.isFailure(command)) {
            return yield* failureReports.rejected("initiate", command.failure, {
              orderReqId: payload.OrderReqID ?? payload.OrderReqId,
              sessionId: payload.SessionID,
              request: payload,
            })
          }
          return yield* orders.initiate(command.success, payload)
        }).pipe(Effect.mapError(toApiError)),

      followUp: ({ payload }) =>
        Effect.gen(function* () {
          const command = toFollowUpCommand(payload, newUuid)
          yield* authorizeOperation("followup", command.orderReqId, payload, { sessionId: payload.SessionID })
          return yield* orders.followUp(command, payload)
        }).pipe(Effect.mapError(toApiError)),

      finalize: ({ params, payload }) =>
        authorizeOperation("finalize", params.OrderReqID, payload ?? null).pipe(
          Effect.andThen(orders.finalise(toFinaliseCommand(params.OrderReqID, payload, newUuid), payload ?? null)),
          Effect.mapError(toApiError),
        ),

      pause: ({ params, payload }) =>
        authorizeOperation("pause", params.OrderReqID, payload ?? null).pipe(
          Effect.andThen(orders.pause(toPauseCommand(params.OrderReqID, payload, newUuid), payload ?? null)),
          Effect.mapError(toApiError),
        ),

      resume: ({ params, payload }) =>
        authorizeOperation("resume", params.OrderReqID, payload ?? null).pipe(
          Effect.andThen(orders.resume(toResumeCommand(params.OrderReqID, payload, newUuid), payload ?? null)),
          Effect.mapError(toApiError),
        ),

      events: ({ params, query, headers }) =>
        Effect.gen(function* () {
          // Before any work: past SSE_MAX_STREAMS open streams, 503 overloaded + Retry-After.
          yield* sse.slot
          yield* authorize("watch", params.OrderReqID)
          // EventSource sends Last-Event-ID on reconnects, with the original URL: the header wins.
          return yield* sse.respond(params.OrderReqID, Number(headers["last-event-id"] ?? query.from_seq ?? "0"))
        }).pipe(Effect.mapError(toApiError)),
    })
  }),
)

/** The order group with its failure-reporting middleware. */
export const OrdersHandlers = OrdersGroup.pipe(Layer.provide(OrderFailureReportingLive))
