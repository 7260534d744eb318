/**
 * Every refusal by authentication (401 / UNAUTHENTICATED) or authorization (403 /
 * PERMISSION_DENIED) is logged — principal, route, reason; never the credential — and counted in
 * `dcent_auth_denials_total{entry, status, reason}`.
 */
import { Effect } from "effect"
import type { AuthEntry, Catalogue } from "../metrics/catalogue.ts"
import { describePrincipal, type Principal } from "./Principal.ts"

export interface Denial {
  readonly entry: AuthEntry
  /** `POST /api/v1/initiate`, `/dcent.orders.v1.OrderWatchService/WatchOrder`, ... */
  readonly route: string
  readonly status: 401 | 403
  readonly reason: string
  readonly detail: string
  /** Who was refused (a 403); a 401 has no principal. */
  readonly principal?: Principal | undefined
}

export const recordDenial = (catalogue: Catalogue, denial: Denial): Effect.Effect<void> =>
  Effect.suspend(() => {
    catalogue.authDenials.inc({ entry: denial.entry, status: String(denial.status), reason: denial.reason })
    return Effect.logWarning(denial.status === 401 ? "request not authenticated" : "request not authorized").pipe(
      Effect.annotateLogs({
        auth_entry: denial.entry,
        route: denial.route,
        status: denial.status,
        reason: denial.reason,
        detail: denial.detail,
        principal: denial.principal === undefined ? "(none)" : describePrincipal(denial.principal),
      }),
    )
  })
