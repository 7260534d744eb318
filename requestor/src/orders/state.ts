/**
 * The order's current state as the buyer sees it, derived from the stored order (its details)
 * and the events recorded from the processor's stream — a pure fold, so `GET /api/v1/orders/{id}`
 * always agrees with what `WatchOrder` and SSE delivered.
 *
 * Event details are strings (the proto's `map<string, string>`); the processor's names are read
 * (`Sellers`, `SellerID`, `Price`, `Currency`, `DeliveryDate`, `Version`, `ExpiresAt`, `Reason`,
 * `Note`, `AcceptedProposalID`, `MessageType`, `Text`, `URLs`, `TransactionUUID`), any letter case.
 * A detail that is missing or unreadable leaves the field out; it never fails the view.
 */

import type { OrderStatus, ProposalStatus } from "@dcent/shared/orders/domain"
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import type { NotificationType, OrderDetails, StoredOrder } from "./domain.ts"

export interface SelectedSeller {
  readonly sellerId: string
  readonly name?: string | undefined
  readonly distanceKm?: number | undefined
  readonly distanceSource?: string | undefined
}

export interface FollowUpNote {
  readonly followUpId: string
  readonly seq: number
  readonly at: string
  readonly messageType?: string | undefined
  readonly text: string
  readonly urls: ReadonlyArray<string>
  readonly transactionUuid?: string | undefined
}

/** A buyer follow-up: one note however many proposals it went to. */
export interface BuyerNote extends FollowUpNote {
  readonly audience: ReadonlyArray<string>
}

export interface ProposalSummary {
  readonly proposalId: string
  readonly sellerId?: string | undefined
  readonly price?: number | undefined
  readonly currency?: string | undefined
  readonly deliveryDate?: string | undefined
  readonly status: ProposalStatus
  readonly version: number
  /** While `EDITLOCK`: when the lock runs out. */
  readonly editLockExpiresAt?: string | undefined
  /** The seller's follow-ups on this proposal. */
  readonly notes: ReadonlyArray<FollowUpNote>
  readonly updatedAt: string
}

export interface OrderState {
  readonly orderReqId: string
  readonly status: OrderStatus
  readonly details: OrderDetails
  readonly sessionId?: string | undefined
  readonly notificationType?: NotificationType | undefined
  readonly registeredAt: string
  readonly submittedAt?: string | undefined
  readonly updatedAt: string
  /** While SUBMITTED: when the order pauses itself (`expired`), as last reported by the processor. */
  readonly expiresAt?: string | undefined
  /** While PAUSED: `buyer` or `expired`. */
  readonly pausedReason?: string | undefined
  readonly pausedNote?: string | undefined
  readonly finalisedAt?: string | undefined
  readonly acceptedProposalId?: string | undefined
  readonly selectedSellers: ReadonlyArray<SelectedSeller>
  readonly proposals: ReadonlyArray<ProposalSummary>
  /** The buyer's follow-ups. */
  readonly notes: ReadonlyArray<BuyerNote>
  /** The seq of the last recorded event (0: none yet). */
  readonly lastSeq: number
}

// --- reading details --------------------------------------------------------------------------

/** The detail `name` (exact name first, then any letter case). */
export const detail = (details: Readonly<Record<string, string>>, name: string): string | undefined => {
  const exact = details[name]
  if (exact !== undefined) return exact
  const lower = name.toLowerCase()
  for (const [key, value] of Object.entries(details)) if (key.toLowerCase() === lower) return value
  return undefined
}

const numberDetail = (details: Readonly<Record<string, string>>, name: string): number | undefined => {
  const raw = detail(details, name)
  if (raw === undefined || raw.trim() === "") return undefined
  const value = Number(raw)
  return Number.isFinite(value) ? value : undefined
}

