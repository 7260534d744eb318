/**
 * The pure part of rate limiting: whose budget a request spends (`subjectOf`), what the store's
 * answer means (`decide`), and how it is told to the client (`rateLimitHeaders`, `refusalBody`).
 *
 * Headers (IETF draft `RateLimit` header fields, the three-header form), on every limited REST
 * response, allowed or not:
 *
 *   RateLimit-Limit       the class's budget per window
 *   RateLimit-Remaining   what is left of it in this window
 *   RateLimit-Reset       seconds until the window ends
 *   Retry-After           (429 only) seconds to wait; the same as RateLimit-Reset
 */
import { describePrincipal, hasRole, isUnrestricted, type Principal } from "../auth/Principal.ts"
import { type ErrorBody, errorBody } from "../http/errors.ts"
import type { Bucket, RouteClass } from "./config.ts"

export interface RateDecision {
  readonly allowed: boolean
  readonly routeClass: RouteClass
  readonly limit: number
  readonly remaining: number
  /** Seconds until the window ends (≥ 1). */
  readonly resetSeconds: number
}

/** The store's counter after this request (`consumed` points in the window, `msBeforeNext` left of it). */
export const decide = (
  routeClass: RouteClass,
  bucket: Bucket,
  consumed: number,
  msBeforeNext: number,
): RateDecision => ({
  allowed: consumed <= bucket.points,
  routeClass,
  limit: bucket.points,
  remaining: Math.max(0, bucket.points - consumed),
  resetSeconds: Math.max(1, Math.ceil(msBeforeNext / 1000)),
})

/** `127.0.0.1` for `::ffff:127.0.0.1`, `ipv4:127.0.0.1:5000`, `127.0.0.1:5000`, `ipv6:[::1]:5000` → `::1`. */
export const clientAddress = (raw: string | undefined): string => {
  if (raw === undefined || raw === "") return "unknown"
  let value = raw.replace(/^ipv[46]:/, "")
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value)
  if (bracketed !== null) value = bracketed[1] as string
  else if (/^[^:]+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(":"))
  return value.startsWith("::ffff:") ? value.slice("::ffff:".length) : value
}

/**
 * The key a request's budget is kept under: the principal (`p:<sub>`), or the client address
 * when anonymous (`a:<address>`, `AUTH_MODE=disabled`). `undefined`: not limited — the
 * requestor's own calls to the processor (role `service`), already limited at the requestor's
 * edge per buyer; and, where `limitAnonymous` is false, anonymous callers (the processor's gRPC
 * port, which only the requestor calls).
 */
export const subjectOf = (
  principal: Principal,
  address: string | undefined,
  options: { readonly limitAnonymous?: boolean } = {},
): string | undefined => {
  if (isUnrestricted(principal)) return options.limitAnonymous === false ? undefined : `a:${clientAddress(address)}`
  if (hasRole(principal, "service")) return undefined
  return `p:${principal.sub}`
}

/** For logs: who a subject is. */
export const describeSubject = (principal: Principal, address: string | undefined): string =>
  isUnrestricted(principal) ? `address ${clientAddress(address)}` : describePrincipal(principal)

/** The headers of a limited REST response. */
export const rateLimitHeaders = (decision: RateDecision): Record<string, string> => {
  const headers: Record<string, string> = {
    "ratelimit-limit": String(decision.limit),
    "ratelimit-remaining": String(decision.remaining),
    "ratelimit-reset": String(decision.resetSeconds),
  }
  if (!decision.allowed) headers["retry-after"] = String(decision.resetSeconds)
  return headers
}

/** The 429 body (the common error body, `rate_limited`). */
export const rateLimitedBody = (decision: RateDecision): ErrorBody =>
  errorBody("rate_limited", `too many ${decision.routeClass} requests; retry after ${decision.resetSeconds} s`, [
    { path: `rate_limit.${decision.routeClass}`, problem: `${decision.limit} per window, none left` },
  ])

/** A stream refused because the principal already holds `cap` streams open. */
export interface StreamRefusal {
  readonly cap: number
  readonly open: number
  readonly retryAfterSeconds: number
}

export const streamRefusalMessage = (refusal: StreamRefusal): string =>
  `too many open streams: ${refusal.open} of at most ${refusal.cap} per principal; close one or retry after ${refusal.retryAfterSeconds} s`

/** The 429 body of a refused stream (`too_many_streams`). */
export const tooManyStreamsBody = (refusal: StreamRefusal): ErrorBody =>
  errorBody("too_many_streams", streamRefusalMessage(refusal), [
    { path: "rate_limit.streams_per_principal", problem: `${refusal.cap} open at most` },
  ])
