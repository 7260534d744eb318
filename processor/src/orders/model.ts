/**
 * The processor's authoritative state of one order, stored as JSON at `order:{OrderReqID}` (its
 * proposals apart, see `encodeOrderHead`) and
 * rewritten in the same Lua commit as the events that change it (`OrderEventLog.appendAt`, called
 * by `Orders.run`).
 *
 * One document per order keeps every decision a pure function of (state, command): the order,
 * its proposals (with their edit locks and the buyer follow-ups queued behind a lock), the
 * selected sellers, and the replies of idempotent requests (`transactions`).
 */
import { Location, NotificationType, OrderStatus, Priority, ProposalStatus } from "@dcent/shared/orders/domain"
import { MessageType } from "@dcent/shared/orders/wire"
import { orderTag, shardTag } from "@dcent/shared/redis/keys"
import { Schema } from "effect"
import { distanceSources } from "../sellers/distance.ts"

export const PausedReason = Schema.Literals(["buyer", "expired"])
export type PausedReason = typeof PausedReason.Type

export { MessageType } from "@dcent/shared/orders/wire"

/** The content of a follow-up (buyer or seller). */
export const FollowUpContent = Schema.Struct({
  urls: Schema.Array(Schema.String),
  messageType: MessageType,
  text: Schema.String,
})
export type FollowUpContent = typeof FollowUpContent.Type

export const Product = Schema.Struct({
  productId: Schema.String,
  name: Schema.String,
  quantity: Schema.Number,
  unit: Schema.String,
  attributes: Schema.Record(Schema.String, Schema.String),
})
export type Product = typeof Product.Type

/** What the requestor sends in `OrderStreamRequest`: everything the processor needs about the order. */
export const OrderDetails = Schema.Struct({
  orderReqId: Schema.String,
  sessionId: Schema.String,
  buyerId: Schema.String,
  notificationType: NotificationType,
  industry: Schema.String,
  location: Location,
  priority: Priority,
  products: Schema.Array(Product),
  deliveryDate: Schema.String,
})
export type OrderDetails = typeof OrderDetails.Type

/**
 * A seller chosen by dispatch, as `SellerSelection.select` returns it (PascalCase, like the
 * `SelectedSellers` of the spec). Contact details (webhook, e-mail) are not stored with the order.
 */
export const SelectedSeller = Schema.Struct({
  SellerID: Schema.String,
  Name: Schema.String,
  DistanceKm: Schema.Number,
  DistanceSource: Schema.Literals(distanceSources),
  DistanceFallbackReason: Schema.optionalKey(Schema.String),
})
export type SelectedSeller = typeof SelectedSeller.Type

/** A seller's follow-up on their proposal. */
export const SellerNote = Schema.Struct({
  followUpId: Schema.String,
  transactionUuid: Schema.String,
  content: FollowUpContent,
  at: Schema.String,
})
export type SellerNote = typeof SellerNote.Type

/** A buyer follow-up waiting for the edit lock of a proposal to be released. */
export const QueuedFollowUp = Schema.Struct({
  followUpId: Schema.String,
  transactionUuid: Schema.String,
  content: FollowUpContent,
  queuedAt: Schema.String,
})
export type QueuedFollowUp = typeof QueuedFollowUp.Type

export const EditLockInfo = Schema.Struct({
  lockedAt: Schema.String,
  /** ISO 8601; the lock is released by the timers at this time if nobody releases it before. */
  expiresAt: Schema.String,
})
export type EditLockInfo = typeof EditLockInfo.Type

export const Proposal = Schema.Struct({
  proposalId: Schema.String,
  sellerId: Schema.String,
  price: Schema.Number,
  currency: Schema.optionalKey(Schema.String),
  deliveryDate: Schema.String,
  status: ProposalStatus,
  /** 1 for the first submission, +1 for every update that changed something. */
  version: Schema.Number,
  submittedAt: Schema.String,
  updatedAt: Schema.String,
  lock: Schema.optionalKey(EditLockInfo),
  notes: Schema.Array(SellerNote),
  pendingFollowUps: Schema.Array(QueuedFollowUp),
})
export type Proposal = typeof Proposal.Type

/** A buyer follow-up as recorded on the order. */
export const BuyerNote = Schema.Struct({
  followUpId: Schema.String,
  transactionUuid: Schema.String,
  audience: Schema.Array(Schema.String),
  content: FollowUpContent,
  at: Schema.String,
})
export type BuyerNote = typeof BuyerNote.Type

