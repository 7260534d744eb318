/** `OrderEventLog.followSet` against the real Redis of infra/local/stack.sh. */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { makeDraft, type OrderEventRecord } from "../../../src/orders/events.ts"
import { OrderEventLog, type OrderFollowedEvent, type OrderFollowSet } from "../../../src/orders/OrderEventLog.ts"
import { deleteKeys, redisLayer, testPrefix } from "./support.ts"

const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const logLayer = (prefix: string, options: Parameters<typeof OrderEventLog.layerWith>[0] = {}) =>
  Layer.provideMerge(OrderEventLog.layerWith(options), redisLayer(prefix))

/** A writer and a separate follower (as two processes) sharing one Redis prefix. */
const withLogs = async (
  body: (writer: OrderEventLog["Service"], follower: OrderEventLog["Service"]) => Promise<void>,
  options: Parameters<typeof OrderEventLog.layerWith>[0] = {},
) => {
  const prefix = testPrefix("followset")
  prefixes.push(prefix)
  const scope = Effect.runSync(Scope.make())
  try {
    const writer = await Effect.runPromise(Layer.buildWithScope(logLayer(prefix), scope))
    const follower = await Effect.runPromise(Layer.buildWithScope(logLayer(prefix, options), scope))
    await body(Context.get(writer, OrderEventLog), Context.get(follower, OrderEventLog))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const draft = (n: number) => makeDraft("NewProposal", `proposal ${n}`, { proposalId: `P-${n}` })

/** Takes from `set` until `done` holds of everything taken (or fails after `ms`). */
const takeUntil = async (
  set: OrderFollowSet,
  done: (taken: ReadonlyArray<OrderEventRecord>) => boolean,
  ms = 5_000,
): Promise<Array<OrderEventRecord>> => {
  const taken: Array<OrderEventRecord> = []
  const deadline = Date.now() + ms
  while (!done(taken)) {
    if (Date.now() > deadline) throw new Error(`timed out; taken ${taken.map((r) => `${r.orderReqId}:${r.seq}`)}`)
    const timer = setTimeout(() => set.wakeUp(), 100)
    taken.push(...(await Effect.runPromise(set.take)).map(({ record }) => record))
    clearTimeout(timer)
  }
  return taken
}

const seqsOf = (records: ReadonlyArray<OrderEventRecord>, orderReqId: string) =>
  records.filter((record) => record.orderReqId === orderReqId).map((record) => record.seq)

describe("OrderEventLog.followSet", () => {
  it("takes each order's backlog after its seq, then live events from another process, in seq order, once", () =>
    withLogs(async (writer, follower) => {
      await Effect.runPromise(writer.append("FS-A", [draft(1), draft(2), draft(3)]))
      await Effect.runPromise(writer.append("FS-B", [draft(1)]))
      const set = await Effect.runPromise(follower.followSet)
      try {
        set.add("FS-A", "FS-A", 1)
        set.add("FS-B", "FS-B", 0)
        const backlog = await takeUntil(set, (taken) => taken.length >= 3)
        expect(seqsOf(backlog, "FS-A")).toEqual([2, 3])
        expect(seqsOf(backlog, "FS-B")).toEqual([1])
        // Live: committed by the writer (another connection), reach the set through the notifications.
        await new Promise((resolve) => setTimeout(resolve, 200))
        for (let n = 4; n <= 8; n++) await Effect.runPromise(writer.append("FS-A", [draft(n)]))
        await Effect.runPromise(writer.append("FS-B", [draft(2), draft(3)]))
        const live = await takeUntil(set, (taken) => taken.length >= 7)
        expect(seqsOf(live, "FS-A")).toEqual([4, 5, 6, 7, 8])
        expect(seqsOf(live, "FS-B")).toEqual([2, 3])
        expect(set.size()).toBe(2)
        expect(await Effect.runPromise(follower.activeFollows)).toBe(2)
      } finally {
        set.close()
      }
      expect(await Effect.runPromise(follower.activeFollows)).toBe(0)
    }))

  it("follows one order for several members (keys), each from its own seq", () =>
    withLogs(async (writer, follower) => {
      await Effect.runPromise(writer.append("FS-M", [draft(1), draft(2)]))
      const set = await Effect.runPromise(follower.followSet)
      try {
        set.add("watcher-1", "FS-M", 0)
        set.add("watcher-2", "FS-M", 2)
        await new Promise((resolve) => setTimeout(resolve, 200))
        await Effect.runPromise(writer.append("FS-M", [draft(3)]))
        const taken: Array<OrderFollowedEvent> = []
        const deadline = Date.now() + 5_000
        while (taken.length < 4 && Date.now() < deadline) {
          const timer = setTimeout(() => set.wakeUp(), 100)
          taken.push(...(await Effect.runPromise(set.take)))
          clearTimeout(timer)
        }
        const seqsFor = (key: string) => taken.filter((event) => event.key === key).map((event) => event.record.seq)
        expect(seqsFor("watcher-1")).toEqual([1, 2, 3])
        expect(seqsFor("watcher-2")).toEqual([3])
        set.remove("watcher-1")
        expect(set.has("watcher-1")).toBe(false)
        expect(set.has("watcher-2")).toBe(true)
      } finally {
        set.close()
      }
    }))

  it("members of one order at the same seq share one read: each gets every event once, as the same records", () =>
    withLogs(async (writer, follower) => {
      await Effect.runPromise(writer.append("FS-S", [draft(1), draft(2)]))
      const set = await Effect.runPromise(follower.followSet)
      try {
        for (const key of ["watcher-1", "watcher-2", "watcher-3"]) set.add(key, "FS-S", 0)
        const taken: Array<OrderFollowedEvent> = []
        const deadline = Date.now() + 5_000
        while (taken.length < 6 && Date.now() < deadline) {
          const timer = setTimeout(() => set.wakeUp(), 100)
          taken.push(...(await Effect.runPromise(set.take)))
          clearTimeout(timer)
        }
        for (const key of ["watcher-1", "watcher-2", "watcher-3"]) {
          expect(taken.filter((event) => event.key === key).map((event) => event.record.seq)).toEqual([1, 2])
        }
        // One read for the three: the same record objects (what is encoded per event is encoded once).
        expect(new Set(taken.map((event) => event.record)).size).toBe(2)
      } finally {
        set.close()
      }
    }))

  it("reads a long backlog page by page, without repeating or skipping", () =>
    withLogs(
      async (writer, follower) => {
        await Effect.runPromise(
          writer.append(
            "FS-L",
            Array.from({ length: 25 }, (_, i) => draft(i + 1)),
          ),
        )
        const set = await Effect.runPromise(follower.followSet)
        try {
          set.add("FS-L", "FS-L", 3)
          const taken = await takeUntil(set, (records) => records.length >= 22)
          expect(seqsOf(taken, "FS-L")).toEqual(Array.from({ length: 22 }, (_, i) => i + 4))
        } finally {
          set.close()
        }
      },
      { pageSize: 4 },
    ))

  it("a member not taken from while many events are committed holds at most a page of them, and reads the rest", () =>
    withLogs(
      async (writer, follower) => {
        const set = await Effect.runPromise(follower.followSet)
        try {
          set.add("FS-S", "FS-S", 0)
          // The (empty) backlog is read: from now on the notifications hand events over.
          setTimeout(() => set.wakeUp(), 100)
          expect(await Effect.runPromise(set.take)).toEqual([])
          await new Promise((resolve) => setTimeout(resolve, 200))
          // 30 commits handed over by notifications while nobody takes (page size 8).
          for (let n = 1; n <= 30; n++) await Effect.runPromise(writer.append("FS-S", [draft(n)]))
          await new Promise((resolve) => setTimeout(resolve, 200))
          const taken = await takeUntil(set, (records) => records.length >= 30)
          expect(seqsOf(taken, "FS-S")).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
        } finally {
          set.close()
        }
      },
      { pageSize: 8 },
    ))

  it("ends an order with its OrderFinalised; a removed order gets nothing more; adding again starts over", () =>
    withLogs(async (writer, follower) => {
      const set = await Effect.runPromise(follower.followSet)
      try {
        set.add("FS-F", "FS-F", 0)
        set.add("FS-R", "FS-R", 0)
        await new Promise((resolve) => setTimeout(resolve, 200))
        await Effect.runPromise(writer.append("FS-F", [draft(1), makeDraft("OrderFinalised", "done")]))
        await Effect.runPromise(writer.append("FS-R", [draft(1)]))
        const first = await takeUntil(set, (taken) => taken.length >= 3)
        expect(seqsOf(first, "FS-F")).toEqual([1, 2])
        expect(set.has("FS-F")).toBe(false)

        set.remove("FS-R")
        await Effect.runPromise(writer.append("FS-R", [draft(2)]))
        set.wakeUp()
        expect(await Effect.runPromise(set.take)).toEqual([])

        set.add("FS-R", "FS-R", 0)
        const again = await takeUntil(set, (taken) => taken.length >= 2)
        expect(seqsOf(again, "FS-R")).toEqual([1, 2])
      } finally {
        set.close()
      }
    }))

  it("wakeUp answers a waiting take with nothing; close stops every order", () =>
    withLogs(async (writer, follower) => {
      const set = await Effect.runPromise(follower.followSet)
      set.add("FS-W", "FS-W", 0)
      const pending = Effect.runPromise(set.take)
      setTimeout(() => set.wakeUp(), 50)
      expect(await pending).toEqual([])
      set.close()
      expect(set.size()).toBe(0)
      await Effect.runPromise(writer.append("FS-W", [draft(1)]))
      expect(await Effect.runPromise(set.take)).toEqual([])
    }))
})
