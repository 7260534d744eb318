/**
 * Handlers of the order groups declared in `./api.ts` (the proposals' are in `../proposals/http.ts`,
 * built on the helpers exported here). Each turns its body into one
 * lifecycle command (`Orders.run`), and the command's typed failures into REST errors through
 * the one mapping `toApiError`.
 *
 * Each first asks the policy (`../auth/policy.ts` through `../auth/http.ts`) whether the
 * authenticated principal may do it: a seller acts only as itself (`Seller` = `sub`, filled from
 * it on a follow-up that leaves it out) and on its own proposals; reads of an order are for the
 * operator, its buyer, and the sellers selected for it (who see only their own proposals).
 */
import { hasRole, isUnrestricted } from "@dcent/shared/auth/Principal"
import { eventBodyOf } from "@dcent/shared/orders/events"
import { OrderEventLog } from "@dcent/shared/orders/OrderEventLog"
import { allKeyShards } from "@dcent/shared/redis/keys"
import { Redis } from "@dcent/shared/redis/Redis"
import { Effect, type Layer, Option, type Scope } from "effect"
import { type HttpApi, HttpApiBuilder, type HttpApiGroup } from "effect/http-api"
import { makeRestAuthorization } from "../auth/http.ts"
import { type ProcessorAction, visibleProposals } from "../auth/policy.ts"
import { ProcessorApi } from "../http/Api.ts"
import { type ApiForbidden, toApiError } from "../http/errors.ts"
import { type FollowUpMessageBody, orderIdOf, type ProposalView } from "./api.ts"
import { type CommandError, OrderNotFound, unavailable, unavailableOrDefect } from "./errors.ts"
import { type FollowUpContent, Keys, type OrderState, type Proposal } from "./model.ts"
import { Orders } from "./Orders.ts"

export const proposalView = (orderReqId: string, proposal: Proposal): ProposalView => ({
  ProposalID: proposal.proposalId,
  OrderReqID: orderReqId,
  SellerID: proposal.sellerId,
  Price: proposal.price,
  ...(proposal.currency === undefined ? {} : { Currency: proposal.currency }),
  DeliveryDate: proposal.deliveryDate,
  Status: proposal.status,
  Version: proposal.version,
  SubmittedAt: proposal.submittedAt,
  UpdatedAt: proposal.updatedAt,
  ...(proposal.lock === undefined ? {} : { LockedUntil: proposal.lock.expiresAt }),
  QueuedFollowUps: proposal.pendingFollowUps.length,
  Notes: proposal.notes.map((note) => ({
    FollowUpID: note.followUpId,
    MessageType: note.content.messageType,
    Message: note.content.text,
    URLs: [...note.content.urls],
    At: note.at,
  })),
})

export const orderView = (state: OrderState) => {
  const { details } = state
  return {
    OrderReqID: details.orderReqId,
    SessionID: details.sessionId,
    BuyerID: details.buyerId,
    NotificationType: details.notificationType,
    Industry: details.industry,
    Location: { Lat: details.location.lat, Lng: details.location.lng },
    Priority: details.priority,
    DeliveryDate: details.deliveryDate,
    Products: details.products.map((product) => ({
      ProductID: product.productId,
      Name: product.name,
      Quantity: product.quantity,
      Unit: product.unit,
      Attributes: { ...product.attributes },
    })),
    Status: state.status,
    CreatedAt: state.createdAt,
    UpdatedAt: state.updatedAt,
    ...(state.expiresAt === undefined ? {} : { ExpiresAt: state.expiresAt }),
    ...(state.pausedReason === undefined ? {} : { PausedReason: state.pausedReason }),
    ...(state.finalisedAt === undefined ? {} : { FinalisedAt: state.finalisedAt }),
    ...(state.acceptedProposalId === undefined ? {} : { AcceptedProposalID: state.acceptedProposalId }),
    ...(state.dispatchedAt === undefined ? {} : { DispatchedAt: state.dispatchedAt }),
    SelectedSellers: state.selectedSellers.map((seller) => ({
      SellerID: seller.SellerID,
      Name: seller.Name,
      DistanceKm: seller.DistanceKm,
      DistanceSource: seller.DistanceSource,
    })),
    Proposals: Object.values(state.proposals).map((proposal) => proposalView(details.orderReqId, proposal)),
    Notes: state.notes.map((note) => ({
      FollowUpID: note.followUpId,
      Audience: [...note.audience],
      MessageType: note.content.messageType,
      Message: note.content.text,
      URLs: [...note.content.urls],
      At: note.at,
    })),
    LastSeq: state.lastSeq,
  }
}

