/**
 * The proposal decisions (pure, like the rest of the lifecycle; vocabulary in
 * `../orders/decision.ts`): who may submit, submission and update, a seller's follow-up on its
 * proposal, the edit lock (lock, extend, release, expiry via `../expiry/`) with the buyer
 * follow-ups queued behind it, and acceptance at finalise.
 *
 * Proposal: SUBMITTED ─lock→ EDITLOCK ─unlock/TTL→ SUBMITTED; at finalise ACCEPTED or CLOSED.
 */
import { Result } from "effect"
import {
  Builder,
  type CommandOf,
  contentDetails,
  type DecideOn,
  finalised,
  money,
  orderClosed,
  type Replies,
  remember,
  replayed,
  unchanged,
  withProposal,
} from "../orders/decision.ts"
import {
  type DecisionError,
  ProposalNotFound,
  SellerNotEligible,
  SellerNotFound,
  WrongState,
} from "../orders/errors.ts"
import { type FollowUpContent, type OrderState, type Proposal, TimerMember } from "../orders/model.ts"

const industryMatches = (industries: ReadonlyArray<string>, industry: string) =>
  industries.some((candidate) => candidate.trim().toLowerCase() === industry.trim().toLowerCase())

/**
 * Who may submit a new proposal: once dispatch has selected the sellers, one of them; before
 * that (dispatch still running), any active seller of the directory serving the order's
 * industry — the original dCent README's curl submits right after initiate.
 */
const eligibility = (state: OrderState, command: CommandOf<"SubmitProposal">): DecisionError | undefined => {
  const orderReqId = state.details.orderReqId
  const { sellerId } = command
  if (state.dispatchedAt !== undefined) {
    if (state.selectedSellers.some((seller) => seller.SellerID === sellerId)) return undefined
    if (!command.seller.found) return new SellerNotFound({ sellerId })
    return new SellerNotEligible({ orderReqId, sellerId, reason: "not one of the sellers selected for this order" })
  }
  if (!command.seller.found) return new SellerNotFound({ sellerId })
  if (!command.seller.active) return new SellerNotEligible({ orderReqId, sellerId, reason: "the seller is inactive" })
  if (!industryMatches(command.seller.industries, state.details.industry)) {
    return new SellerNotEligible({
      orderReqId,
      sellerId,
      reason: `the seller does not serve the order's industry (${state.details.industry})`,
    })
  }
  return undefined
}

/** What the details of every proposal event say of the proposal: its seller and its terms. */
const proposalTerms = (proposal: Proposal) => ({
  SellerID: proposal.sellerId,
  Price: String(proposal.price),
  Currency: proposal.currency,
  DeliveryDate: proposal.deliveryDate,
})

