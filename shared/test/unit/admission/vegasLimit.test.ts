/**
 * The adaptive bound (`vegasLimit.ts`) from latency samples alone: it grows while the latency
 * stays at its no-load level and the limiter is busy, shrinks when latency says work is queueing,
 * keeps to [min, max], ignores a quiet limiter, and learns a lasting change of latency.
 */
import { describe, expect, it } from "vitest"
import { makeVegasLimit } from "../../../src/admission/vegasLimit.ts"

describe("makeVegasLimit", () => {
  it("grows up to its ceiling while busy work keeps its no-load latency", () => {
    const vegas = makeVegasLimit({ initial: 10, min: 2, max: 100 })
    // A quiet sample (nothing else in flight) sets the no-load latency and leaves the bound.
    vegas.sample(5, 0)
    const seen = [vegas.limit()]
    for (let i = 0; i < 200; i++) {
      vegas.sample(5, vegas.limit())
      seen.push(vegas.limit())
    }
    expect(seen[0]).toBe(10)
    expect(seen.every((limit, index) => index === 0 || limit >= (seen[index - 1] as number))).toBe(true)
    expect(vegas.limit()).toBe(100)
  })

  it("shrinks to near its floor while latency is many times its no-load level", () => {
    const vegas = makeVegasLimit({ initial: 64, min: 4, max: 512 })
    vegas.sample(5, 0)
    // Within one window (30 × the bound samples), so the no-load latency is still 5 ms.
    for (let i = 0; i < 100; i++) vegas.sample(200, vegas.limit())
    // A bound of 6 with 97.5 % of it queueing is at Vegas' beta (6 × log10, at least 6): held there.
    expect(vegas.limit()).toBeGreaterThanOrEqual(4)
    expect(vegas.limit()).toBeLessThanOrEqual(6)
    expect(vegas.noLoadMs()).toBe(5)
  })

  it("holds the bound when the queue estimate is between its thresholds", () => {
    const vegas = makeVegasLimit({ initial: 100, min: 1, max: 1000 })
    vegas.sample(10, 0)
    // queue = 100 × (1 − 10 / 11) ≈ 9.1 → 10: between alpha (6) and beta (12) for a bound of 100.
    for (let i = 0; i < 50; i++) vegas.sample(11, 100)
    expect(vegas.limit()).toBe(100)
  })

  it("says nothing about the bound from a quiet limiter (less than half of it in flight)", () => {
    const vegas = makeVegasLimit({ initial: 64, min: 4, max: 512 })
    vegas.sample(5, 0)
    for (let i = 0; i < 100; i++) vegas.sample(500, 10)
    expect(vegas.limit()).toBe(64)
  })

  it("learns a lasting change of the no-load latency within two windows, not within one", () => {
    const vegas = makeVegasLimit({ initial: 20, min: 1, max: 20, probeEvery: 2 })
    vegas.sample(1, 0)
    expect(vegas.noLoadMs()).toBe(1)
    // The dependency got slower for good (windows of 2 × 20 samples; quiet, so the bound stays 20).
    for (let i = 0; i < 30; i++) vegas.sample(8, 0)
    expect(vegas.noLoadMs()).toBe(1)
    for (let i = 0; i < 60; i++) vegas.sample(8, 0)
    expect(vegas.noLoadMs()).toBe(8)
  })

  it("ignores samples that are not latencies", () => {
    const vegas = makeVegasLimit({ initial: 10, min: 1, max: 100 })
    vegas.sample(Number.NaN, 10)
    vegas.sample(-1, 10)
    expect(vegas.noLoadMs()).toBe(Number.POSITIVE_INFINITY)
    expect(vegas.limit()).toBe(10)
  })
})
