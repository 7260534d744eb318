/**
 * Who may do what on the requestor (issue 10's rules; tested as a matrix in
 * `requestor/test/unit/policy.test.ts`):
 *
 * | action | buyer | seller | operator | service |
 * | --- | --- | --- | --- | --- |
 * | `register`, `initiate` | as itself only: the body's `BuyerID` = `sub` (filled from it when absent), and an existing order must be its own | – | – | – |
 * | `followup`, `finalize`, `pause`, `resume` | its own orders | – | – | – |
 * | `read` (`GET` order), `watch` (SSE, `WatchOrder`) | its own orders | – | every order | – |
 * | `readMessages` (the order's topic messages) | – | – | every order | – |
 *
 * "–" is 403 `role_not_allowed`; another buyer's order is 403 `not_order_owner`; a body naming
 * another buyer is 403 `buyer_mismatch`. An order's existence is not hidden: the same choice on
 * REST, SSE and gRPC (PERMISSION_DENIED); an unknown order is 404 for everyone. With
 * `AUTH_MODE=disabled` everything is allowed.
 */
import { PermissionDenied } from "@dcent/shared/auth/errors"
import { hasRole, isUnrestricted, type Principal } from "@dcent/shared/auth/Principal"

export const OrderActions = [
  "register",
  "initiate",
  "followup",
  "finalize",
  "pause",
  "resume",
  "read",
  "watch",
  "readMessages",
] as const
export type OrderAction = (typeof OrderActions)[number]

const reads: ReadonlySet<OrderAction> = new Set(["read", "watch", "readMessages"])
/** Reads for operators only. */
const operatorReads: ReadonlySet<OrderAction> = new Set(["readMessages"])

export interface OrderResource {
  readonly orderReqId: string
  /** The stored order's BuyerID; `undefined` when the order is unknown (then the operation answers 404). */
  readonly owner: string | undefined
  /** The BuyerID the request body names (register, initiate with inline details). */
  readonly claimedBuyer?: string | undefined
}

/** `undefined` when allowed, else why not. */
export const authorizeOrder = (
  principal: Principal,
  action: OrderAction,
  resource: OrderResource,
): PermissionDenied | undefined => {
  if (isUnrestricted(principal)) return undefined
  if (reads.has(action) && hasRole(principal, "operator")) return undefined
  if (operatorReads.has(action)) {
    return new PermissionDenied({
      reason: "role_not_allowed",
      detail: `${action} of order ${resource.orderReqId} needs the role operator`,
    })
  }
  if (!hasRole(principal, "buyer")) {
    return new PermissionDenied({
      reason: "role_not_allowed",
      detail: reads.has(action)
        ? `${action} of order ${resource.orderReqId} needs the role buyer (its own orders) or operator`
        : `${action} needs the role buyer (operators and sellers may not act on buyers' orders)`,
    })
  }
  if (resource.claimedBuyer !== undefined && resource.claimedBuyer !== principal.sub) {
    return new PermissionDenied({
      reason: "buyer_mismatch",
      detail: `BuyerID ${resource.claimedBuyer} is not the authenticated buyer ${principal.sub}`,
    })
  }
  if (resource.owner !== undefined && resource.owner !== principal.sub) {
    return new PermissionDenied({
      reason: "not_order_owner",
      detail: `order ${resource.orderReqId} belongs to another buyer`,
    })
  }
  return undefined
}
