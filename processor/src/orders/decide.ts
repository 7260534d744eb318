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
 */
import type { EventDraft, EventStatus } from "@dcent/shared/orders/events"
import { Result } from "effect"
import {
  type DecisionError,
  InvalidRequest,
  OrderNotFound,
  ProposalNotFound,
  SellerNotEligible,
  SellerNotFound,
  WrongState,
} from "./errors.ts"
import {
  type FollowUpContent,
  type OrderDetails,
  type OrderState,
  type Proposal,
  type QueuedFollowUp,
  type SelectedSeller,
  sellersOf,
  TimerMember,
} from "./model.ts"

// --- inputs -----------------------------------------------------------------------------------

export interface DecideContext {
  readonly now: Date
  /** Fresh unique ids (event ids, follow-up ids). */
  readonly newId: () => string
  /** `ORDER_EXPIRY_MINUTES` in milliseconds. */
  readonly orderExpiryMs: number
}

/** What the seller directory knows about a seller (looked up by the caller). */
export type SellerLookup =
  | { readonly found: false }
  | { readonly found: true; readonly active: boolean; readonly industries: ReadonlyArray<string> }

export type Command =
  | { readonly _tag: "Open"; readonly details: OrderDetails }
  | { readonly _tag: "RecordSellersSelected"; readonly sellers: ReadonlyArray<SelectedSeller> }
  | {
      readonly _tag: "SubmitProposal"
      readonly proposalId: string
      readonly sellerId: string
      readonly price: number
      readonly currency?: string | undefined
      readonly deliveryDate: string
      readonly seller: SellerLookup
    }
  | {
      readonly _tag: "SellerFollowUp"
      readonly proposalId: string
      readonly sellerId?: string | undefined
      readonly transactionUuid: string
      readonly content: FollowUpContent
    }
  | { readonly _tag: "LockProposal"; readonly proposalId: string; readonly ttlMs: number }
  | { readonly _tag: "UnlockProposal"; readonly proposalId: string; readonly reason: "released" | "expired" }
  | {
      readonly _tag: "BuyerFollowUp"
      readonly transactionUuid: string
      readonly audience: ReadonlyArray<string>
      readonly content: FollowUpContent
    }
  | { readonly _tag: "Finalise"; readonly transactionUuid: string; readonly proposalId?: string | undefined }
  | { readonly _tag: "Pause"; readonly transactionUuid: string; readonly note?: string | undefined }
  | { readonly _tag: "Resume"; readonly transactionUuid: string }
  | { readonly _tag: "Expire" }

// --- outputs ----------------------------------------------------------------------------------

/** A topic message to publish with the commit, tied to one of the decision's events. */
export type OutboxIntent =
  | {
      readonly _tag: "EventMessage"
      /** Index into `Decision.events`. */
      readonly eventIndex: number
      readonly topic: string
      /** The key column of the original dCent README (`PRP_REQUEST`, ...). */
      readonly key: string
      /** A seller the message is addressed to (its `SellerID`; also makes the message's EventID unique). */
      readonly sellerId?: string | undefined
      readonly message?: string | undefined
      readonly details?: Readonly<Record<string, string>> | undefined
    }
  /** `SellerNotifier.notifySelected`: one `SELLER_NOTIFY` per selected seller. */
  | { readonly _tag: "SellersSelected"; readonly eventIndex: number; readonly sellers: ReadonlyArray<SelectedSeller> }

export interface TimerOps {
  /** Set (or move) a timer: member of the `timers` sorted set, due time in epoch ms. */
  readonly set: ReadonlyArray<{ readonly member: string; readonly dueAt: number }>
  readonly clear: ReadonlyArray<string>
}

export interface Decision<R> {
  readonly events: ReadonlyArray<EventDraft>
  /** The new state; `undefined` when nothing changed (no write). */
  readonly state: OrderState | undefined
  readonly outbox: ReadonlyArray<OutboxIntent>
  readonly timers: TimerOps
  readonly reply: R
}

export type FollowUpOutcome = "DELIVERED" | "EDIT_LOCK"

