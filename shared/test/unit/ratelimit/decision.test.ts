/** The decision logic: whose budget, what the counter means, the headers and bodies the client gets. */
import { describe, expect, it } from "vitest"
import { unrestricted } from "../../../src/auth/Principal.ts"
import {
  clientAddress,
  decide,
  rateLimitedBody,
  rateLimitHeaders,
  subjectOf,
  tooManyStreamsBody,
} from "../../../src/ratelimit/decision.ts"

const bucket = { points: 5, windowSeconds: 10 }

describe("decide", () => {
  it("allows up to the budget, counting down what is left", () => {
    expect(decide("write", bucket, 1, 9_500)).toEqual({
      allowed: true,
      routeClass: "write",
      limit: 5,
      remaining: 4,
      resetSeconds: 10,
    })
    expect(decide("write", bucket, 5, 3_001)).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 4 })
  })

  it("refuses past it, with the seconds until the window ends (at least 1)", () => {
    expect(decide("read", bucket, 6, 2_000)).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 2 })
    expect(decide("read", bucket, 60, 10)).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 1 })
  })
})

describe("headers and bodies", () => {
  it("allowed: RateLimit-Limit, -Remaining, -Reset; no Retry-After", () => {
    expect(rateLimitHeaders(decide("write", bucket, 2, 4_000))).toEqual({
      "ratelimit-limit": "5",
      "ratelimit-remaining": "3",
      "ratelimit-reset": "4",
    })
  })

  it("refused: the same plus Retry-After, and the common error body", () => {
    const refused = decide("write", bucket, 6, 7_200)
    expect(rateLimitHeaders(refused)).toEqual({
      "ratelimit-limit": "5",
      "ratelimit-remaining": "0",
      "ratelimit-reset": "8",
      "retry-after": "8",
    })
    expect(rateLimitedBody(refused)).toEqual({
      error: {
        code: "rate_limited",
        message: "too many write requests; retry after 8 s",
        details: [{ path: "rate_limit.write", problem: "5 per window, none left" }],
      },
    })
    expect(tooManyStreamsBody({ cap: 2, open: 2, retryAfterSeconds: 1 }).error.code).toBe("too_many_streams")
  })
})

describe("subjectOf", () => {
  it("a principal by its sub, whatever its address", () => {
    expect(subjectOf({ sub: "BUYER-001", roles: ["buyer"], via: "jwt" }, "10.0.0.1")).toBe("p:BUYER-001")
    expect(subjectOf({ sub: "ops", roles: ["operator"], via: "api_key" }, undefined)).toBe("p:ops")
  })

  it("anonymous (AUTH_MODE=disabled) by its client address, unless anonymous callers are not limited", () => {
    expect(subjectOf(unrestricted, "::ffff:127.0.0.1")).toBe("a:127.0.0.1")
    expect(subjectOf(unrestricted, "ipv4:10.1.2.3:50123")).toBe("a:10.1.2.3")
    expect(subjectOf(unrestricted, "10.1.2.3", { limitAnonymous: false })).toBeUndefined()
  })

  it("the requestor's service principal is not limited (its buyers are, at the requestor)", () => {
    expect(subjectOf({ sub: "requestor", roles: ["service"], via: "jwt" }, "10.0.0.2")).toBeUndefined()
  })
})

describe("clientAddress", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["ipv4:127.0.0.1:40000", "127.0.0.1"],
    ["127.0.0.1:40000", "127.0.0.1"],
    ["ipv6:[::1]:40000", "::1"],
    ["[::1]:40000", "::1"],
    ["::1", "::1"],
    ["", "unknown"],
  ])("%j → %j", (raw, expected) => {
    expect(clientAddress(raw)).toBe(expected)
  })
})
