import { describe, expect, it } from "vitest"
import type { OrderState } from "../../../src/orders/model.ts"
import { type RecentState, RecentStates } from "../../../src/orders/recentStates.ts"

const entry = (logSeq: number): RecentState => ({
  raw: `{"lastSeq":${logSeq}}`,
  sha1: `sha-${logSeq}`,
  state: { lastSeq: logSeq } as unknown as OrderState,
  logSeq,
})

describe("RecentStates", () => {
  it("keeps the latest entry per order and forgets on request", () => {
    const states = new RecentStates(10)
    states.set("A", entry(1))
    states.set("A", entry(2))
    expect(states.get("A")?.logSeq).toBe(2)
    expect(states.size).toBe(1)
    states.forget("A")
    expect(states.get("A")).toBeUndefined()
  })

  it("drops the least recently used order beyond its capacity", () => {
    const states = new RecentStates(2)
    states.set("A", entry(1))
    states.set("B", entry(1))
    // A is used, so B is the least recently used when C arrives.
    expect(states.get("A")?.logSeq).toBe(1)
    states.set("C", entry(1))
    expect(states.get("B")).toBeUndefined()
    expect(states.get("A")).toBeDefined()
    expect(states.get("C")).toBeDefined()
    expect(states.size).toBe(2)
  })
})