export const submitProposal: DecideOn<"SubmitProposal"> = (state, command, context) => {
  const closed = orderClosed(state, "accepts no proposals")
  if (closed !== undefined) return Result.fail(closed)
  const orderReqId = state.details.orderReqId
  const at = context.now.toISOString()
  const builder = new Builder(context, state.lastSeq)
  const existing = state.proposals[command.proposalId]

  if (existing !== undefined) {
    if (existing.sellerId !== command.sellerId) {
      return Result.fail(
        new WrongState({
          orderReqId,
          reason: "proposal_owned_by_another_seller",
          description: `proposal ${command.proposalId} of order ${orderReqId} belongs to another seller; choose another ProposalID`,
        }),
      )
    }
    if (existing.status === "CLOSED" || existing.status === "ACCEPTED") {
      return Result.fail(
        new WrongState({
          orderReqId,
          reason: "proposal_closed",
          description: `proposal ${command.proposalId} is ${existing.status.toLowerCase()}`,
        }),
      )
    }
    // An omitted currency keeps the one given before.
    const currency = command.currency ?? existing.currency
    if (
      existing.price === command.price &&
      existing.currency === currency &&
      existing.deliveryDate === command.deliveryDate
    ) {
      return unchanged({ outcome: "unchanged", proposal: existing })
    }
    const updated: Proposal = {
      ...existing,
      price: command.price,
      ...(currency === undefined ? {} : { currency }),
      deliveryDate: command.deliveryDate,
      version: existing.version + 1,
      updatedAt: at,
    }
    const { index, seq } = builder.event(
      "ProposalUpdate",
      `Proposal ${updated.proposalId} updated by ${updated.sellerId}: ${money(updated.price, currency)}, delivery ${updated.deliveryDate}`,
      {
        proposalId: updated.proposalId,
        details: {
          ...proposalTerms(updated),
          Version: String(updated.version),
          PreviousPrice: String(existing.price),
          PreviousDeliveryDate: existing.deliveryDate,
        },
      },
    )
    builder.message({
      eventIndex: index,
      topic: "SELLER_ACKNOWLEDGEMENTS",
      key: "PRP_SUBMISSION",
      sellerId: updated.sellerId,
      message: "Proposal Updated",
    })
    return builder.done(
      { ...withProposal(state, updated), updatedAt: at },
      { outcome: "updated", proposal: updated, seq },
    )
  }

  const refused = eligibility(state, command)
  if (refused !== undefined) return Result.fail(refused)
  const proposal: Proposal = {
    proposalId: command.proposalId,
    sellerId: command.sellerId,
    price: command.price,
    ...(command.currency === undefined ? {} : { currency: command.currency }),
    deliveryDate: command.deliveryDate,
    status: "SUBMITTED",
    version: 1,
    submittedAt: at,
    updatedAt: at,
    notes: [],
    pendingFollowUps: [],
  }
  const { index, seq } = builder.event(
    "NewProposal",
    `New proposal ${proposal.proposalId} from ${proposal.sellerId}: ${money(proposal.price, proposal.currency)}, delivery ${proposal.deliveryDate}`,
    {
      proposalId: proposal.proposalId,
      details: {
        ...proposalTerms(proposal),
        Version: "1",
      },
    },
  )
  builder.message({
    eventIndex: index,
    topic: "SELLER_ACKNOWLEDGEMENTS",
    key: "PRP_SUBMISSION",
    sellerId: proposal.sellerId,
    message: "Proposal Submitted",
  })
  return builder.done({ ...withProposal(state, proposal), updatedAt: at }, { outcome: "created", proposal, seq })
}

export const sellerFollowUp: DecideOn<"SellerFollowUp"> = (state, command, context) => {
  const again = replayed<Replies["SellerFollowUp"]>(state, "seller-followup", command.transactionUuid)
  if (again !== undefined) return unchanged(again)
  const closed = finalised(state, "follow-ups are closed")
  if (closed !== undefined) return Result.fail(closed)
  const orderReqId = state.details.orderReqId
  const proposal = state.proposals[command.proposalId]
  if (proposal === undefined) return Result.fail(new ProposalNotFound({ orderReqId, proposalId: command.proposalId }))
  if (command.sellerId !== undefined && command.sellerId !== proposal.sellerId) {
    return Result.fail(
      new SellerNotEligible({
        orderReqId,
        sellerId: command.sellerId,
        reason: `proposal ${proposal.proposalId} belongs to another seller`,
      }),
    )
  }
  const at = context.now.toISOString()
  const followUpId = context.newId()
  const builder = new Builder(context, state.lastSeq)
  const { seq } = builder.event(
    "SellerFollowUp",
    `Follow-up from ${proposal.sellerId} on proposal ${proposal.proposalId}`,
    {
      proposalId: proposal.proposalId,
      followUpId,
      details: {
        SellerID: proposal.sellerId,
        TransactionUUID: command.transactionUuid,
        ...contentDetails(command.content),
      },
    },
  )
  const reply = { followUpId, seq, duplicate: false }
  const next = withProposal(state, {
    ...proposal,
    notes: [...proposal.notes, { followUpId, transactionUuid: command.transactionUuid, content: command.content, at }],
  })
  return builder.done({ ...remember(next, "seller-followup", command.transactionUuid, reply), updatedAt: at }, reply)
}

