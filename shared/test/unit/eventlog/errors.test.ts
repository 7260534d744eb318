/** Event log failures keep why they failed (a reason to branch on) and the original failure (`cause`). */
import { describe, expect, it } from "vitest"
import { EventLogError, isRetryLater } from "../../../src/eventlog/errors.ts"
import { RedisUnavailable } from "../../../src/redis/errors.ts"

const failure = (reason: EventLogError["reason"], cause?: unknown) =>
  new EventLogError({
    operation: "append",
    logId: "ORD-1",
    reason,
    detail: "what happened",
    ...(cause ? { cause } : {}),
  })

describe("EventLogError", () => {
  it("an outage and contention are worth a retry later (503 + Retry-After); a refusal or unreadable data is a bug", () => {
    expect(isRetryLater(failure("Unavailable"))).toBe(true)
    expect(isRetryLater(failure("Contention"))).toBe(true)
    expect(isRetryLater(failure("Refused"))).toBe(false)
    expect(isRetryLater(failure("Corrupt"))).toBe(false)
  })

  it("names the operation, the log and the reason, and keeps the original failure", () => {
    const unreachable = new RedisUnavailable({ url: "redis://127.0.0.1:1", reason: "connection refused" })
    const error = failure("Unavailable", unreachable)
    expect(error.message).toBe("event log append of ORD-1 failed (Unavailable): what happened")
    expect(error.cause).toBe(unreachable)
  })
})