/** The stored reply of an idempotent request, returned again for a repeated `transaction_uuid`. */
export const StoredReply = Schema.Struct({
  kind: Schema.String,
  reply: Schema.Record(Schema.String, Schema.Unknown),
})
export type StoredReply = typeof StoredReply.Type

export const OrderState = Schema.Struct({
  details: OrderDetails,
  status: OrderStatus,
  createdAt: Schema.String,
  updatedAt: Schema.String,
  /** ISO 8601: when a SUBMITTED order pauses itself (`expired`). */
  expiresAt: Schema.optionalKey(Schema.String),
  pausedReason: Schema.optionalKey(PausedReason),
  pausedNote: Schema.optionalKey(Schema.String),
  finalisedAt: Schema.optionalKey(Schema.String),
  acceptedProposalId: Schema.optionalKey(Schema.String),
  selectedSellers: Schema.Array(SelectedSeller),
  /** Set once the dispatch job committed `SellersSelected`: dispatch happens exactly once. */
  dispatchedAt: Schema.optionalKey(Schema.String),
  /** Keyed by ProposalID, in submission order. */
  proposals: Schema.Record(Schema.String, Proposal),
  notes: Schema.Array(BuyerNote),
  /** Keyed by `<kind>:<transaction uuid>`. */
  transactions: Schema.Record(Schema.String, StoredReply),
  /** The seq of the order's last event (the event log is written only through this state). */
  lastSeq: Schema.Number,
})
export type OrderState = typeof OrderState.Type

export const OrderStateJson = Schema.fromJsonString(OrderState)

/**
 * The full JSON of a state (the archive's record). The state's type is its own JSON form (no
 * transformation in `OrderState`; checked below at compile time and in `model.test.ts`), so
 * `JSON.stringify` writes exactly what `OrderStateJson` would, without re-validating the whole
 * document on every commit: that was ~16 % of the processor's CPU on the write path (profiled).
 * Reads still decode with `OrderStateJson`.
 */
export const encodeOrderState = (state: OrderState): string => JSON.stringify(state)

// Compile-time proof that the type and its encoded form are the same, both ways.
type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const stateIsItsOwnJson: SameShape<OrderState, typeof OrderState.Encoded> = true
void stateIsItsOwnJson

/**
 * In Redis a state is stored in two keys: its head (`Keys.order`: the state with `proposals`
 * empty) and its proposals (`Keys.proposals`: a hash, one field per ProposalID). A commit rewrites
 * the small head and only the proposals the decision changed, so its cost no longer grows with
 * the order: with the whole document rewritten, an order with a few hundred proposals made every
 * submission stringify, SHA-1, send and fsync ~100 KB, and throughput fell the longer a run went
 * (profiled: `encodeOrderState`, `writev` and GC on top, the processor idle waiting on Redis).
 */
export const encodeOrderHead = (state: OrderState): string => JSON.stringify({ ...state, proposals: {} })

export const ProposalJson = Schema.fromJsonString(Proposal)

/**
 * Proposals records a command owns: `Orders.run` hands a decision a state no one else holds (taken
 * out of its cache, or just read), and `withProposal` then sets the changed proposal in that
 * record instead of copying it. An order gathers hundreds of proposals; copying the record on
 * every submission, then comparing every entry to find the changed one, was ~9 % of the
 * processor's CPU on the write path (profiled). The ids set since the record was owned are kept
 * beside it, so the commit writes exactly those. A record not owned (tests, other readers) is
 * copied as before: decisions stay pure for every caller that does not opt in.
 */
const ownedProposals = new WeakMap<Record<string, Proposal>, Set<string>>()

/** `state`'s proposals become the caller's to change in place (see `ownedProposals`); none changed yet. */
export const ownProposals = (state: OrderState): void => {
  ownedProposals.set(state.proposals, new Set())
}

/** `state` with `proposal` set: in place when its record is owned, else on a copy. */
export const setProposal = (state: OrderState, proposal: Proposal): OrderState => {
  const changed = ownedProposals.get(state.proposals)
  if (changed === undefined) return { ...state, proposals: { ...state.proposals, [proposal.proposalId]: proposal } }
  ;(state.proposals as Record<string, Proposal>)[proposal.proposalId] = proposal
  changed.add(proposal.proposalId)
  return { ...state }
}

