/**
 * Points handed out from blocks of the shared budget (`PointBlocks`), without Redis: a "store"
 * here is a counter per window, as `RateLimiterRedis` keeps one.
 */
import { describe, expect, it } from "vitest"
import { maxBlockFor, PointBlocks } from "../../../src/ratelimit/pointBlocks.ts"

/** A fixed-window counter: adds `points` and answers its count and the window's rest. */
const counter = (windowMs: number) => {
  let windowStart = 0
  let count = 0
  return (points: number, now: number) => {
    if (now >= windowStart + windowMs) {
      windowStart = now - ((now - windowStart) % windowMs)
      count = 0
    }
    count += points
    return { consumed: count, msBeforeNext: windowStart + windowMs - now }
  }
}

/** One request on a replica: a point from its block, else a new block from the store. */
const request = (blocks: PointBlocks, store: ReturnType<typeof counter>, now: number, calls: { n: number }) => {
  const held = blocks.take("k", now)
  if (held !== undefined) return held
  const asked = blocks.sizeFor("k", now)
  calls.n += 1
  return blocks.granted("k", asked, store(asked, now), now)
}

describe("PointBlocks", () => {
  it("a small budget is counted one point at a time", () => {
    expect(maxBlockFor(5)).toBe(1)
    expect(maxBlockFor(127)).toBe(1)
    expect(maxBlockFor(4000)).toBe(62)
    const blocks = new PointBlocks(5)
    const store = counter(10_000)
    const calls = { n: 0 }
    const answers = Array.from({ length: 7 }, () => request(blocks, store, 0, calls).consumed)
    expect(answers).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(calls.n).toBe(7)
  })

  it("a busy subject asks for growing blocks, numbers its points as one counter would, and stops at the budget", () => {
    const blocks = new PointBlocks(640)
    const store = counter(1_000)
    const calls = { n: 0 }
    const answers = Array.from({ length: 640 }, (_, i) => request(blocks, store, i % 1000, calls))
    // 1, 2, 4, 8 and then blocks of 10 (a 64th): far fewer store calls than requests.
    expect(calls.n).toBe(4 + Math.ceil((640 - 15) / 10))
    answers.push(...Array.from({ length: 60 }, () => request(blocks, store, 700, calls)))
    expect(answers.slice(0, 640).map((answer) => answer.consumed)).toEqual(Array.from({ length: 640 }, (_, i) => i + 1))
    expect(answers.slice(640).every((answer) => answer.consumed > 640)).toBe(true)
    expect(answers[10]?.msBeforeNext).toBe(990)
  })

  it("two replicas never hand out more than the budget together", () => {
    const store = counter(1_000)
    const a = new PointBlocks(640)
    const b = new PointBlocks(640)
    const calls = { n: 0 }
    let allowed = 0
    for (let i = 0; i < 2_000; i++) {
      if (request(i % 2 === 0 ? a : b, store, 5, calls).consumed <= 640) allowed += 1
    }
    expect(allowed).toBeLessThanOrEqual(640)
    // What a replica took and did not use is lost to the other: at most a block less each.
    expect(allowed).toBeGreaterThanOrEqual(640 - 2 * (maxBlockFor(640) - 1))
  })

  it("a block ends with its window; the next window starts again from a single point", () => {
    const blocks = new PointBlocks(640)
    const store = counter(1_000)
    const calls = { n: 0 }
    for (let i = 0; i < 30; i++) request(blocks, store, 100, calls)
    expect(blocks.sizeFor("k", 100)).toBeGreaterThan(1)
    expect(blocks.take("k", 1_000)).toBeUndefined()
    expect(blocks.sizeFor("k", 1_000)).toBe(1)
    expect(request(blocks, store, 1_000, calls)).toEqual({ consumed: 1, msBeforeNext: 1_000 })
  })

  it("a block reaching past the budget keeps only the points within it", () => {
    const blocks = new PointBlocks(640)
    // The store is at 635 after adding a block of 8 (others took the rest): 628..635 are ours.
    expect(blocks.granted("k", 8, { consumed: 635, msBeforeNext: 500 }, 0).consumed).toBe(628)
    blocks.forget("k")
    // At 644 after adding 8: 637..640 are within the budget, 641..644 are not.
    const first = blocks.granted("k", 8, { consumed: 644, msBeforeNext: 500 }, 0)
    expect(first.consumed).toBe(637)
    expect([1, 2, 3, 4].map(() => blocks.take("k", 0)?.consumed)).toEqual([638, 639, 640, undefined])
    // Nothing left within the budget: refused, no block kept.
    expect(blocks.granted("k", 8, { consumed: 660, msBeforeNext: 400 }, 0)).toEqual({
      consumed: 660,
      msBeforeNext: 400,
    })
    expect(blocks.take("k", 0)).toBeUndefined()
  })

  it("keys whose blocks ended are swept once many are held, at most once a second", () => {
    const blocks = new PointBlocks(640)
    // Blocks of 2 points, one of them left in each.
    for (let i = 0; i < 10_001; i++) blocks.granted(`k${i}`, 2, { consumed: 2, msBeforeNext: 100 }, 0)
    // The 10,001st key started a sweep at t=0: nothing had ended yet.
    expect(blocks.size).toBe(10_001)
    // Ended at t=100, but the last sweep was less than a second ago.
    blocks.granted("late", 2, { consumed: 2, msBeforeNext: 5_000 }, 500)
    expect(blocks.size).toBe(10_002)
    blocks.granted("later", 2, { consumed: 2, msBeforeNext: 5_000 }, 1_000)
    expect(blocks.size).toBe(2)
    expect(blocks.take("later", 1_000)).toEqual({ consumed: 2, msBeforeNext: 5_000 })
    expect(blocks.take("k1", 1_000)).toBeUndefined()
  })
})
