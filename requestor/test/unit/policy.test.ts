/**
 * The requestor's authorization policy as a matrix: every role × every action × ownership (own
 * order, another buyer's, unknown order, a body naming another buyer), and AUTH_MODE=disabled.
 */
import type { Principal, Role } from "@dcent/shared/auth/Principal"
import { unrestricted } from "@dcent/shared/auth/Principal"
import { describe, expect, it } from "vitest"
import { authorizeOrder, type OrderAction, OrderActions } from "../../src/auth/policy.ts"

const as = (sub: string, ...roles: Array<Role>): Principal => ({ sub, roles, via: "jwt" })

const buyer = as("BUYER-001", "buyer")
const otherBuyer = as("BUYER-002", "buyer")
const seller = as("SELLER-001", "seller")
const operator = as("ops", "operator")
const service = as("requestor", "service")
const nobody = as("x")

type Ownership = "own" | "other" | "unknown" | "claims-other"
const resourceFor = (ownership: Ownership) => ({
  orderReqId: "ORD-1",
  owner: ownership === "other" ? "BUYER-002" : ownership === "unknown" ? undefined : "BUYER-001",
  claimedBuyer: ownership === "claims-other" ? "BUYER-002" : undefined,
})

const reads = new Set<OrderAction>(["read", "watch", "readMessages"])

/** The expected answer: "allow" or the 403 reason. */
const expected = (principal: Principal, action: OrderAction, ownership: Ownership): string => {
  if (principal === operator) return reads.has(action) ? "allow" : "role_not_allowed"
  if (principal !== buyer || action === "readMessages") return "role_not_allowed"
  if (ownership === "claims-other") return "buyer_mismatch"
  if (ownership === "other") return "not_order_owner"
  return "allow"
}

describe("requestor policy matrix", () => {
  const principals = { buyer, seller, operator, service, "no role": nobody }
  for (const [name, principal] of Object.entries(principals)) {
    for (const action of OrderActions) {
      for (const ownership of ["own", "other", "unknown", "claims-other"] as const) {
        it(`${name} × ${action} × ${ownership} order → ${expected(principal, action, ownership)}`, () => {
          const denied = authorizeOrder(principal, action, resourceFor(ownership))
          expect(denied?.reason ?? "allow").toBe(expected(principal, action, ownership))
        })
      }
    }
  }

  it("another buyer is refused on the first buyer's order, allowed on its own", () => {
    expect(authorizeOrder(otherBuyer, "finalize", resourceFor("own"))?.reason).toBe("not_order_owner")
    expect(authorizeOrder(otherBuyer, "finalize", resourceFor("other"))).toBeUndefined()
  })

  it("AUTH_MODE=disabled allows everything", () => {
    for (const action of OrderActions) {
      expect(authorizeOrder(unrestricted, action, resourceFor("claims-other"))).toBeUndefined()
    }
  })
})
