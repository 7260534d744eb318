/**
 * The order lifecycle as a pure function: `decide(state, command, context)` returns the events
 * the command produces, the new state, the topic messages to publish with them, the timers to
 * set or clear, and the reply — or a typed error. Nothing here touches Redis, the clock or the
 * network (`context` supplies "now" and id generation), so every transition is unit-tested.
 *
 * Order:    (none) ─open→ SUBMITTED ─pause/expiry→ PAUSED ─resume→ SUBMITTED
 *           SUBMITTED | PAUSED ─finalise→ FINALISED
 * Proposal: SUBMITTED ─lock→ EDITLOCK ─unlock/TTL→ SUBMITTED; at finalise ACCEPTED or CLOSED.
 *
 * `state.lastSeq` tracks the order's event log: events of a decision get the seqs
 * `lastSeq + 1 …`, which lets a reply name the seq of its event before the commit (the per-order
 * lock guarantees nothing else appends in between).
 *
 * This file holds the order's own decisions (open, sellers selected, buyer follow-up, finalise,
 * pause, resume) and the dispatch by command; the proposals' are in `../proposals/decide.ts`,
 * expiry in `../expiry/decide.ts`, the shared vocabulary in `./decision.ts`.
 */
import { Match, Result } from "effect"
import { expire } from "../expiry/decide.ts"
import {
  acceptProposals,
  deliverBuyerFollowUp,
  lockProposal,
  sellerFollowUp,
  submitProposal,
  unlockProposal,
  winnerRefusal,
} from "../proposals/decide.ts"
import { withoutContacts } from "../sellers/selectSellers.ts"
import {
  Builder,
  type Command,
  type CommandOf,
  type DecideContext,
  type DecideOn,
  type Decision,
  finalised,
  missingOrder,
  type Outcome,
  orderClosed,
  paused,
  type Replies,
  remember,
  replayed,
  unchanged,
  withProposal,
} from "./decision.ts"
import { type DecisionError, InvalidRequest, ProposalNotFound, WrongState } from "./errors.ts"
import { type OrderState, type QueuedFollowUp, sellersOf, TimerMember } from "./model.ts"

const open = (state: OrderState | undefined, command: CommandOf<"Open">, context: DecideContext): Outcome<"Open"> => {
  if (state !== undefined) {
    return unchanged({
      created: false,
      needsDispatch: state.status === "SUBMITTED" && state.dispatchedAt === undefined,
      state,
    })
  }
  const now = context.now.getTime()
  const created: OrderState = {
    details: command.details,
    status: "SUBMITTED",
    createdAt: context.now.toISOString(),
    updatedAt: context.now.toISOString(),
    expiresAt: new Date(now + context.orderExpiryMs).toISOString(),
    selectedSellers: [],
    proposals: {},
    notes: [],
    transactions: {},
    lastSeq: 0,
  }
  const builder = new Builder(context, 0)
  builder.set.push({ member: TimerMember.expiry(command.details.orderReqId), dueAt: now + context.orderExpiryMs })
  return builder.done(created, { created: true, needsDispatch: true, state: created })
}

const recordSellersSelected: DecideOn<"RecordSellersSelected"> = (state, command, context) => {
  if (state.dispatchedAt !== undefined) return unchanged({ outcome: "already_dispatched" })
  const builder = new Builder(context, state.lastSeq)
  const at = context.now.toISOString()
  if (state.status === "FINALISED") {
    return builder.done({ ...state, dispatchedAt: at, updatedAt: at }, { outcome: "finalised" })
  }
  // A paused order does not reach sellers; resuming it enqueues the dispatch again.
  if (state.status === "PAUSED") return unchanged({ outcome: "paused" })
  const sellers = command.sellers
  const { industry } = state.details
  const message =
    sellers.length === 0
      ? `No active seller found for industry ${industry}`
      : `${sellers.length} seller${sellers.length === 1 ? "" : "s"} selected for industry ${industry}, nearest first`
  const { index, seq } = builder.event("SellersSelected", message, {
    details: {
      Count: String(sellers.length),
      Sellers: JSON.stringify(sellers.map(withoutContacts)),
    },
  })
  if (sellers.length > 0) builder.outbox.push({ _tag: "SellersSelected", eventIndex: index, sellers })
  return builder.done(
    { ...state, selectedSellers: sellers, dispatchedAt: at, updatedAt: at },
    { outcome: "dispatched", seq },
  )
}

