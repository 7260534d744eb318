/**
 * Who may do what on the processor (issue 10's rules; tested as a matrix in
 * `processor/test/unit/policy.test.ts`):
 *
 * | action | seller | buyer | operator | service (the requestor) |
 * | --- | --- | --- | --- | --- |
 * | `submitProposal` | as itself (`Seller` = `sub`); only orders it was selected for (the lifecycle's own `seller_not_eligible` check) | – | – | – |
 * | `sellerFollowUp`, `editLock` | as itself, on its own proposals | – | – | – |
 * | `readOrder`, `listProposals` | orders it was selected for: its own proposals only | its own orders | every order | – |
 * | `upsertSellers`, `listSellers`, `readEventLog` (an order's event log) | – | – | yes | – |
 * | `readSeller` | itself | – | any | – |
 * | `orderStream` (gRPC `ProcessOrderStream`) | – | – | – | yes |
 * | `orderCommand` (gRPC follow-up, finalise, pause, resume) | – | – | – | yes; for a buyer named on-behalf-of, only that buyer's orders |
 *
 * "–" is 403 `role_not_allowed`; otherwise `seller_mismatch`, `not_proposal_owner`,
 * `not_order_owner`, `not_selected`. Unknown orders and proposals are left to the operation
 * (404). With `AUTH_MODE=disabled` everything is allowed.
 */
import { PermissionDenied } from "@dcent/shared/auth/errors"
import { hasRole, isUnrestricted, type Principal } from "@dcent/shared/auth/Principal"

export const ProcessorActions = [
  "submitProposal",
  "sellerFollowUp",
  "editLock",
  "readOrder",
  "listProposals",
  "upsertSellers",
  "listSellers",
  "readEventLog",
  "readSeller",
  "orderStream",
  "orderCommand",
] as const
export type ProcessorAction = (typeof ProcessorActions)[number]

export interface ProcessorResource {
  readonly orderReqId?: string | undefined
  /** The `Seller` the body names. */
  readonly claimedSeller?: string | undefined
  /** The SellerID owning the proposal acted on, when the proposal is known. */
  readonly proposalOwner?: string | undefined
  /** The order's BuyerID, when the order is known. */
  readonly orderBuyer?: string | undefined
  /** The sellers selected for the order, when the order is known. */
  readonly selectedSellers?: ReadonlyArray<string> | undefined
  /** The seller directory entry read. */
  readonly sellerId?: string | undefined
  /** gRPC: the principal the calling service acts for (`dcent-on-behalf-of`). */
  readonly onBehalfOf?: Principal | undefined
}

const deny = (reason: string, detail: string) => new PermissionDenied({ reason, detail })

const roleNotAllowed = (action: ProcessorAction, roles: string) =>
  deny("role_not_allowed", `${action} needs the role ${roles}`)

/** `undefined` when allowed, else why not. */
export const authorizeProcessor = (
  principal: Principal,
  action: ProcessorAction,
  resource: ProcessorResource = {},
): PermissionDenied | undefined => {
  if (isUnrestricted(principal)) return undefined
  const order = resource.orderReqId ?? "the order"
  switch (action) {
    case "submitProposal":
    case "sellerFollowUp":
    case "editLock": {
      if (!hasRole(principal, "seller")) return roleNotAllowed(action, "seller")
      if (resource.claimedSeller !== undefined && resource.claimedSeller !== principal.sub) {
        return deny(
          "seller_mismatch",
          `Seller ${resource.claimedSeller} is not the authenticated seller ${principal.sub}`,
        )
      }
      if (resource.proposalOwner !== undefined && resource.proposalOwner !== principal.sub) {
        return deny("not_proposal_owner", `the proposal belongs to another seller`)
      }
      return undefined
    }
    case "readOrder":
    case "listProposals": {
      if (hasRole(principal, "operator")) return undefined
      const known = resource.orderBuyer !== undefined
      if (hasRole(principal, "buyer") && (!known || resource.orderBuyer === principal.sub)) return undefined
      if (hasRole(principal, "seller") && (!known || (resource.selectedSellers ?? []).includes(principal.sub))) {
        return undefined
      }
      if (hasRole(principal, "buyer")) return deny("not_order_owner", `order ${order} belongs to another buyer`)
      if (hasRole(principal, "seller")) return deny("not_selected", `the seller was not selected for order ${order}`)
      return roleNotAllowed(action, "operator, buyer (its orders) or seller (orders it was selected for)")
    }
    case "upsertSellers":
    case "listSellers":
    case "readEventLog":
      return hasRole(principal, "operator") ? undefined : roleNotAllowed(action, "operator")
    case "readSeller":
      if (hasRole(principal, "operator")) return undefined
      if (hasRole(principal, "seller") && resource.sellerId === principal.sub) return undefined
      return roleNotAllowed(action, "operator (or the seller itself)")
    case "orderStream":
      return hasRole(principal, "service") ? undefined : roleNotAllowed(action, "service (the requestor)")
    case "orderCommand": {
      if (!hasRole(principal, "service")) return roleNotAllowed(action, "service (the requestor)")
      const buyer = resource.onBehalfOf
      if (buyer === undefined || buyer === principal) return undefined
      if (!hasRole(buyer, "buyer")) return roleNotAllowed(action, "buyer (on behalf of)")
      if (resource.orderBuyer !== undefined && resource.orderBuyer !== buyer.sub) {
        return deny("not_order_owner", `order ${order} belongs to another buyer`)
      }
      return undefined
    }
  }
}

/** Whose proposals `principal` may see on an order it may read: all, or one seller's own. */
export const visibleProposals = (
  principal: Principal,
  orderBuyer: string | undefined,
): "all" | { readonly seller: string } =>
  isUnrestricted(principal) ||
  hasRole(principal, "operator") ||
  (hasRole(principal, "buyer") && orderBuyer === principal.sub)
    ? "all"
    : { seller: principal.sub }
