/**
 * The processor's authorization policy as a matrix: every role × every action × ownership
 * (acting as itself or as another seller, own proposal or another's, own order or another
 * buyer's, selected or not), the gRPC on-behalf-of rule, and AUTH_MODE=disabled.
 */
import type { Principal, Role } from "@dcent/shared/auth/Principal"
import { unrestricted } from "@dcent/shared/auth/Principal"
import { describe, expect, it } from "vitest"
import {
  authorizeProcessor,
  type ProcessorAction,
  ProcessorActions,
  type ProcessorResource,
  visibleProposals,
} from "../../src/auth/policy.ts"

const as = (sub: string, ...roles: Array<Role>): Principal => ({ sub, roles, via: "jwt" })

const seller = as("SELLER-001", "seller")
const buyer = as("BUYER-001", "buyer")
const operator = as("ops", "operator")
const service = as("requestor", "service")
const nobody = as("x")

type Ownership = "mine" | "another's"

/** The resource of `action` that belongs to the principal ("mine") or to someone else. */
const resource = (action: ProcessorAction, principal: Principal, ownership: Ownership): ProcessorResource => {
  const mine = ownership === "mine"
  switch (action) {
    case "submitProposal":
    case "sellerFollowUp":
      return { orderReqId: "ORD-1", claimedSeller: mine ? principal.sub : "SELLER-999" }
    case "editLock":
      return { orderReqId: "ORD-1", proposalOwner: mine ? principal.sub : "SELLER-999" }
    case "readOrder":
    case "listProposals":
      return {
        orderReqId: "ORD-1",
        orderBuyer: mine && principal === buyer ? "BUYER-001" : "BUYER-999",
        selectedSellers: mine && principal === seller ? ["SELLER-001"] : ["SELLER-999"],
      }
    case "readSeller":
      return { sellerId: mine ? principal.sub : "SELLER-999" }
    case "orderCommand":
      return mine ? { orderReqId: "ORD-1" } : { orderReqId: "ORD-1", onBehalfOf: buyer, orderBuyer: "BUYER-999" }
    default:
      return {}
  }
}

const expected = (principal: Principal, action: ProcessorAction, ownership: Ownership): string => {
  const mine = ownership === "mine"
  switch (action) {
    case "submitProposal":
    case "sellerFollowUp":
      return principal !== seller ? "role_not_allowed" : mine ? "allow" : "seller_mismatch"
    case "editLock":
      return principal !== seller ? "role_not_allowed" : mine ? "allow" : "not_proposal_owner"
    case "readOrder":
    case "listProposals":
      if (principal === operator) return "allow"
      if (principal === buyer) return mine ? "allow" : "not_order_owner"
      if (principal === seller) return mine ? "allow" : "not_selected"
      return "role_not_allowed"
    case "upsertSellers":
    case "listSellers":
    case "readEventLog":
      return principal === operator ? "allow" : "role_not_allowed"
    case "readSeller":
      return principal === operator || (principal === seller && mine) ? "allow" : "role_not_allowed"
    case "orderStream":
      return principal === service ? "allow" : "role_not_allowed"
    case "orderCommand":
      return principal !== service ? "role_not_allowed" : mine ? "allow" : "not_order_owner"
  }
}

describe("processor policy matrix", () => {
  const principals = { seller, buyer, operator, service, "no role": nobody }
  for (const [name, principal] of Object.entries(principals)) {
    for (const action of ProcessorActions) {
      for (const ownership of ["mine", "another's"] as const) {
        const want = expected(principal, action, ownership)
        it(`${name} × ${action} × ${ownership} → ${want}`, () => {
          expect(authorizeProcessor(principal, action, resource(action, principal, ownership))?.reason ?? "allow").toBe(
            want,
          )
        })
      }
    }
  }

  it("the requestor acting for a buyer: that buyer's orders, unknown orders left to the operation", () => {
    expect(authorizeProcessor(service, "orderCommand", { onBehalfOf: buyer, orderBuyer: "BUYER-001" })).toBeUndefined()
    expect(authorizeProcessor(service, "orderCommand", { onBehalfOf: buyer })).toBeUndefined()
    expect(authorizeProcessor(service, "orderCommand", { onBehalfOf: seller })?.reason).toBe("role_not_allowed")
  })

  it("sellers see only their own proposals; the buyer and operators see all", () => {
    expect(visibleProposals(seller, "BUYER-001")).toEqual({ seller: "SELLER-001" })
    expect(visibleProposals(buyer, "BUYER-001")).toBe("all")
    expect(visibleProposals(operator, "BUYER-001")).toBe("all")
    expect(visibleProposals(unrestricted, "BUYER-001")).toBe("all")
  })

  it("AUTH_MODE=disabled allows everything", () => {
    for (const action of ProcessorActions) {
      expect(authorizeProcessor(unrestricted, action, resource(action, unrestricted, "another's"))).toBeUndefined()
    }
  })
})
