/**
 * The processor's REST handlers ask the policy (`policy.ts`) through `RestAuthorization`: the
 * authenticated principal (`CurrentPrincipal`) may do `action` on this resource, or a 403
 * (`ApiForbidden`, the common error body, `code` = the reason), counted and logged; the groups'
 * failure-reporting middleware publishes it to `PRP_FAILURES` like every refused operation.
 */
import { recordDenial } from "@dcent/shared/auth/denials"
import { CurrentPrincipal } from "@dcent/shared/auth/http"
import { isUnrestricted, type Principal } from "@dcent/shared/auth/Principal"
import { AuthEntries } from "@dcent/shared/metrics/catalogue"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { Effect, Option } from "effect"
import { ApiForbidden, toApiError } from "../http/errors.ts"
import type { Orders } from "../orders/Orders.ts"
import { authorizeProcessor, type ProcessorAction, type ProcessorResource } from "./policy.ts"

export const makeRestAuthorization = Effect.gen(function* () {
  const { catalogue } = yield* Metrics.orUnscraped

  /** The principal when allowed, else a 403. */
  const authorize = (route: string, action: ProcessorAction, resource: ProcessorResource = {}) =>
    Effect.gen(function* () {
      const principal = yield* CurrentPrincipal
      const denied = authorizeProcessor(principal, action, resource)
      if (denied === undefined) return principal
      yield* recordDenial(catalogue, {
        entry: AuthEntries.Http,
        route,
        status: 403,
        reason: denied.reason,
        detail: denied.detail,
        principal,
      })
      return yield* new ApiForbidden({
        code: denied.reason,
        message: denied.detail,
        details: [{ path: "authorization", problem: denied.detail }],
      })
    })

  /** `authorize` for an action on a proposal: its owner is read first (not with AUTH_MODE=disabled). */
  const authorizeOnProposal = (
    orders: Orders["Service"],
    route: string,
    action: ProcessorAction,
    orderReqId: string,
    proposalId: string,
  ) =>
    Effect.gen(function* () {
      const principal: Principal = yield* CurrentPrincipal
      if (isUnrestricted(principal)) return principal
      const state = yield* orders.get(orderReqId).pipe(Effect.mapError(toApiError))
      const proposalOwner = Option.isSome(state) ? state.value.proposals[proposalId]?.sellerId : undefined
      return yield* authorize(route, action, { orderReqId, proposalOwner })
    })

  return { authorize, authorizeOnProposal }
})