export const lockProposal: DecideOn<"LockProposal"> = (state, command, context) => {
  const closed = orderClosed(state, "accepts no proposal edits")
  if (closed !== undefined) return Result.fail(closed)
  const orderReqId = state.details.orderReqId
  const proposal = state.proposals[command.proposalId]
  if (proposal === undefined) return Result.fail(new ProposalNotFound({ orderReqId, proposalId: command.proposalId }))
  const at = context.now.toISOString()
  const dueAt = context.now.getTime() + command.ttlMs
  const expiresAt = new Date(dueAt).toISOString()
  const builder = new Builder(context, state.lastSeq)
  builder.set.push({ member: TimerMember.editLock(orderReqId, proposal.proposalId), dueAt })
  if (proposal.status === "EDITLOCK" && proposal.lock !== undefined) {
    // Locking a locked proposal extends the lock (a heartbeat of a seller still editing).
    const extended: Proposal = { ...proposal, lock: { ...proposal.lock, expiresAt } }
    return builder.done(
      { ...withProposal(state, extended), updatedAt: at },
      { outcome: "extended", proposal: extended, expiresAt },
    )
  }
  const locked: Proposal = { ...proposal, status: "EDITLOCK", lock: { lockedAt: at, expiresAt }, updatedAt: at }
  const { seq } = builder.event(
    "EditLock",
    `Proposal ${proposal.proposalId} is locked while ${proposal.sellerId} edits it`,
    {
      proposalId: proposal.proposalId,
      details: {
        SellerID: proposal.sellerId,
        ExpiresAt: expiresAt,
        TtlSeconds: String(Math.round(command.ttlMs / 1000)),
      },
    },
  )
  return builder.done(
    { ...withProposal(state, locked), updatedAt: at },
    { outcome: "locked", proposal: locked, expiresAt, seq },
  )
}

export const unlockProposal: DecideOn<"UnlockProposal"> = (state, command, context) => {
  const orderReqId = state.details.orderReqId
  const proposal = state.proposals[command.proposalId]
  if (proposal === undefined) return Result.fail(new ProposalNotFound({ orderReqId, proposalId: command.proposalId }))
  if (proposal.status !== "EDITLOCK" || proposal.lock === undefined) {
    return unchanged({ outcome: "not_locked", proposal, delivered: [] })
  }
  const builder = new Builder(context, state.lastSeq)
  const member = TimerMember.editLock(orderReqId, proposal.proposalId)
  const dueAt = Date.parse(proposal.lock.expiresAt)
  if (command.reason === "expired" && dueAt > context.now.getTime()) {
    // A stale timer (the lock was extended): make sure the current one stays scheduled.
    builder.set.push({ member, dueAt })
    return builder.done(undefined, { outcome: "not_due", proposal, delivered: [] })
  }
  const at = context.now.toISOString()
  builder.clear.push(member)
  const { seq } = builder.event(
    "EditUnlock",
    command.reason === "expired"
      ? `The edit lock of proposal ${proposal.proposalId} expired`
      : `Proposal ${proposal.proposalId} was unlocked by ${proposal.sellerId}`,
    { proposalId: proposal.proposalId, details: { SellerID: proposal.sellerId, Reason: command.reason } },
  )
  const delivered = proposal.pendingFollowUps.map((queued) => deliverBuyerFollowUp(builder, proposal, queued, true))
  // The proposal as it was, without its lock and with the queued follow-ups delivered.
  const { lock: _lock, ...rest } = proposal
  const unlocked: Proposal = { ...rest, status: "SUBMITTED", updatedAt: at, pendingFollowUps: [] }
  return builder.done(
    { ...withProposal(state, unlocked), updatedAt: at },
    { outcome: "unlocked", proposal: unlocked, seq, delivered },
  )
}