const buyerFollowUp: DecideOn<"BuyerFollowUp"> = (state, command, context) => {
  const again = replayed<Replies["BuyerFollowUp"]>(state, "buyer-followup", command.transactionUuid)
  if (again !== undefined) return unchanged(again)
  const closed = finalised(state, "follow-ups are closed")
  if (closed !== undefined) return Result.fail(closed)
  const orderReqId = state.details.orderReqId
  const audience = [...new Set(command.audience)]
  if (audience.length === 0) {
    return Result.fail(
      new InvalidRequest({ details: [{ path: "audience_proposal_ids", problem: "name at least one proposal" }] }),
    )
  }
  for (const proposalId of audience) {
    if (state.proposals[proposalId] === undefined) return Result.fail(new ProposalNotFound({ orderReqId, proposalId }))
  }
  const at = context.now.toISOString()
  const followUpId = context.newId()
  const followUp = { followUpId, transactionUuid: command.transactionUuid, content: command.content }
  const builder = new Builder(context, state.lastSeq)
  let next = state
  const results: Array<Replies["BuyerFollowUp"]["results"][number]> = []
  for (const proposalId of audience) {
    const proposal = next.proposals[proposalId]!
    if (proposal.status === "EDITLOCK") {
      const queued: QueuedFollowUp = { ...followUp, queuedAt: at }
      next = withProposal(next, { ...proposal, pendingFollowUps: [...proposal.pendingFollowUps, queued] })
      results.push({ proposalId, outcome: "EDIT_LOCK", seq: 0 })
    } else {
      const { seq } = deliverBuyerFollowUp(builder, proposal, followUp, false)
      results.push({ proposalId, outcome: "DELIVERED", seq })
    }
  }
  const first = results.find((result) => result.outcome === "DELIVERED")
  const reply = { followUpId, seq: first?.seq ?? 0, results, duplicate: false }
  next = {
    ...next,
    notes: [
      ...next.notes,
      { followUpId, transactionUuid: command.transactionUuid, audience, content: command.content, at },
    ],
    updatedAt: at,
  }
  return builder.done(remember(next, "buyer-followup", command.transactionUuid, reply), reply)
}

const finalise: DecideOn<"Finalise"> = (state, command, context) => {
  const again = replayed<Replies["Finalise"]>(state, "finalise", command.transactionUuid)
  if (again !== undefined) return unchanged(again)
  const orderReqId = state.details.orderReqId
  if (state.status !== "SUBMITTED" && state.status !== "PAUSED") {
    return Result.fail(
      new WrongState({
        orderReqId,
        reason: state.status === "FINALISED" ? "order_finalised" : "order_not_submitted",
        description: `order ${orderReqId} is ${state.status.toLowerCase()}; only a submitted or paused order can be finalised`,
      }),
    )
  }
  const winnerId = command.proposalId === "" ? undefined : command.proposalId
  const refused = winnerRefusal(state, winnerId)
  if (refused !== undefined) return Result.fail(refused)
  const at = context.now.toISOString()
  const builder = new Builder(context, state.lastSeq)
  const { proposals, dropped } = acceptProposals(builder, state, winnerId, at)
  const { index, seq } = builder.event(
    "OrderFinalised",
    winnerId === undefined
      ? `Order ${orderReqId} was finalised`
      : `Order ${orderReqId} was finalised; proposal ${winnerId} won`,
    {
      details: {
        AcceptedProposalID: winnerId,
        Proposals: String(Object.keys(state.proposals).length),
        ...(dropped > 0 ? { UndeliveredFollowUps: String(dropped) } : {}),
      },
    },
  )
  builder.notifySellers(index, sellersOf(state), `Order ${orderReqId} was finalised`)
  builder.clear.push(TimerMember.expiry(orderReqId))
  const { expiresAt: _expiresAt, pausedReason: _reason, pausedNote: _note, ...rest } = state
  const reply = { seq, duplicate: false }
  const next: OrderState = {
    ...rest,
    status: "FINALISED",
    finalisedAt: at,
    ...(winnerId === undefined ? {} : { acceptedProposalId: winnerId }),
    proposals,
    updatedAt: at,
  }
  return builder.done(remember(next, "finalise", command.transactionUuid, reply), reply)
}

