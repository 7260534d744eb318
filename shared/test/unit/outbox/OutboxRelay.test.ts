/** The relay's pure helpers: parsing outbox entries, retry backoff, stream id times. */
import { describe, expect, it } from "vitest"
import { parseOutboxFields, retryDelayMs, streamIdMs } from "../../../src/outbox/OutboxRelay.ts"

describe("outbox relay helpers", () => {
  it("parses the fields written by the event log", () => {
    expect(
      parseOutboxFields(["topic", "BUYER_NOTIFY", "key", "ORD-1", "headers", '{"event-id":"e1"}', "payload", "{}"]),
    ).toEqual({
      _tag: "Entry",
      entry: { topic: "BUYER_NOTIFY", key: "ORD-1", headers: { "event-id": "e1" }, payload: "{}" },
    })
    // headers are optional
    expect(parseOutboxFields(["topic", "T", "key", "k", "payload", ""])).toMatchObject({
      _tag: "Entry",
      entry: { headers: {} },
    })
  })

  it("rejects entries that can never be published", () => {
    expect(parseOutboxFields(["topic", "T", "payload", "x"])).toMatchObject({ _tag: "Invalid" })
    expect(parseOutboxFields(["topic", "T", "key", "k", "headers", "nope", "payload", "x"])).toEqual({
      _tag: "Invalid",
      reason: "headers are not JSON",
    })
    expect(parseOutboxFields(["topic", "T", "key", "k", "headers", "[1]", "payload", "x"])).toEqual({
      _tag: "Invalid",
      reason: "headers are not a JSON object",
    })
    expect(parseOutboxFields(["topic", "T", "key", "k", "headers", '{"a b":"v"}', "payload", "x"])).toMatchObject({
      _tag: "Invalid",
    })
  })

  it("backs off exponentially with jitter, capped", () => {
    expect(retryDelayMs(1, 100, 10_000, 1)).toBe(100)
    expect(retryDelayMs(1, 100, 10_000, 0)).toBe(50)
    expect(retryDelayMs(2, 100, 10_000, 1)).toBe(200)
    expect(retryDelayMs(5, 100, 10_000, 1)).toBe(1_600)
    expect(retryDelayMs(20, 100, 10_000, 1)).toBe(10_000)
    expect(retryDelayMs(10_000, 100, 10_000, 0.5)).toBe(7_500)
    for (let attempt = 1; attempt < 50; attempt++) {
      const delay = retryDelayMs(attempt, 100, 10_000)
      expect(delay).toBeGreaterThanOrEqual(50)
      expect(delay).toBeLessThanOrEqual(10_000)
    }
  })

  it("reads the time of a stream id", () => {
    expect(streamIdMs("1700000000000-3")).toBe(1_700_000_000_000)
  })
})