/** A `BuyerFollowUp` event for one proposal plus its `SELLER_FOLLOWUP` message to the proposal's seller. */
export const deliverBuyerFollowUp = (
  builder: Builder,
  proposal: Proposal,
  followUp: { readonly followUpId: string; readonly transactionUuid: string; readonly content: FollowUpContent },
  afterUnlock: boolean,
): { readonly followUpId: string; readonly seq: number } => {
  const { index, seq } = builder.event(
    "BuyerFollowUp",
    afterUnlock
      ? `Buyer follow-up to proposal ${proposal.proposalId} delivered after its edit lock was released`
      : `Buyer follow-up to proposal ${proposal.proposalId}`,
    {
      proposalId: proposal.proposalId,
      followUpId: followUp.followUpId,
      details: {
        SellerID: proposal.sellerId,
        TransactionUUID: followUp.transactionUuid,
        ...contentDetails(followUp.content),
        ...(afterUnlock ? { DeliveredAfterUnlock: "true" } : {}),
      },
    },
  )
  builder.message({
    eventIndex: index,
    topic: "SELLER_FOLLOWUP",
    key: "PRP_UPDATES",
    sellerId: proposal.sellerId,
    message: followUp.content.text,
  })
  return { followUpId: followUp.followUpId, seq }
}

/** Why the chosen winner cannot be accepted: unknown, or locked while its seller edits it. */
export const winnerRefusal = (state: OrderState, winnerId: string | undefined): DecisionError | undefined => {
  if (winnerId === undefined) return undefined
  const orderReqId = state.details.orderReqId
  const winner = state.proposals[winnerId]
  if (winner === undefined) return new ProposalNotFound({ orderReqId, proposalId: winnerId })
  if (winner.status === "EDITLOCK") {
    return new WrongState({
      orderReqId,
      reason: "proposal_locked",
      description: `proposal ${winnerId} is being edited by its seller (locked until ${winner.lock?.expiresAt ?? "?"}); finalise after the lock is released`,
    })
  }
  return undefined
}

/**
 * Acceptance, at finalise: the winner (if any) is ACCEPTED and every other proposal CLOSED, each
 * with its `ProposalAccepted` / `ProposalClosed` event and a SELLER_NOTIFY to its seller. Edit
 * locks end (their timers are cleared) and follow-ups queued behind them are dropped (counted).
 */
export const acceptProposals = (
  builder: Builder,
  state: OrderState,
  winnerId: string | undefined,
  at: string,
): { readonly proposals: Record<string, Proposal>; readonly dropped: number } => {
  const orderReqId = state.details.orderReqId
  const proposals: Record<string, Proposal> = {}
  let dropped = 0
  for (const proposal of Object.values(state.proposals)) {
    if (proposal.status === "EDITLOCK") builder.clear.push(TimerMember.editLock(orderReqId, proposal.proposalId))
    dropped += proposal.pendingFollowUps.length
    const accepted = proposal.proposalId === winnerId
    const status = accepted ? "ACCEPTED" : "CLOSED"
    const { index } = builder.event(
      accepted ? "ProposalAccepted" : "ProposalClosed",
      accepted
        ? `Proposal ${proposal.proposalId} from ${proposal.sellerId} was accepted`
        : `Proposal ${proposal.proposalId} from ${proposal.sellerId} was closed`,
      {
        proposalId: proposal.proposalId,
        details: proposalTerms(proposal),
      },
    )
    builder.message({
      eventIndex: index,
      topic: "SELLER_NOTIFY",
      key: "PRP_REQUEST",
      sellerId: proposal.sellerId,
      message: accepted
        ? `Your proposal ${proposal.proposalId} was accepted`
        : `Your proposal ${proposal.proposalId} was closed`,
    })
    const { lock: _lock, ...rest } = proposal
    proposals[proposal.proposalId] = { ...rest, status, pendingFollowUps: [], updatedAt: at }
  }
  return { proposals, dropped }
}