/** The proposals' hash fields a commit from `previous` to `next` must write (decisions copy a proposal they change). */
export const changedProposals = (
  previous: OrderState | undefined,
  next: OrderState,
): { readonly set: ReadonlyArray<Proposal>; readonly removed: ReadonlyArray<string> } => {
  const set: Array<Proposal> = []
  const owned = previous?.proposals === next.proposals ? ownedProposals.get(next.proposals) : undefined
  if (previous !== undefined && previous.proposals === next.proposals) {
    // The same record: only what was set in it since it was owned (nothing, when it is not owned).
    for (const id of owned ?? []) {
      const proposal = next.proposals[id]
      if (proposal !== undefined) set.push(proposal)
    }
    return { set, removed: [] }
  }
  for (const id in next.proposals) {
    const proposal = next.proposals[id] as Proposal
    if (previous?.proposals[id] !== proposal) set.push(proposal)
  }
  const removed: Array<string> = []
  if (previous !== undefined)
    for (const id in previous.proposals) if (next.proposals[id] === undefined) removed.push(id)
  return { set, removed }
}

/** A state from its stored head and its proposals, in submission order (a hash keeps none). */
export const withProposals = (head: OrderState, proposals: ReadonlyArray<Proposal>): OrderState => {
  if (proposals.length === 0) return head
  const ordered = [...proposals].sort((a, b) =>
    a.submittedAt === b.submittedAt ? (a.proposalId < b.proposalId ? -1 : 1) : a.submittedAt < b.submittedAt ? -1 : 1,
  )
  const byId: Record<string, Proposal> = { ...head.proposals }
  for (const proposal of ordered) byId[proposal.proposalId] = proposal
  return { ...head, proposals: byId }
}

/** Redis keys (relative to the processor's prefix `dcent:processor:`). */
export const Keys = {
  /** The order's head: its state without proposals (JSON). */
  order: (orderReqId: string) => `order:${orderTag(orderReqId)}:${orderReqId}`,
  /** The order's proposals (hash: ProposalID → Proposal JSON), in the order's slot. */
  proposals: (orderReqId: string) => `order:${orderTag(orderReqId)}:${orderReqId}:proposals`,
  /**
   * Sorted set of due timers, one per order shard (an order's timers are written in its commit):
   * score = due time (ms), member = `TimerMember`.
   */
  timers: (shard: number) => `timers:${shardTag(shard)}`,
  /** The timers key of an order's shard. */
  timersOf: (orderReqId: string) => `timers:${orderTag(orderReqId)}`,
  /** Google Chat post results of an order's dispatch (hash: sellerId → outcome). */
  chatResults: (orderReqId: string) => `order:${orderTag(orderReqId)}:${orderReqId}:gchat`,
  /**
   * The live orders a seller was selected for, one per order shard (written in the order's
   * commit; read across all shards): sorted set, score = selection time in ms, member = OrderReqID.
   */
  sellerOrders: (sellerId: string, shard: number) => `seller:${shardTag(shard)}:${sellerId}:orders`,
  /** The seller's index in an order's shard. */
  sellerOrdersOf: (sellerId: string, orderReqId: string) => `seller:${orderTag(orderReqId)}:${sellerId}:orders`,
} as const

/** Timer members of the `timers` sorted set. */
export const TimerMember = {
  expiry: (orderReqId: string) => `expiry|${orderReqId}`,
  editLock: (orderReqId: string, proposalId: string) => `editlock|${orderReqId}|${proposalId}`,
} as const

export type Timer =
  | { readonly _tag: "Expiry"; readonly orderReqId: string }
  | { readonly _tag: "EditLock"; readonly orderReqId: string; readonly proposalId: string }

export const parseTimerMember = (member: string): Timer | undefined => {
  const parts = member.split("|")
  if (parts[0] === "expiry" && parts.length === 2 && parts[1] !== "") {
    return { _tag: "Expiry", orderReqId: parts[1]! }
  }
  if (parts[0] === "editlock" && parts.length === 3 && parts[1] !== "" && parts[2] !== "") {
    return { _tag: "EditLock", orderReqId: parts[1]!, proposalId: parts[2]! }
  }
  return undefined
}

/** Every seller the order concerns: the selected ones and those with a proposal, each once. */
export const sellersOf = (state: OrderState): ReadonlyArray<string> => {
  const ids = new Set<string>()
  for (const seller of state.selectedSellers) ids.add(seller.SellerID)
  for (const proposal of Object.values(state.proposals)) ids.add(proposal.sellerId)
  return [...ids]
}
