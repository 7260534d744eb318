/**
 * The SSE body over a watch (`SseBody`): what each `next` yields, the heartbeat after silence, and
 * that the watch is closed and the stream counted closed (with its reason) however the body ends —
 * at once when the client goes away while it waits, not at the next heartbeat.
 */
import { type DisconnectReason, DisconnectReasons } from "@dcent/shared/metrics/catalogue"
import { makeDraft, recordOf } from "@dcent/shared/orders/events"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { Watch, WatchNext } from "../../src/buyer-streams/OrderEvents.ts"
import { SseBody } from "../../src/buyer-streams/sse.ts"
import { StorageUnavailable } from "../../src/orders/errors.ts"

const heartbeatMs = 15_000

/** A watch whose answers the test gives; `close` answers a pending `next` with `End`, as the real one. */
const scriptedWatch = () => {
  const pending: Array<{ resolve: (next: WatchNext) => void; reject: (error: unknown) => void }> = []
  let closed = 0
  const watch: Watch = {
    next: () => new Promise((resolve, reject) => pending.push({ resolve, reject })),
    close: () => {
      closed++
      for (const waiter of pending.splice(0)) waiter.resolve({ _tag: "End" })
    },
  }
  return {
    watch,
    answer: (next: WatchNext) => pending.shift()?.resolve(next),
    reject: (error: unknown) => pending.shift()?.reject(error),
    waiting: () => pending.length,
    closed: () => closed,
  }
}

const record = (seq: number) => recordOf("ORD-SSE", seq, makeDraft("NewProposal", `proposal ${seq}`))

const body = (watch: Watch) => {
  const streams = { opened: 0, closed: [] as Array<DisconnectReason> }
  const delivered: Array<number> = []
  const failures: Array<string> = []
  const sse = new SseBody(watch, {
    orderReqId: "ORD-SSE",
    fromSeq: 2,
    heartbeatMs,
    message: (r) => `id: ${r.seq}\n\n`,
    reconnect: (lastSeq) => `reconnect after ${lastSeq}\n\n`,
    streams: { opened: () => streams.opened++, closed: (reason) => streams.closed.push(reason) },
    delivered: (r) => delivered.push(r.seq),
    onFailure: (message) => failures.push(message),
  })
  return { sse, streams, delivered, failures }
}

const chunk = (value: string) => ({ done: false, value })
const done = { done: true, value: undefined }

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe("SseBody", () => {
  it("starts with retry and a comment, then one chunk per answer with every record's message", async () => {
    const watch = scriptedWatch()
    const { sse, streams, delivered } = body(watch.watch)
    expect(await sse.next()).toEqual(chunk("retry: 2000\n: ORD-SSE after seq 2\n\n"))
    expect(streams.opened).toBe(1)
    const next = sse.next()
    watch.answer({ _tag: "Events", records: [record(3), record(4)] })
    expect(await next).toEqual(chunk("id: 3\n\nid: 4\n\n"))
    expect(delivered).toEqual([3, 4])
    // An answer that comes before the next `next` is kept for it.
    const again = sse.next()
    watch.answer({ _tag: "Events", records: [record(5)] })
    expect(await again).toEqual(chunk("id: 5\n\n"))
    const last = sse.next()
    watch.answer({ _tag: "End" })
    expect(await last).toEqual(done)
    expect(streams.closed).toEqual([DisconnectReasons.Completed])
    expect(watch.closed()).toBeGreaterThanOrEqual(1)
    expect(await sse.next()).toEqual(done)
  })

  it("a heartbeat after heartbeatMs of silence, and the awaited answer is still delivered after it", async () => {
    const watch = scriptedWatch()
    const { sse } = body(watch.watch)
    await sse.next()
    const first = sse.next()
    await vi.advanceTimersByTimeAsync(heartbeatMs - 1)
    watch.answer({ _tag: "Events", records: [record(3)] })
    expect(await first).toEqual(chunk("id: 3\n\n"))
    const second = sse.next()
    await vi.advanceTimersByTimeAsync(heartbeatMs)
    expect(await second).toEqual(chunk(": keep-alive\n\n"))
    // One watch read across the heartbeat: its answer goes to the next `next`.
    expect(watch.waiting()).toBe(1)
    const third = sse.next()
    watch.answer({ _tag: "Events", records: [record(4)] })
    expect(await third).toEqual(chunk("id: 4\n\n"))
  })

  it("the client going away while the body waits closes the watch at once (client_closed)", async () => {
    const watch = scriptedWatch()
    const { sse, streams } = body(watch.watch)
    await sse.next()
    const waiting = sse.next()
    expect(await sse.return()).toEqual(done)
    expect(await waiting).toEqual(done)
    expect(watch.closed()).toBe(1)
    expect(streams.closed).toEqual([DisconnectReasons.ClientClosed])
    expect(vi.getTimerCount()).toBe(0)
    expect(await sse.next()).toEqual(done)
    await sse.return()
    expect(streams.closed).toHaveLength(1)
  })

  it("shutdown: the reconnect message with the last seq, then the end (shutdown)", async () => {
    const watch = scriptedWatch()
    const { sse, streams } = body(watch.watch)
    await sse.next()
    const events = sse.next()
    watch.answer({ _tag: "Events", records: [record(7)] })
    await events
    const shutdown = sse.next()
    watch.answer({ _tag: "Shutdown" })
    expect(await shutdown).toEqual(chunk("reconnect after 7\n\n"))
    expect(await sse.next()).toEqual(done)
    expect(streams.closed).toEqual([DisconnectReasons.Shutdown])
    expect(watch.closed()).toBe(1)
  })

  it("the log failing: an error comment, then the end (error), the failure reported", async () => {
    const watch = scriptedWatch()
    const { sse, streams, failures } = body(watch.watch)
    await sse.next()
    const failed = sse.next()
    watch.answer({
      _tag: "Failed",
      error: new StorageUnavailable({ storage: "redis", problem: "connection lost", cause: undefined }),
    })
    expect(await failed).toEqual(chunk(": error\n\n"))
    expect(await sse.next()).toEqual(done)
    expect(failures).toEqual(["redis is unavailable: connection lost"])
    expect(streams.closed).toEqual([DisconnectReasons.Error])
  })

  it("a watch read that rejects fails the body (the response is cut off) and ends it (error)", async () => {
    const watch = scriptedWatch()
    const { sse, streams } = body(watch.watch)
    await sse.next()
    const reading = sse.next()
    watch.reject(new Error("boom"))
    await expect(reading).rejects.toThrow("boom")
    expect(streams.closed).toEqual([DisconnectReasons.Error])
    expect(watch.closed()).toBe(1)
  })

  it("returned before its first chunk: the watch is closed, no stream was counted", async () => {
    const watch = scriptedWatch()
    const { sse, streams } = body(watch.watch)
    await sse.return()
    expect(watch.closed()).toBe(1)
    expect(streams).toMatchObject({ opened: 0, closed: [] })
  })
})