const parseJson = (raw: string | undefined): unknown => {
  if (raw === undefined) return undefined
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/** `["a","b"]` (JSON) or `a,b`. */
const listDetail = (details: Readonly<Record<string, string>>, name: string): ReadonlyArray<string> => {
  const raw = detail(details, name)
  if (raw === undefined || raw.trim() === "") return []
  const parsed = parseJson(raw)
  if (Array.isArray(parsed)) return parsed.filter((item): item is string => typeof item === "string")
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")
}

const field = (value: unknown, ...names: ReadonlyArray<string>): unknown => {
  if (typeof value !== "object" || value === null) return undefined
  const record = value as Record<string, unknown>
  for (const name of names) if (record[name] !== undefined) return record[name]
  return undefined
}

/** `Sellers` as JSON `[{SellerID, Name, DistanceKm, DistanceSource}]`, or `SellerIDs` as a list. */
export const sellersOf = (details: Readonly<Record<string, string>>): ReadonlyArray<SelectedSeller> => {
  const parsed = parseJson(detail(details, "Sellers"))
  if (Array.isArray(parsed)) {
    return parsed.flatMap((item): Array<SelectedSeller> => {
      const sellerId = typeof item === "string" ? item : field(item, "SellerID", "sellerId", "SellerId")
      if (typeof sellerId !== "string" || sellerId === "") return []
      const name = field(item, "Name", "name")
      const distance = Number(field(item, "DistanceKm", "distanceKm"))
      const source = field(item, "DistanceSource", "distanceSource")
      return [
        {
          sellerId,
          ...(typeof name === "string" ? { name } : {}),
          ...(Number.isFinite(distance) && field(item, "DistanceKm", "distanceKm") !== undefined
            ? { distanceKm: distance }
            : {}),
          ...(typeof source === "string" ? { distanceSource: source } : {}),
        },
      ]
    })
  }
  return listDetail(details, "SellerIDs").map((sellerId) => ({ sellerId }))
}

const noteOf = (event: OrderEventRecord): FollowUpNote => {
  const messageType = detail(event.details, "MessageType")
  const transactionUuid = detail(event.details, "TransactionUUID")
  return {
    followUpId: event.followUpId ?? event.eventId,
    seq: event.seq,
    at: event.occurredAt,
    ...(messageType === undefined ? {} : { messageType }),
    text: detail(event.details, "Text") ?? detail(event.details, "Message") ?? event.message,
    urls: listDetail(event.details, "URLs"),
    ...(transactionUuid === undefined ? {} : { transactionUuid }),
  }
}

// --- the fold ---------------------------------------------------------------------------------

interface Draft {
  status: OrderStatus
  updatedAt: string
  expiresAt?: string | undefined
  pausedReason?: string | undefined
  pausedNote?: string | undefined
  finalisedAt?: string | undefined
  acceptedProposalId?: string | undefined
  selectedSellers: ReadonlyArray<SelectedSeller>
  proposals: Map<string, ProposalSummary>
  notes: Map<string, BuyerNote>
  lastSeq: number
}

const emptyProposal = (proposalId: string, at: string): ProposalSummary => ({
  proposalId,
  status: "SUBMITTED",
  version: 0,
  notes: [],
  updatedAt: at,
})

const updateProposal = (
  draft: Draft,
  event: OrderEventRecord,
  change: (p: ProposalSummary) => ProposalSummary,
): undefined => {
  const proposalId = event.proposalId ?? detail(event.details, "ProposalID")
  if (proposalId === undefined || proposalId === "") return undefined
  const current = draft.proposals.get(proposalId) ?? emptyProposal(proposalId, event.occurredAt)
  draft.proposals.set(proposalId, { ...change(current), updatedAt: event.occurredAt })
  return undefined
}

/** The proposal's terms carried by `NewProposal` / `ProposalUpdate` / `ProposalAccepted` / `ProposalClosed`. */
const withTerms = (proposal: ProposalSummary, details: Readonly<Record<string, string>>): ProposalSummary => {
  const sellerId = detail(details, "SellerID")
  const price = numberDetail(details, "Price")
  const currency = detail(details, "Currency")
  const deliveryDate = detail(details, "DeliveryDate")
  const version = numberDetail(details, "Version")
  return {
    ...proposal,
    ...(sellerId === undefined ? {} : { sellerId }),
    ...(price === undefined ? {} : { price }),
    ...(currency === undefined || currency === "" ? {} : { currency }),
    ...(deliveryDate === undefined ? {} : { deliveryDate }),
    version: version ?? proposal.version + 1,
  }
}

const withoutLock = (proposal: ProposalSummary): ProposalSummary => {
  const { editLockExpiresAt: _, ...rest } = proposal
  return rest
}

const apply = (draft: Draft, event: OrderEventRecord): undefined => {
  draft.lastSeq = Math.max(draft.lastSeq, event.seq)
  draft.updatedAt = event.occurredAt
  const { details } = event
  switch (event.status) {
    case "SellersSelected": {
      draft.selectedSellers = sellersOf(details)
      draft.expiresAt = detail(details, "ExpiresAt") ?? draft.expiresAt
      return
    }
    case "NewProposal":
    case "ProposalUpdate":
      return updateProposal(draft, event, (proposal) => {
        const next = withTerms(proposal, details)
        // An update of a locked proposal keeps the lock; otherwise it is open.
        return next.status === "EDITLOCK" ? next : { ...next, status: "SUBMITTED" }
      })
    case "ProposalClosed":
      return updateProposal(draft, event, (proposal) => ({
        ...withoutLock(withTerms(proposal, details)),
        version: proposal.version,
        status: "CLOSED",
      }))
    case "ProposalAccepted":
      draft.acceptedProposalId = event.proposalId ?? draft.acceptedProposalId
      return updateProposal(draft, event, (proposal) => ({
        ...withoutLock(withTerms(proposal, details)),
        version: proposal.version,
        status: "ACCEPTED",
      }))
    case "EditLock":
      return updateProposal(draft, event, (proposal) => {
        const expiresAt = detail(details, "ExpiresAt")
        return { ...proposal, status: "EDITLOCK", ...(expiresAt === undefined ? {} : { editLockExpiresAt: expiresAt }) }
      })
    case "EditUnlock":
      return updateProposal(draft, event, (proposal) => ({
        ...withoutLock(proposal),
        status: proposal.status === "EDITLOCK" ? "SUBMITTED" : proposal.status,
      }))
    case "BuyerFollowUp": {
      const note = noteOf(event)
      const existing = draft.notes.get(note.followUpId)
      const audience = [
        ...(existing?.audience ?? []),
        ...(event.proposalId === undefined ? listDetail(details, "Audience") : [event.proposalId]),
      ]
      draft.notes.set(note.followUpId, {
        ...(existing ?? note),
        audience: [...new Set(audience)],
      })
      return
    }
    case "SellerFollowUp":
      return updateProposal(draft, event, (proposal) => {
        const sellerId = proposal.sellerId ?? detail(details, "SellerID")
        return {
          ...proposal,
          ...(sellerId === undefined ? {} : { sellerId }),
          notes: [...proposal.notes, noteOf(event)],
        }
      })
    case "OrderPaused": {
      draft.status = "PAUSED"
      draft.pausedReason = detail(details, "Reason") ?? "buyer"
      draft.pausedNote = detail(details, "Note")
      draft.expiresAt = undefined
      return
    }
    case "OrderResumed": {
      draft.status = "SUBMITTED"
      draft.pausedReason = undefined
      draft.pausedNote = undefined
      draft.expiresAt = detail(details, "ExpiresAt")
      return
    }
    case "OrderFinalised": {
      draft.status = "FINALISED"
      draft.finalisedAt = event.occurredAt
      draft.expiresAt = undefined
      draft.pausedReason = undefined
      draft.pausedNote = undefined
      const accepted = detail(details, "AcceptedProposalID") ?? event.proposalId
      if (accepted !== undefined && accepted !== "") draft.acceptedProposalId = accepted
      return
    }
  }
}

/** The later of two ISO 8601 timestamps. */
const latest = (a: string, b: string): string => (a.localeCompare(b) >= 0 ? a : b)

/**
 * The state after `events` (in seq order; an event at or below the last applied seq is ignored,
 * so a repeated read is harmless). A registered order that was never initiated is `REGISTERED`
 * whatever the events say (there are none).
 */
export const deriveOrderState = (order: StoredOrder, events: ReadonlyArray<OrderEventRecord>): OrderState => {
  const draft: Draft = {
    status: order.status === "REGISTERED" ? "REGISTERED" : "SUBMITTED",
    updatedAt: order.updatedAt,
    selectedSellers: [],
    proposals: new Map(),
    notes: new Map(),
    lastSeq: 0,
  }
  const sorted = [...events].sort((a, b) => a.seq - b.seq)
  for (const event of sorted) {
    if (event.seq <= draft.lastSeq) continue
    apply(draft, event)
  }
  // The stored status is written atomically with the events that change it, so both agree; the
  // events are the source of truth once the order was initiated.
  const status = order.status === "REGISTERED" ? "REGISTERED" : draft.status
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
  return {
    orderReqId: order.details.orderReqId,
    status,
    details: order.details,
    ...optional("sessionId", order.sessionId),
    ...optional("notificationType", order.notificationType),
    registeredAt: order.registeredAt,
    ...optional("submittedAt", order.submittedAt),
    updatedAt: latest(draft.updatedAt, order.updatedAt),
    ...optional("expiresAt", status === "SUBMITTED" ? draft.expiresAt : undefined),
    ...optional("pausedReason", status === "PAUSED" ? draft.pausedReason : undefined),
    ...optional("pausedNote", status === "PAUSED" ? draft.pausedNote : undefined),
    ...optional("finalisedAt", draft.finalisedAt),
    ...optional("acceptedProposalId", draft.acceptedProposalId),
    selectedSellers: draft.selectedSellers,
    proposals: [...draft.proposals.values()],
    notes: [...draft.notes.values()],
    lastSeq: draft.lastSeq,
  }
}
