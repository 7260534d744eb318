/**
 * Who is calling: the principal a request's credentials name, and what it may be.
 *
 * - From a JWT (`Authorization: Bearer …`, gRPC metadata `authorization`): `sub` is the BuyerID
 *   or SellerID, `roles` the token's `roles` claim (`buyer`, `seller`, `operator`).
 * - From an API key (`X-API-Key`, metadata `x-api-key`): the principal and roles the key is
 *   mapped to in `AUTH_API_KEYS_FILE`. The role `service` is only for the requestor's calls to the
 *   processor (its key or its minted token), never for a person.
 * - With `AUTH_MODE=disabled`: `unrestricted`, which every policy allows everything.
 */

/** The roles a credential may carry. */
export const Roles = ["buyer", "seller", "operator", "service"] as const
export type Role = (typeof Roles)[number]

export const isRole = (value: unknown): value is Role =>
  typeof value === "string" && (Roles as ReadonlyArray<string>).includes(value)

export interface Principal {
  /** The BuyerID or SellerID (JWT `sub`), or the name an API key is mapped to. */
  readonly sub: string
  readonly roles: ReadonlyArray<Role>
  /** How it was established. */
  readonly via: "jwt" | "api_key" | "disabled"
}

/** The principal of every request while `AUTH_MODE=disabled`: allowed everything. */
export const unrestricted: Principal = { sub: "anonymous", roles: [], via: "disabled" }

export const isUnrestricted = (principal: Principal): boolean => principal.via === "disabled"

export const hasRole = (principal: Principal, role: Role): boolean => principal.roles.includes(role)

/** `sub` and roles for logs: never a credential. */
export const describePrincipal = (principal: Principal): string =>
  isUnrestricted(principal) ? "anonymous (auth disabled)" : `${principal.sub} [${principal.roles.join(",")}]`
