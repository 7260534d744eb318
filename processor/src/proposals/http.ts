/**
 * Handlers of the proposal groups declared in `./api.ts`: submission (with the seller directory
 * facts the eligibility decision needs), listing, and edit locks. Each asks the policy first,
 * turns its body into one lifecycle command (`Orders.run`, decided in `./decide.ts`), and its
 * typed failures into REST errors through the one mapping `toApiError` (`asApiError`).
 */
import { noStackTrace } from "@dcent/shared/telemetry/traceContext"
import { Cache, Duration, Effect, Exit, Option } from "effect"
import { ProcessorConfig } from "../config.ts"
import { orderIdOf } from "../orders/api.ts"
import { unavailable } from "../orders/errors.ts"
import { asApiError, proposalView, readableOrder, sellerFacingHandlers } from "../orders/http.ts"
import { SellerDirectory } from "../sellers/SellerDirectory.ts"

export const ProposalsHandlers = sellerFacingHandlers(
  "proposals",
  Effect.fn(function* (handlers, services) {
    const { orders, authorization } = services
    const directory = yield* SellerDirectory

    // What a submission needs to know of its seller, kept for a second: a burst of proposals reads
    // the directory once per seller, not once per request (a profiled ~8 % of the processor's CPU).
    // A seller deactivated in the directory can still submit for up to that second.
    const sellerFacts = yield* Cache.makeWith(
      (sellerId: string) =>
        directory.get(sellerId).pipe(
          Effect.map(
            Option.match({
              onNone: () => ({ found: false }) as const,
              onSome: (seller) => ({ found: true, active: seller.Active, industries: seller.Industries }) as const,
            }),
          ),
          Effect.mapError(unavailable("seller directory")),
        ),
      // Failures (Redis trouble) are not kept: the next request asks again.
      { capacity: 10_000, timeToLive: (exit) => (Exit.isSuccess(exit) ? "1 second" : Duration.zero) },
    )
    const lookupSeller = (sellerId: string) => Cache.get(sellerFacts, sellerId)

    return handlers
      .handle("submit", ({ payload }) =>
        Effect.gen(function* () {
          yield* Effect.annotateCurrentSpan({
            orderReqId: orderIdOf(payload),
            proposalId: payload.ProposalDictObj.ProposalID,
          })
          const orderReqId = orderIdOf(payload)
          yield* authorization.authorize("POST /api/v1/proposal-submissions", "submitProposal", {
            orderReqId,
            claimedSeller: payload.Seller,
          })
          const offer = payload.ProposalDictObj
          const seller = yield* lookupSeller(payload.Seller)
          const { reply } = yield* orders.run(orderReqId, {
            _tag: "SubmitProposal",
            proposalId: offer.ProposalID,
            sellerId: payload.Seller,
            price: offer.Price,
            currency: offer.Currency?.toUpperCase(),
            deliveryDate: offer.DeliveryDate,
            seller,
          })
          const proposal = proposalView(orderReqId, reply.proposal)
          const seq = reply.seq === undefined ? {} : { Seq: reply.seq }
          if (reply.outcome === "created") {
            return { Message: "Proposal Submitted", Outcome: "created" as const, ...seq, Proposal: proposal }
          }
          return {
            Message: reply.outcome === "updated" ? "Proposal Updated" : "Proposal unchanged (identical resubmission)",
            Outcome: reply.outcome,
            ...seq,
            Proposal: proposal,
          }
        }).pipe(asApiError, Effect.withSpan("Proposals.submit", undefined, noStackTrace)),
      )
      .handle("list", ({ params }) =>
        readableOrder(services, "GET /api/v1/orders/:OrderReqID/proposals", "listProposals", params.OrderReqID).pipe(
          Effect.map((state) => ({
            OrderReqID: params.OrderReqID,
            Proposals: Object.values(state.proposals).map((proposal) => proposalView(params.OrderReqID, proposal)),
          })),
          Effect.withSpan("Proposals.list", { attributes: { orderReqId: params.OrderReqID } }),
        ),
      )
  }),
)

export const EditLocksHandlers = sellerFacingHandlers(
  "editLocks",
  Effect.fn(function* (handlers, { orders, authorization }) {
    const config = yield* ProcessorConfig

    const release = (orderReqId: string, proposalId: string) =>
      authorization
        .authorizeOnProposal(orders, "POST /api/v1/edit-lock/release", "editLock", orderReqId, proposalId)
        .pipe(
          Effect.andThen(
            orders.run(orderReqId, { _tag: "UnlockProposal", proposalId, reason: "released" }).pipe(asApiError),
          ),
          Effect.map(({ reply }) => ({
            OrderReqID: orderReqId,
            ProposalID: proposalId,
            Outcome: reply.outcome === "unlocked" ? ("unlocked" as const) : ("not_locked" as const),
            Status: reply.proposal.status,
            ...(reply.seq === undefined ? {} : { Seq: reply.seq }),
            DeliveredFollowUps: reply.delivered.map((delivered) => delivered.followUpId),
          })),
          Effect.withSpan("EditLocks.release", { attributes: { orderReqId, proposalId } }),
        )

    return handlers
      .handle("lock", ({ payload }) =>
        Effect.gen(function* () {
          const orderReqId = orderIdOf(payload)
          yield* authorization.authorizeOnProposal(
            orders,
            "POST /api/v1/edit-lock",
            "editLock",
            orderReqId,
            payload.ProposalID,
          )
          const ttlSeconds = payload.TtlSeconds ?? config.editLockTtlSeconds
          const { reply } = yield* orders
            .run(orderReqId, {
              _tag: "LockProposal",
              proposalId: payload.ProposalID,
              ttlMs: ttlSeconds * 1000,
            })
            .pipe(asApiError)
          return {
            OrderReqID: orderReqId,
            ProposalID: payload.ProposalID,
            Outcome: reply.outcome,
            Status: reply.proposal.status,
            LockedUntil: reply.expiresAt,
            ...(reply.seq === undefined ? {} : { Seq: reply.seq }),
          }
        }).pipe(Effect.withSpan("EditLocks.lock")),
      )
      .handle("release", ({ payload }) => release(orderIdOf(payload), payload.ProposalID))
      .handle("releaseByQuery", ({ query }) => release(query.OrderReqID, query.ProposalID))
  }),
)
