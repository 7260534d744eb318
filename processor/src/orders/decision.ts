/**
 * What every decision of the order lifecycle speaks: the commands, the decision (events, new
 * state, topic messages, timers, reply), the replies, and the helpers the decisions share (the
 * `Builder`, idempotent replays by TransactionUUID, the "order closed" refusals). The decisions
 * themselves are by feature: the order's in `./decide.ts`, the proposals' in
 * `../proposals/decide.ts`, expiry in `../expiry/decide.ts`. Pure: nothing here touches Redis,
 * the clock or the network.
 */
import type { EventDraft, EventStatus } from "@dcent/shared/orders/events"
import { Result } from "effect"
import { type DecisionError, OrderNotFound, WrongState } from "./errors.ts"
import {
  type FollowUpContent,
  type OrderDetails,
  type OrderState,
  type Proposal,
  type SelectedSeller,
  sellersOf,
  setProposal,
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
/** How each feature decides a command `T` on an existing order (routed by `decide`). */
export type DecideOn<T extends Tag> = (state: OrderState, command: CommandOf<T>, context: DecideContext) => Outcome<T>

// --- helpers ----------------------------------------------------------------------------------

const noTimers: TimerOps = { set: [], clear: [] }

/** Builds a decision's events, outbox intents and timer operations. */
export class Builder {
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

export const unchanged = <R>(reply: R): Result.Result<Decision<R>, never> =>
  Result.succeed({ events: [], state: undefined, outbox: [], timers: noTimers, reply })

const txKey = (kind: string, transactionUuid: string) => `${kind}:${transactionUuid}`

/** The stored reply of an earlier request with the same transaction uuid, marked as a duplicate. */
export const replayed = <R extends { readonly duplicate: boolean }>(
  state: OrderState,
  kind: string,
  transactionUuid: string,
): R | undefined => {
  if (transactionUuid === "") return undefined
  const stored = state.transactions[txKey(kind, transactionUuid)]
  if (stored === undefined || stored.kind !== kind) return undefined
  return { ...(stored.reply as unknown as R), duplicate: true }
}

export const remember = (state: OrderState, kind: string, transactionUuid: string, reply: object): OrderState =>
  transactionUuid === ""
    ? state
    : {
        ...state,
        transactions: {
          ...state.transactions,
          [txKey(kind, transactionUuid)]: { kind, reply: { ...reply } as Record<string, unknown> },
        },
      }

/** `state` with `proposal` set (in place when `Orders.run` owns the record: `setProposal`). */
export const withProposal = (state: OrderState, proposal: Proposal): OrderState => setProposal(state, proposal)

export const orderClosed = (state: OrderState, action: string): WrongState | undefined => {
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

export const finalised = (state: OrderState, what: string): WrongState | undefined =>
  state.status === "FINALISED"
    ? new WrongState({
        orderReqId: state.details.orderReqId,
        reason: "order_finalised",
        description: `order ${state.details.orderReqId} is finalised; ${what}`,
      })
    : undefined

export const money = (price: number, currency: string | undefined) =>
  currency === undefined ? String(price) : `${price} ${currency}`

export const contentDetails = (content: FollowUpContent): Record<string, string> => ({
  MessageType: content.messageType,
  Text: content.text,
  URLs: JSON.stringify(content.urls),
})

export const missingOrder = (orderReqId: string | undefined) =>
  Result.fail(new OrderNotFound({ orderReqId: orderReqId ?? "(unknown)" }))

/** The `OrderPaused` event, its notifications, and clearing the expiry timer. */
export const paused = (builder: Builder, state: OrderState, reason: "buyer" | "expired", note?: string) => {
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
