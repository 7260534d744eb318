import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { redeliveryDelay } from "../../../src/broker/options.ts"

describe("redeliveryDelay", () => {
  it("doubles from the first pause per delivery attempt, capped at the maximum", () => {
    const backoff = { initialMs: 100, maxMs: 1_000 }
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => Duration.toMillis(redeliveryDelay(backoff, attempt)))
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000])
  })

  it("stays finite however many attempts a message has had", () => {
    expect(Duration.toMillis(redeliveryDelay({ initialMs: 10, maxMs: 5_000 }, 10_000))).toBe(5_000)
  })
})
