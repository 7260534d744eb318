/** The queue's ordering rule (score = enqueuedAt − boost(priority)), without Redis. */
import { describe, expect, it } from "vitest"
import {
  defaultAgingWindowMs,
  priorityBoostMs,
  queueKeys,
  queueScore,
} from "../../../src/coordination/PriorityQueue.ts"
import type { Priority } from "../../../src/orders/domain.ts"

const W = defaultAgingWindowMs
const t0 = 1_700_000_000_000

/** Jobs in the order `take` hands them out. */
const order = (jobs: ReadonlyArray<{ id: string; priority: Priority; at: number }>, w = W) =>
  jobs
    .map((job, index) => ({ ...job, index, score: queueScore(job.priority, job.at, w) }))
    .sort((a, b) => a.score - b.score || a.index - b.index)
    .map((job) => job.id)

describe("priority queue scoring", () => {
  it("boosts HIGH by 2W and MEDIUM by W, with W = 30 s by default", () => {
    expect(W).toBe(30_000)
    expect(priorityBoostMs("HIGH")).toBe(60_000)
    expect(priorityBoostMs("MEDIUM")).toBe(30_000)
    expect(priorityBoostMs("LOW")).toBe(0)
    expect(priorityBoostMs("HIGH", 100)).toBe(200)
    expect(queueScore("HIGH", t0)).toBe(t0 - 60_000)
    expect(queueScore("LOW", t0 + 0.9)).toBe(t0)
  })

  it("serves HIGH before MEDIUM before LOW at about the same time, FIFO within one", () => {
    expect(
      order([
        { id: "low-1", priority: "LOW", at: t0 },
        { id: "medium-1", priority: "MEDIUM", at: t0 + 1 },
        { id: "high-1", priority: "HIGH", at: t0 + 2 },
        { id: "low-2", priority: "LOW", at: t0 + 3 },
        { id: "high-2", priority: "HIGH", at: t0 + 4 },
        { id: "medium-2", priority: "MEDIUM", at: t0 + 5 },
      ]),
    ).toEqual(["high-1", "high-2", "medium-1", "medium-2", "low-1", "low-2"])
  })

  it("ages: a LOW job that waited more than 2W beats a fresh HIGH one, a MEDIUM after W", () => {
    expect(
      order([
        { id: "old-low", priority: "LOW", at: t0 },
        { id: "fresh-high", priority: "HIGH", at: t0 + 2 * W + 1 },
      ]),
    ).toEqual(["old-low", "fresh-high"])
    expect(
      order([
        { id: "low", priority: "LOW", at: t0 },
        { id: "high", priority: "HIGH", at: t0 + 2 * W - 1 },
      ]),
    ).toEqual(["high", "low"])
    expect(
      order([
        { id: "old-medium", priority: "MEDIUM", at: t0 },
        { id: "fresh-high", priority: "HIGH", at: t0 + W + 1 },
      ]),
    ).toEqual(["old-medium", "fresh-high"])
    expect(
      order([
        { id: "old-low", priority: "LOW", at: t0 },
        { id: "fresh-medium", priority: "MEDIUM", at: t0 + W + 1 },
      ]),
    ).toEqual(["old-low", "fresh-medium"])
  })

  it("names its keys under the queue", () => {
    expect(queueKeys("dispatch")).toEqual({
      HIGH: "queue:{dispatch}:ready:HIGH",
      MEDIUM: "queue:{dispatch}:ready:MEDIUM",
      LOW: "queue:{dispatch}:ready:LOW",
      inflight: "queue:{dispatch}:inflight",
      jobs: "queue:{dispatch}:jobs",
      counter: "queue:{dispatch}:counter",
    })
  })
})
