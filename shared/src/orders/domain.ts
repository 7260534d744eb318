/**
 * Domain values of the order lifecycle shared by the requestor and the processor (spec:
 * "Entities" and "State machines"). Each is a Schema (runtime validation) and a type of the same
 * name.
 */
import { Schema } from "effect"
import { Priority as ProtoPriority } from "../generated/dcent/orders/v1/order.ts"

/** Order: `REGISTERED → SUBMITTED ⇄ PAUSED → FINALISED` (finalise from SUBMITTED or PAUSED). */
export const OrderStatus = Schema.Literals(["REGISTERED", "SUBMITTED", "PAUSED", "FINALISED"])
export type OrderStatus = typeof OrderStatus.Type

/** Proposal: `SUBMITTED ⇄ EDITLOCK → CLOSED | ACCEPTED`. */
export const ProposalStatus = Schema.Literals(["SUBMITTED", "EDITLOCK", "CLOSED", "ACCEPTED"])
export type ProposalStatus = typeof ProposalStatus.Type

/** How urgently the buyer needs the order handled (default `MEDIUM`). */
export const Priority = Schema.Literals(["HIGH", "MEDIUM", "LOW"])
export type Priority = typeof Priority.Type

export const defaultPriority: Priority = "MEDIUM"

/** How the buyer (and the sellers of the order) want to be notified. */
export const NotificationType = Schema.Literals(["GChat", "Email", "SMS"])
export type NotificationType = typeof NotificationType.Type

/** A point on the map (WGS 84, decimal degrees). */
export const Location = Schema.Struct({
  lat: Schema.Finite.check(Schema.isBetween({ minimum: -90, maximum: 90 })),
  lng: Schema.Finite.check(Schema.isBetween({ minimum: -180, maximum: 180 })),
})
export type Location = typeof Location.Type

/** The proto values a `Priority` is sent as. */
export type PriorityOnTheWire =
  | typeof ProtoPriority.PRIORITY_HIGH
  | typeof ProtoPriority.PRIORITY_MEDIUM
  | typeof ProtoPriority.PRIORITY_LOW

const priorityToProtoMap: Record<Priority, PriorityOnTheWire> = {
  HIGH: ProtoPriority.PRIORITY_HIGH,
  MEDIUM: ProtoPriority.PRIORITY_MEDIUM,
  LOW: ProtoPriority.PRIORITY_LOW,
}

export const priorityToProto = (priority: Priority): PriorityOnTheWire => priorityToProtoMap[priority]

/** `PRIORITY_UNSPECIFIED` (and unknown values) map to the default, `MEDIUM`. */
export const priorityFromProto = (priority: ProtoPriority): Priority => {
  switch (priority) {
    case ProtoPriority.PRIORITY_HIGH:
      return "HIGH"
    case ProtoPriority.PRIORITY_LOW:
      return "LOW"
    default:
      return defaultPriority
  }
}
