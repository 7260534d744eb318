/** The relay's pure helpers: parsing outbox entries, retry backoff, stream id times. */
import { Duration, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { parseOutboxFields, relayRetryPolicy, streamIdMs } from "../../../src/outbox/OutboxRelay.ts"
import { delaysOf, exponentialCapped, nominalDelay, RetryPolicies } from "../../../src/resilience/schedules.ts"

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

  it("retries with the shared publish backoff, or the one given: exponential, capped, jittered, forever", async () => {
    expect(relayRetryPolicy()).toBe(RetryPolicies.brokerPublish)
    const policy = relayRetryPolicy({ initialMs: 100, maxMs: 10_000 })
    expect(Duration.toMillis(nominalDelay(policy, 1))).toBe(100)
    expect(Duration.toMillis(nominalDelay(policy, 5))).toBe(1_600)
    expect(Duration.toMillis(nominalDelay(policy, 20))).toBe(10_000)
    const delays = await Effect.runPromise(delaysOf(exponentialCapped(policy), 60))
    // never gives up: a publishable entry is never dropped
    expect(delays).toHaveLength(60)
    for (const [i, delay] of delays.entries()) {
      const nominal = Duration.toMillis(nominalDelay(policy, i + 1))
      expect(Duration.toMillis(delay)).toBeGreaterThanOrEqual(nominal * 0.8 - 1e-6)
      expect(Duration.toMillis(delay)).toBeLessThanOrEqual(nominal * 1.2 + 1e-6)
    }
  })

  it("reads the time of a stream id", () => {
    expect(streamIdMs("1700000000000-3")).toBe(1_700_000_000_000)
  })
})
