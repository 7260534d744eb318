/** Who is signed in: a bearer token (verified by the services, decoded here only to show it) or a local principal. */
export interface Session {
  /** The JWT sent as `Authorization: Bearer`; absent in the local profile (`AUTH_MODE=disabled`). */
  readonly token?: string
  readonly sub: string
  readonly roles: ReadonlyArray<string>
}

const key = "dcent.console.session"

export const loadSession = (): Session | undefined => {
  try {
    const raw = sessionStorage.getItem(key)
    return raw === null ? undefined : (JSON.parse(raw) as Session)
  } catch {
    return undefined
  }
}

export const saveSession = (session: Session | undefined) => {
  if (session === undefined) sessionStorage.removeItem(key)
  else sessionStorage.setItem(key, JSON.stringify(session))
}

/** The claims of a JWT (not verified: the services do that on every call). */
export const claimsOf = (token: string): { sub: string; roles: ReadonlyArray<string> } | undefined => {
  const payload = token.split(".")[1]
  if (payload === undefined) return undefined
  try {
    const json = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/")))
    if (typeof json.sub !== "string") return undefined
    const roles = Array.isArray(json.roles) ? json.roles.filter((role: unknown) => typeof role === "string") : []
    return { sub: json.sub, roles }
  } catch {
    return undefined
  }
}

/** The demo principals of `make demo` (demo/data), for the local profile. */
export const demoPrincipals: ReadonlyArray<Session> = [
  { sub: "BUYER-001", roles: ["buyer"] },
  { sub: "BUYER-002", roles: ["buyer"] },
  { sub: "SELLER-001", roles: ["seller"] },
  { sub: "SELLER-002", roles: ["seller"] },
  { sub: "SELLER-003", roles: ["seller"] },
  { sub: "OPERATOR", roles: ["operator"] },
]