const pause: DecideOn<"Pause"> = (state, command, context) => {
  const again = replayed<Replies["Pause"]>(state, "pause", command.transactionUuid)
  if (again !== undefined) return unchanged(again)
  const closed = orderClosed(state, "cannot be paused again")
  if (closed !== undefined) return Result.fail(closed)
  const builder = new Builder(context, state.lastSeq)
  const { seq } = paused(builder, state, "buyer", command.note)
  const reply = { seq, duplicate: false }
  const at = context.now.toISOString()
  const { expiresAt: _expiresAt, ...rest } = state
  const note = command.note === undefined || command.note === "" ? {} : { pausedNote: command.note }
  const next: OrderState = { ...rest, status: "PAUSED", pausedReason: "buyer", ...note, updatedAt: at }
  return builder.done(remember(next, "pause", command.transactionUuid, reply), reply)
}

const resume: DecideOn<"Resume"> = (state, command, context) => {
  const again = replayed<Replies["Resume"]>(state, "resume", command.transactionUuid)
  if (again !== undefined) return unchanged(again)
  const orderReqId = state.details.orderReqId
  if (state.status !== "PAUSED") {
    return Result.fail(
      new WrongState({
        orderReqId,
        reason: state.status === "FINALISED" ? "order_finalised" : "order_not_paused",
        description: `order ${orderReqId} is ${state.status.toLowerCase()}; only a paused order can be resumed`,
      }),
    )
  }
  const builder = new Builder(context, state.lastSeq)
  const dueAt = context.now.getTime() + context.orderExpiryMs
  const expiresAt = new Date(dueAt).toISOString()
  const { index, seq } = builder.event("OrderResumed", `Order ${orderReqId} was resumed`, {
    details: { ExpiresAt: expiresAt, PausedReason: state.pausedReason },
  })
  builder.notifySellers(index, sellersOf(state), `Order ${orderReqId} was resumed`)
  builder.set.push({ member: TimerMember.expiry(orderReqId), dueAt })
  const needsDispatch = state.dispatchedAt === undefined
  const reply = { seq, expiresAt, needsDispatch, duplicate: false }
  const at = context.now.toISOString()
  const { pausedReason: _reason, pausedNote: _note, ...rest } = state
  const next: OrderState = { ...rest, status: "SUBMITTED", expiresAt, updatedAt: at }
  return builder.done(remember(next, "resume", command.transactionUuid, reply), reply)
}

/** Decides `command` against `state` (`undefined`: no such order yet). */
export const decide = <C extends Command>(
  state: OrderState | undefined,
  command: C,
  context: DecideContext,
  orderReqId?: string,
): Outcome<C["_tag"]> => {
  const result = decideAny(state, command, context, orderReqId)
  return result as Outcome<C["_tag"]>
}

const decideAny = (
  state: OrderState | undefined,
  command: Command,
  context: DecideContext,
  orderReqId: string | undefined,
): Result.Result<Decision<unknown>, DecisionError> => {
  if (command._tag === "Open") return open(state, command, context)
  if (state === undefined) {
    // The timers of a vanished order have nothing to do.
    if (command._tag === "Expire") return unchanged({ outcome: "gone" })
    return missingOrder(orderReqId)
  }
  // Each command of an existing order to its feature's decision (exhaustive: a new command must be routed).
  return Match.valueTags(command, {
    RecordSellersSelected: (narrowed) => recordSellersSelected(state, narrowed, context),
    SubmitProposal: (narrowed) => submitProposal(state, narrowed, context),
    SellerFollowUp: (narrowed) => sellerFollowUp(state, narrowed, context),
    LockProposal: (narrowed) => lockProposal(state, narrowed, context),
    UnlockProposal: (narrowed) => unlockProposal(state, narrowed, context),
    BuyerFollowUp: (narrowed) => buyerFollowUp(state, narrowed, context),
    Finalise: (narrowed) => finalise(state, narrowed, context),
    Pause: (narrowed) => pause(state, narrowed, context),
    Resume: (narrowed) => resume(state, narrowed, context),
    Expire: (narrowed) => expire(state, narrowed, context),
  })
}