export interface Replies {
  readonly Open: { readonly created: boolean; readonly needsDispatch: boolean; readonly state: OrderState }
  readonly RecordSellersSelected: {
    readonly outcome: "dispatched" | "already_dispatched" | "finalised" | "paused"
    readonly seq?: number
  }
  readonly SubmitProposal: {
    readonly outcome: "created" | "updated" | "unchanged"
    readonly proposal: Proposal
    readonly seq?: number
  }
  readonly SellerFollowUp: { readonly followUpId: string; readonly seq: number; readonly duplicate: boolean }
  readonly LockProposal: {
    readonly outcome: "locked" | "extended"
    readonly proposal: Proposal
    readonly expiresAt: string
    readonly seq?: number
  }
  readonly UnlockProposal: {
    readonly outcome: "unlocked" | "not_locked" | "not_due"
    readonly proposal: Proposal
    readonly seq?: number
    readonly delivered: ReadonlyArray<{ readonly followUpId: string; readonly seq: number }>
  }
  readonly BuyerFollowUp: {
    readonly followUpId: string
    /** The seq of the first `BuyerFollowUp` event, 0 when every audience proposal was edit-locked. */
    readonly seq: number
    readonly results: ReadonlyArray<{
      readonly proposalId: string
      readonly outcome: FollowUpOutcome
      readonly seq: number
    }>
    readonly duplicate: boolean
  }
  readonly Finalise: { readonly seq: number; readonly duplicate: boolean }
  readonly Pause: { readonly seq: number; readonly duplicate: boolean }
  readonly Resume: {
    readonly seq: number
    readonly expiresAt: string
    readonly needsDispatch: boolean
    readonly duplicate: boolean
  }
  readonly Expire: { readonly outcome: "paused" | "not_submitted" | "not_due" | "gone"; readonly seq?: number }
}

export type Tag = Command["_tag"]
export type CommandOf<T extends Tag> = Extract<Command, { readonly _tag: T }>
export type Outcome<T extends Tag> = Result.Result<Decision<Replies[T]>, DecisionError>

// --- helpers ----------------------------------------------------------------------------------

const noTimers: TimerOps = { set: [], clear: [] }

/** Builds a decision's events, outbox intents and timer operations. */
class Builder {
  readonly events: Array<EventDraft> = []
  readonly outbox: Array<OutboxIntent> = []
  readonly set: Array<{ member: string; dueAt: number }> = []
  readonly clear: Array<string> = []
  readonly context: DecideContext
  readonly lastSeq: number
  constructor(context: DecideContext, lastSeq: number) {
    this.context = context
    this.lastSeq = lastSeq
  }

  /** Adds an event; returns its index and the seq it will get. */
  event(
    status: EventStatus,
    message: string,
    options: {
      readonly proposalId?: string | undefined
      readonly followUpId?: string | undefined
      readonly details?: Readonly<Record<string, string | undefined>>
    } = {},
  ): { readonly index: number; readonly seq: number } {
    const details: Record<string, string> = {}
    for (const [name, value] of Object.entries(options.details ?? {})) if (value !== undefined) details[name] = value
    this.events.push({
      eventId: this.context.newId(),
      status,
      ...(options.proposalId === undefined ? {} : { proposalId: options.proposalId }),
      ...(options.followUpId === undefined ? {} : { followUpId: options.followUpId }),
      occurredAt: this.context.now.toISOString(),
      message,
      details,
    })
    const index = this.events.length - 1
    return { index, seq: this.lastSeq + index + 1 }
  }

  message(intent: Omit<Extract<OutboxIntent, { _tag: "EventMessage" }>, "_tag">) {
    this.outbox.push({ _tag: "EventMessage", ...intent })
  }

  /** One SELLER_NOTIFY (key PRP_REQUEST) per seller for the event at `eventIndex`. */
  notifySellers(eventIndex: number, sellerIds: ReadonlyArray<string>, message?: string) {
    for (const sellerId of sellerIds) {
      this.message({ eventIndex, topic: "SELLER_NOTIFY", key: "PRP_REQUEST", sellerId, message })
    }
  }

  done<R>(state: OrderState | undefined, reply: R): Result.Result<Decision<R>, never> {
    const lastSeq = state === undefined ? undefined : this.lastSeq + this.events.length
    return Result.succeed({
      events: this.events,
      state: state === undefined || lastSeq === undefined ? undefined : { ...state, lastSeq },
      outbox: this.outbox,
      timers: this.set.length === 0 && this.clear.length === 0 ? noTimers : { set: this.set, clear: this.clear },
      reply,
    })
  }
}

const unchanged = <R>(reply: R): Result.Result<Decision<R>, never> =>
  Result.succeed({ events: [], state: undefined, outbox: [], timers: noTimers, reply })

const txKey = (kind: string, transactionUuid: string) => `${kind}:${transactionUuid}`

