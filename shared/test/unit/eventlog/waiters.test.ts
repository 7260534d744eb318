/**
 * The hand-over of committed events to follows (`Waiters.notify`), without Redis: events a
 * notification carries are buffered contiguously after what the follow emitted or holds.
 */
import { describe, expect, it } from "vitest"
import { Waiters } from "../../../src/eventlog/EventLog.ts"
import { makeDraft, type OrderEventRecord, recordOf } from "../../../src/orders/events.ts"

const event = (seq: number): OrderEventRecord =>
  recordOf("ORD-W", seq, makeDraft("NewProposal", `proposal ${seq}`, { proposalId: `P-${seq}` }))

describe("Waiters.notify", () => {
  it("buffers the carried events after the follow's cursor", () => {
    const waiters = new Waiters<OrderEventRecord>(256)
    const waiter = waiters.register("ORD-W", 1)
    waiters.notify("ORD-W", 3, [event(2), event(3)])
    expect(waiter.buffer.map((record) => record.seq)).toEqual([2, 3])
    expect(waiter.dirty).toBe(false)
  })

  it("a read that overtook a hand-over (stale events left in the buffer) does not make the next hand-over skip events", () => {
    const waiters = new Waiters<OrderEventRecord>(256)
    const waiter = waiters.register("ORD-W", 0)
    // Event 1 is handed over while a read of the log is in flight ...
    waiters.notify("ORD-W", 1, [event(1)])
    // ... and the read returns it too: the cursor moves past what the buffer still holds.
    waiter.cursor = 1
    // The next commit carries 2 and 3: both must be buffered (with seq 1 stale, to be dropped).
    waiters.notify("ORD-W", 3, [event(2), event(3)])
    const fresh = waiter.buffer.filter((record) => record.seq > waiter.cursor).map((record) => record.seq)
    expect(fresh).toEqual([2, 3])
  })

  it("a notification beyond what the follow reached, without its events, makes it read the log", () => {
    const waiters = new Waiters<OrderEventRecord>(256)
    const waiter = waiters.register("ORD-W", 1)
    waiters.notify("ORD-W", 4, [event(3), event(4)])
    expect(waiter.dirty).toBe(true)
    expect(waiter.buffer).toEqual([])
  })

  it("a follow holding more than its limit drops the buffer and reads the log instead", () => {
    const waiters = new Waiters<OrderEventRecord>(2)
    const waiter = waiters.register("ORD-W", 0)
    waiters.notify("ORD-W", 3, [event(1), event(2), event(3)])
    expect(waiter.dirty).toBe(true)
    expect(waiter.buffer).toEqual([])
  })
})

describe("Waiters.behind", () => {
  it("is true while some follow of the log has not reached the seq, counting what it holds", () => {
    const waiters = new Waiters<OrderEventRecord>(256)
    expect(waiters.behind("ORD-W", 1)).toBe(false)
    const ahead = waiters.register("ORD-W", 0)
    waiters.notify("ORD-W", 2, [event(1), event(2)])
    expect(waiters.behind("ORD-W", 2)).toBe(false)
    expect(waiters.behind("ORD-W", 3)).toBe(true)
    const lagging = waiters.register("ORD-W", 1)
    expect(waiters.behind("ORD-W", 2)).toBe(true)
    waiters.unregister("ORD-W", lagging)
    expect(waiters.behind("ORD-W", 2)).toBe(false)
    waiters.unregister("ORD-W", ahead)
    expect(waiters.behind("ORD-W", 2)).toBe(false)
  })
})
