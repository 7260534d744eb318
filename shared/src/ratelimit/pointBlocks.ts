/**
 * Points taken from the shared budget in blocks (pure; `RateLimits` asks the store).
 *
 * Asking Redis once per request put a Redis round trip in front of every REST request (the write
 * path's first of three in a row; measured: ~6 % of the services' CPU per proposal submission
 * and 3-5 ms of its latency under load). A replica whose subject keeps coming asks the store for
 * a block of points at once — 1, then 2, 4, … up to `maxBlock` while the window lasts — and hands
 * them out from memory. The store still counts every point it gave away, so the budget holds
 * over all replicas exactly as before: never more than `points` per window. What a block may
 * cost is the other side: points a replica took and did not use before its window ended are
 * lost to the other replicas, at most `maxBlock - 1` per replica and window. `maxBlock` is a
 * 64th of the budget (1 for budgets under 128: small budgets are counted one by one, exactly).
 *
 * Each point handed out is answered what a store counting one by one would have answered for it
 * (`consumed` = its number in the window), so `RateLimit-Remaining` counts down as before.
 */

/** What the store answered for a block: its counter after adding the block, and the window's rest. */
export interface StoreCount {
  readonly consumed: number
  readonly msBeforeNext: number
}

/** One request's point: its number in the window (over `points`: refused) and the window's rest. */
export interface TakenPoint {
  readonly consumed: number
  readonly msBeforeNext: number
}

interface Block {
  /** Number of the next point to hand out. */
  next: number
  /** Number of the block's last point. */
  readonly last: number
  /** When the window the block belongs to ends (this process's clock). */
  readonly endsAt: number
  /** How many points were asked for (the next block asks for twice as many). */
  readonly size: number
}

/** The largest block for a budget of `points`: a 64th of it, at least 1. */
export const maxBlockFor = (points: number): number => Math.max(1, Math.floor(points / 64))

/** Blocks held per key (`RateLimits`: class and subject), for one budget of `points`. */
export class PointBlocks {
  private readonly blocks = new Map<string, Block>()
  /** When the map was last swept of ended blocks (at most once a second: a sweep walks it all). */
  private sweptAt = Number.NEGATIVE_INFINITY
  private readonly points: number
  private readonly maxBlock: number

  constructor(points: number, maxBlock: number = maxBlockFor(points)) {
    this.points = points
    this.maxBlock = Math.max(1, Math.floor(maxBlock))
  }

  /** A point from the key's block, if it holds one still valid at `now`. */
  take(key: string, now: number): TakenPoint | undefined {
    const block = this.blocks.get(key)
    if (block === undefined) return undefined
    if (now >= block.endsAt) {
      this.blocks.delete(key)
      return undefined
    }
    if (block.next > block.last) return undefined
    const consumed = block.next
    block.next += 1
    return { consumed, msBeforeNext: block.endsAt - now }
  }

  /** How many points to ask the store for now: twice the last block of this window, else 1. */
  sizeFor(key: string, now: number): number {
    const block = this.blocks.get(key)
    if (block === undefined || now >= block.endsAt) return 1
    return Math.min(this.maxBlock, block.size * 2)
  }

  /**
   * The store counted `asked` more points for `key` and is at `count.consumed` now: the points
   * numbered up to `points` become the key's block, and the first of them is this request's. When
   * none of them is within the budget, the request's point is over it (refused) and no block is kept.
   * `askedAt`: when the store was asked, so the block ends no later than the store's window.
   */
  granted(key: string, asked: number, count: StoreCount, askedAt: number): TakenPoint {
    const first = count.consumed - asked + 1
    const last = Math.min(count.consumed, this.points)
    if (first > last) {
      this.blocks.delete(key)
      return { consumed: Math.max(count.consumed, this.points + 1), msBeforeNext: count.msBeforeNext }
    }
    this.blocks.set(key, { next: first + 1, last, endsAt: askedAt + count.msBeforeNext, size: asked })
    if (this.blocks.size > 10_000 && askedAt - this.sweptAt >= 1_000) this.sweep(askedAt)
    return { consumed: first, msBeforeNext: count.msBeforeNext }
  }

  /** Forgets the key's block (the store could not be asked: the per-replica fallback decides). */
  forget(key: string): void {
    this.blocks.delete(key)
  }

  /** How many keys hold a block (ended ones included until a sweep). */
  get size(): number {
    return this.blocks.size
  }

  private sweep(now: number) {
    this.sweptAt = now
    for (const [key, block] of this.blocks) if (now >= block.endsAt || block.next > block.last) this.blocks.delete(key)
  }
}