/** The stored reply of an earlier request with the same transaction uuid, marked as a duplicate. */
const replayed = <R extends { readonly duplicate: boolean }>(
  state: OrderState,
  kind: string,
  transactionUuid: string,
): R | undefined => {
  if (transactionUuid === "") return undefined
  const stored = state.transactions[txKey(kind, transactionUuid)]
  if (stored === undefined || stored.kind !== kind) return undefined
  return { ...(stored.reply as unknown as R), duplicate: true }
}

const remember = (state: OrderState, kind: string, transactionUuid: string, reply: object): OrderState =>
  transactionUuid === ""
    ? state
    : {
        ...state,
        transactions: {
          ...state.transactions,
          [txKey(kind, transactionUuid)]: { kind, reply: { ...reply } as Record<string, unknown> },
        },
      }

const withProposal = (state: OrderState, proposal: Proposal): OrderState => ({
  ...state,
  proposals: { ...state.proposals, [proposal.proposalId]: proposal },
})

const orderClosed = (state: OrderState, action: string): WrongState | undefined => {
  const id = state.details.orderReqId
  if (state.status === "FINALISED") {
    return new WrongState({
      orderReqId: id,
      reason: "order_finalised",
      description: `order ${id} is finalised; it ${action}`,
    })
  }
  if (state.status === "PAUSED") {
    const why = state.pausedReason === "expired" ? "it expired" : "by the buyer"
    return new WrongState({
      orderReqId: id,
      reason: "order_paused",
      description: `order ${id} is paused (${why}); it ${action} until the buyer resumes it`,
    })
  }
  if (state.status !== "SUBMITTED") {
    return new WrongState({ orderReqId: id, reason: "order_not_submitted", description: `order ${id} is not open` })
  }
  return undefined
}

const finalised = (state: OrderState, what: string): WrongState | undefined =>
  state.status === "FINALISED"
    ? new WrongState({
        orderReqId: state.details.orderReqId,
        reason: "order_finalised",
        description: `order ${state.details.orderReqId} is finalised; ${what}`,
      })
    : undefined

const money = (price: number, currency: string | undefined) =>
  currency === undefined ? String(price) : `${price} ${currency}`

const contentDetails = (content: FollowUpContent): Record<string, string> => ({
  MessageType: content.messageType,
  Text: content.text,
  URLs: JSON.stringify(content.urls),
})

const missingOrder = (orderReqId: string | undefined) =>
  Result.fail(new OrderNotFound({ orderReqId: orderReqId ?? "(unknown)" }))

// --- the decisions ----------------------------------------------------------------------------

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

const recordSellersSelected = (
  state: OrderState,
  command: CommandOf<"RecordSellersSelected">,
  context: DecideContext,
): Outcome<"RecordSellersSelected"> => {
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
      Sellers: JSON.stringify(
        sellers.map((seller) => ({
          SellerID: seller.SellerID,
          Name: seller.Name,
          DistanceKm: seller.DistanceKm,
          DistanceSource: seller.DistanceSource,
          ...(seller.DistanceFallbackReason === undefined
            ? {}
            : { DistanceFallbackReason: seller.DistanceFallbackReason }),
        })),
      ),
    },
  })
  if (sellers.length > 0) builder.outbox.push({ _tag: "SellersSelected", eventIndex: index, sellers })
  return builder.done(
    { ...state, selectedSellers: sellers, dispatchedAt: at, updatedAt: at },
    { outcome: "dispatched", seq },
  )
}

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