/** A follow-up message in any of the accepted shapes, normalised. */
export const followUpContentOf = (message: FollowUpMessageBody): FollowUpContent => {
  if (typeof message === "string") return { urls: [], messageType: "text", text: message }
  const content = "content" in message ? message.content : message
  return { urls: content.URLs ?? [], messageType: content.MessageType ?? "text", text: content.Message }
}

/** The order for a read: from Redis, else from the archive (the same document). */
const requireOrder = (orders: Orders["Service"], orderReqId: string) =>
  orders
    .find(orderReqId)
    .pipe(
      Effect.flatMap((state) =>
        Option.isSome(state) ? Effect.succeed(state.value) : Effect.fail(new OrderNotFound({ orderReqId })),
      ),
    )

/** Lifecycle failures as REST errors (a policy refusal is one already). */
export const asApiError = <A, R>(effect: Effect.Effect<A, CommandError | ApiForbidden, R>) =>
  Effect.mapError(effect, (error) => (error._tag === "ApiForbidden" ? error : toApiError(error)))

/** What every seller-facing handler group works with: the order lifecycle and the REST policy. */
const sellerFacingServices = Effect.gen(function* () {
  return { orders: yield* Orders, authorization: yield* makeRestAuthorization }
})
export type SellerFacingServices = Effect.Success<typeof sellerFacingServices>

type ProcessorGroups = typeof ProcessorApi extends HttpApi.HttpApi<string, infer Groups> ? Groups : never

/**
 * `HttpApiBuilder.group` for a seller-facing group of `ProcessorApi` (the groups `sellerFacing`
 * declares in `./api.ts`): `build` gets the group's handlers and the `SellerFacingServices`.
 */
export const sellerFacingHandlers = <const Name extends HttpApiGroup.Identifier<ProcessorGroups>, Return>(
  name: Name,
  build: (
    handlers: HttpApiBuilder.Handlers.FromGroup<HttpApiGroup.WithIdentifier<ProcessorGroups, Name>>,
    services: SellerFacingServices,
  ) => HttpApiBuilder.Handlers.ValidateReturn<Return>,
): Layer.Layer<
  HttpApiGroup.Service<"processor", Name>,
  HttpApiBuilder.Handlers.Error<Return> | Effect.Error<typeof sellerFacingServices>,
  Exclude<HttpApiBuilder.Handlers.Context<Return> | Effect.Services<typeof sellerFacingServices>, Scope.Scope>
> =>
  // `group` checks `build`'s handlers at each call site; the declared type is what `group` infers for them.
  HttpApiBuilder.group(
    ProcessorApi,
    name,
    (handlers) => Effect.flatMap(sellerFacingServices, (services) => build(handlers, services) as never) as never,
  ) as never

/** The order for a read by the current principal: authorized, with only the proposals it may see. */
export const readableOrder = (
  { orders, authorization }: SellerFacingServices,
  route: string,
  action: ProcessorAction,
  orderReqId: string,
) =>
  Effect.gen(function* () {
    const state = yield* requireOrder(orders, orderReqId).pipe(asApiError)
    const principal = yield* authorization.authorize(route, action, {
      orderReqId,
      orderBuyer: state.details.buyerId,
      selectedSellers: state.selectedSellers.map((seller) => seller.SellerID),
    })
    const visible = visibleProposals(principal, state.details.buyerId)
    if (visible === "all") return state
    const own = Object.fromEntries(
      Object.entries(state.proposals).filter(([, proposal]) => proposal.sellerId === visible.seller),
    )
    return { ...state, proposals: own }
  })

