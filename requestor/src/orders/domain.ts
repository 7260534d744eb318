/**
 * The requestor's order domain: the order details it owns (registered with `POST /api/v1/orders`
 * or sent inline with `initiate`), the stored order, and the follow-up. Wire parsing lives in
 * `schemas.ts`, the view built from the recorded events in `state.ts`.
 *
 * Names are camelCase here; the PascalCase wire names of the spec appear only at the edges
 * (REST bodies, topic payloads).
 */
import type { Location, NotificationType, OrderStatus, Priority } from "@dcent/shared/orders/domain"
import { Schema } from "effect"

export type { Location, NotificationType, OrderStatus, Priority }

/** The buyer's operations that change an order, as `REQ_failures` names them. */
export const Operation = Schema.Literals(["register", "initiate", "followup", "finalize", "pause", "resume"])
export type Operation = typeof Operation.Type

/** One line of an order. */
export interface Product {
  readonly productId?: string | undefined
  readonly name: string
  readonly quantity: number
  readonly unit?: string | undefined
  readonly attributes: Readonly<Record<string, string>>
}

/** What the buyer asks for: everything the processor needs to open the order. */
export interface OrderDetails {
  readonly orderReqId: string
  readonly buyerId: string
  readonly industry: string
  readonly location: Location
  readonly products: ReadonlyArray<Product>
  /** `YYYY-MM-DD` (past dates are accepted). */
  readonly deliveryDate: string
  readonly priority: Priority
  readonly notificationType?: NotificationType | undefined
  readonly sessionId?: string | undefined
}

/** The order as kept in Redis (`order:{id}`): its details and where it is in its life. */
export interface StoredOrder {
  readonly details: OrderDetails
  readonly status: OrderStatus
  /** The session and notification type the order was initiated with. */
  readonly sessionId?: string | undefined
  readonly notificationType?: NotificationType | undefined
  /** ISO 8601 timestamps. */
  readonly registeredAt: string
  readonly submittedAt?: string | undefined
  readonly updatedAt: string
  /** Read from the archive: the order ended and left Redis (it can no longer change). */
  readonly archived?: true
}

/** `initiate`: the order id, the session, and optionally the details inline. */
export interface InitiateCommand {
  readonly orderReqId: string
  readonly sessionId: string
  readonly notificationType?: NotificationType | undefined
  /** Complete details sent inline (they replace a registration that is not submitted yet). */
  readonly details?: OrderDetails | undefined
}

export const followUpMessageTypes = ["text", "html", "markdown"] as const
export type FollowUpMessageType = (typeof followUpMessageTypes)[number]

export interface FollowUpMessage {
  readonly urls: ReadonlyArray<string>
  readonly messageType: FollowUpMessageType
  readonly text: string
}

/** A buyer follow-up to some proposals of an order. */
export interface FollowUpCommand {
  readonly orderReqId: string
  /** Idempotency key: generated when the request has none. */
  readonly transactionUuid: string
  /** Whether the buyer chose `transactionUuid` (only then is a repeat recognised). */
  readonly transactionUuidGiven: boolean
  readonly audience: ReadonlyArray<string>
  readonly message: FollowUpMessage
  readonly sessionId?: string | undefined
}

export interface FinaliseCommand {
  readonly orderReqId: string
  readonly proposalId?: string | undefined
  readonly transactionUuid: string
}

export interface PauseCommand {
  readonly orderReqId: string
  readonly reason?: string | undefined
  readonly transactionUuid: string
}

export interface ResumeCommand {
  readonly orderReqId: string
  readonly transactionUuid: string
}

/** An order is live (a stream holder follows it) from `initiate` until it is finalised. */
export const isLive = (status: OrderStatus): boolean => status === "SUBMITTED" || status === "PAUSED"