const submitProposal = (
  state: OrderState,
  command: CommandOf<"SubmitProposal">,
  context: DecideContext,
): Outcome<"SubmitProposal"> => {
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
          SellerID: updated.sellerId,
          Price: String(updated.price),
          Currency: currency,
          DeliveryDate: updated.deliveryDate,
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
        SellerID: proposal.sellerId,
        Price: String(proposal.price),
        Currency: proposal.currency,
        DeliveryDate: proposal.deliveryDate,
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

const sellerFollowUp = (
  state: OrderState,
  command: CommandOf<"SellerFollowUp">,
  context: DecideContext,
): Outcome<"SellerFollowUp"> => {
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

const lockProposal = (
  state: OrderState,
  command: CommandOf<"LockProposal">,
  context: DecideContext,
): Outcome<"LockProposal"> => {
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

const unlockProposal = (
  state: OrderState,
  command: CommandOf<"UnlockProposal">,
  context: DecideContext,
): Outcome<"UnlockProposal"> => {
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
  const unlocked: Proposal = {
    proposalId: proposal.proposalId,
    sellerId: proposal.sellerId,
    price: proposal.price,
    ...(proposal.currency === undefined ? {} : { currency: proposal.currency }),
    deliveryDate: proposal.deliveryDate,
    status: "SUBMITTED",
    version: proposal.version,
    submittedAt: proposal.submittedAt,
    updatedAt: at,
    notes: proposal.notes,
    pendingFollowUps: [],
  }
  return builder.done(
    { ...withProposal(state, unlocked), updatedAt: at },
    { outcome: "unlocked", proposal: unlocked, seq, delivered },
  )
}

/** A `BuyerFollowUp` event for one proposal plus its `SELLER_FOLLOWUP` message to the proposal's seller. */
const deliverBuyerFollowUp = (
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

const buyerFollowUp = (
  state: OrderState,
  command: CommandOf<"BuyerFollowUp">,
  context: DecideContext,
): Outcome<"BuyerFollowUp"> => {
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

const finalise = (state: OrderState, command: CommandOf<"Finalise">, context: DecideContext): Outcome<"Finalise"> => {
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
  if (winnerId !== undefined) {
    const winner = state.proposals[winnerId]
    if (winner === undefined) return Result.fail(new ProposalNotFound({ orderReqId, proposalId: winnerId }))
    if (winner.status === "EDITLOCK") {
      return Result.fail(
        new WrongState({
          orderReqId,
          reason: "proposal_locked",
          description: `proposal ${winnerId} is being edited by its seller (locked until ${winner.lock?.expiresAt ?? "?"}); finalise after the lock is released`,
        }),
      )
    }
  }
  const at = context.now.toISOString()
  const builder = new Builder(context, state.lastSeq)
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
        details: {
          SellerID: proposal.sellerId,
          Price: String(proposal.price),
          Currency: proposal.currency,
          DeliveryDate: proposal.deliveryDate,
        },
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

const pause = (state: OrderState, command: CommandOf<"Pause">, context: DecideContext): Outcome<"Pause"> => {
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

/** The `OrderPaused` event, its notifications, and clearing the expiry timer. */
const paused = (builder: Builder, state: OrderState, reason: "buyer" | "expired", note?: string) => {
  const orderReqId = state.details.orderReqId
  const event = builder.event(
    "OrderPaused",
    reason === "buyer" ? `Order ${orderReqId} was paused by the buyer` : `Order ${orderReqId} expired and was paused`,
    {
      details: {
        Reason: reason,
        Note: note === "" ? undefined : note,
        ExpiresAt: reason === "expired" ? state.expiresAt : undefined,
      },
    },
  )
  builder.notifySellers(event.index, sellersOf(state), `Order ${orderReqId} was paused (${reason})`)
  builder.clear.push(TimerMember.expiry(orderReqId))
  return event
}

const expire = (state: OrderState, _command: CommandOf<"Expire">, context: DecideContext): Outcome<"Expire"> => {
  if (state.status !== "SUBMITTED" || state.expiresAt === undefined) return unchanged({ outcome: "not_submitted" })
  const dueAt = Date.parse(state.expiresAt)
  const builder = new Builder(context, state.lastSeq)
  if (dueAt > context.now.getTime()) {
    // A stale timer (the order was resumed with a later expiry): keep the current one scheduled.
    builder.set.push({ member: TimerMember.expiry(state.details.orderReqId), dueAt })
    return builder.done(undefined, { outcome: "not_due" })
  }
  const { seq } = paused(builder, state, "expired")
  const at = context.now.toISOString()
  const { expiresAt: _expiresAt, pausedNote: _note, ...rest } = state
  return builder.done({ ...rest, status: "PAUSED", pausedReason: "expired", updatedAt: at }, { outcome: "paused", seq })
}

const resume = (state: OrderState, command: CommandOf<"Resume">, context: DecideContext): Outcome<"Resume"> => {
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
  switch (command._tag) {
    case "RecordSellersSelected":
      return recordSellersSelected(state, command, context)
    case "SubmitProposal":
      return submitProposal(state, command, context)
    case "SellerFollowUp":
      return sellerFollowUp(state, command, context)
    case "LockProposal":
      return lockProposal(state, command, context)
    case "UnlockProposal":
      return unlockProposal(state, command, context)
    case "BuyerFollowUp":
      return buyerFollowUp(state, command, context)
    case "Finalise":
      return finalise(state, command, context)
    case "Pause":
      return pause(state, command, context)
    case "Resume":
      return resume(state, command, context)
    case "Expire":
      return expire(state, command, context)
  }
}