export const SellerFollowUpsHandlers = sellerFacingHandlers(
  "sellerFollowUps",
  Effect.fn(function* (handlers, { orders, authorization }) {
    return handlers.handle("create", ({ payload }) =>
      Effect.gen(function* () {
        const orderReqId = orderIdOf(payload)
        const principal = yield* authorization.authorize("POST /api/v1/followup", "sellerFollowUp", {
          orderReqId,
          claimedSeller: payload.Seller,
        })
        // A seller that leaves `Seller` out means itself: the lifecycle then checks it owns the proposal.
        const sellerId =
          payload.Seller ?? (!isUnrestricted(principal) && hasRole(principal, "seller") ? principal.sub : undefined)
        const transactionUuid = payload.TransactionUUID ?? crypto.randomUUID()
        const { reply } = yield* orders.run(orderReqId, {
          _tag: "SellerFollowUp",
          proposalId: payload.ProposalID,
          sellerId,
          transactionUuid,
          content: followUpContentOf(payload.Message),
        })
        const result = {
          OrderReqID: orderReqId,
          ProposalID: payload.ProposalID,
          TransactionUUID: transactionUuid,
          FollowUpID: reply.followUpId,
          Seq: reply.seq,
        }
        return reply.duplicate ? { ...result, Duplicate: true as const } : { ...result, Duplicate: false as const }
      }).pipe(asApiError, Effect.withSpan("SellerFollowUps.create")),
    )
  }),
)

export const OrdersHandlers = sellerFacingHandlers(
  "orders",
  Effect.fn(function* (handlers, services) {
    const { orders, authorization } = services
    const eventLog = yield* OrderEventLog
    const redis = yield* Redis
    return handlers
      .handle("sellerOrders", ({ params }) =>
        Effect.gen(function* () {
          const sellerId = params.SellerID
          yield* authorization.authorize("GET /api/v1/sellers/:SellerID/orders", "readSeller", { sellerId })
          // The seller's index is split by order shard: the latest 100 of each, the latest 100 in all.
          const shards = yield* Effect.forEach(
            allKeyShards,
            (shard) =>
              redis.useIdempotent("ZREVRANGE", (client) =>
                client.zrevrange(Keys.sellerOrders(sellerId, shard), 0, 99, "WITHSCORES"),
              ),
            { concurrency: "unbounded" },
          ).pipe(Effect.mapError(unavailable("redis")), asApiError)
          const selected: Array<{ readonly id: string; readonly at: number }> = []
          for (const entries of shards) {
            for (let i = 0; i + 1 < entries.length; i += 2) {
              selected.push({ id: entries[i]!, at: Number(entries[i + 1]) })
            }
          }
          selected.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
          const orders = selected
            .slice(0, 100)
            .map(({ id, at }) => ({ OrderReqID: id, SelectedAt: new Date(at).toISOString() }))
          return { SellerID: sellerId, Orders: orders }
        }).pipe(Effect.withSpan("Orders.sellerOrders")),
      )
      .handle("get", ({ params }) =>
        readableOrder(services, "GET /api/v1/orders/:OrderReqID", "readOrder", params.OrderReqID).pipe(
          Effect.map(orderView),
          Effect.withSpan("Orders.view", { attributes: { orderReqId: params.OrderReqID } }),
        ),
      )
      .handle("events", ({ params }) =>
        Effect.gen(function* () {
          const orderReqId = params.OrderReqID
          yield* requireOrder(orders, orderReqId).pipe(asApiError)
          yield* authorization.authorize("GET /api/v1/orders/:OrderReqID/events", "readEventLog", { orderReqId })
          const records = yield* eventLog
            .read(orderReqId, 0, 10_000)
            .pipe(Effect.catch(unavailableOrDefect), asApiError)
          return {
            OrderReqID: orderReqId,
            Events: records.map((record) => ({
              ...eventBodyOf(record),
              ...(traceIdOf(record.traceContext) === undefined ? {} : { TraceID: traceIdOf(record.traceContext) }),
            })),
          }
        }).pipe(Effect.withSpan("Orders.eventLog", { attributes: { orderReqId: params.OrderReqID } })),
      )
  }),
)

/** The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`). */
const traceIdOf = (context: Readonly<Record<string, string>> | undefined) => context?.traceparent?.split("-")[1]
