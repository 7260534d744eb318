/**
 * The states this process committed last, per order (bounded, least recently used dropped first):
 * the next command of a hot order decides on what this process wrote instead of reading it back.
 * It is only a guess: the commit's compare-and-set (the log's last seq and the SHA-1 of the state)
 * still decides, and a state another replica changed meanwhile is a conflict, dropped here and
 * read again. Saves one Redis round trip and one JSON decode per command of a busy order.
 */
import type { OrderState } from "./model.ts"

export interface RecentState {
  /** The stored JSON, as written. */
  readonly raw: string
  /** Its SHA-1 hex (the commit guard). */
  readonly sha1: string
  readonly state: OrderState
  /** The log's last seq after the commit. */
  readonly logSeq: number
}

export class RecentStates {
  private readonly entries = new Map<string, RecentState>()
  private readonly capacity: number

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity)
  }

  get(orderReqId: string): RecentState | undefined {
    const entry = this.entries.get(orderReqId)
    if (entry === undefined) return undefined
    // Most recently used last.
    this.entries.delete(orderReqId)
    this.entries.set(orderReqId, entry)
    return entry
  }

  /** The entry, removed: its state is the caller's alone until it is `set` again (see `ownProposals`). */
  take(orderReqId: string): RecentState | undefined {
    const entry = this.entries.get(orderReqId)
    if (entry !== undefined) this.entries.delete(orderReqId)
    return entry
  }

  set(orderReqId: string, entry: RecentState): void {
    this.entries.delete(orderReqId)
    this.entries.set(orderReqId, entry)
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }

  forget(orderReqId: string): void {
    this.entries.delete(orderReqId)
  }

  get size(): number {
    return this.entries.size
  }
}
