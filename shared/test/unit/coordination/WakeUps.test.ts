/**
 * How wake-ups reach listeners in one process (`one` / `all`, kept while not waiting), without
 * Redis; timeouts run on the test clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { WakeUps } from "../../../src/coordination/WakeUps.ts"

const run = <A>(effect: Effect.Effect<A, never, WakeUps | Scope.Scope>) =>
  effect.pipe(Effect.provide(WakeUps.layerLocalOnly))

/** Lets the forked fibers run until `count` listeners of `topic` wait (bounded, no clock involved). */
const waitingReaches = (topic: string, count: number) =>
  Effect.gen(function* () {
    const wakeUps = yield* WakeUps
    for (let i = 0; i < 1_000 && wakeUps.waiting(topic) !== count; i++) yield* Effect.yieldNow
    expect(wakeUps.waiting(topic)).toBe(count)
  })

/** `listener.next(timeoutMs)` with the test clock moved on by `timeoutMs`: its answer then. */
const nextAfterTimeout = (listener: { readonly next: (timeoutMs: number) => Effect.Effect<boolean> }, ms: number) =>
  Effect.gen(function* () {
    const waiting = yield* Effect.forkChild(listener.next(ms))
    yield* TestClock.adjust(ms - 1)
    expect(waiting.pollUnsafe()).toBeUndefined()
    yield* TestClock.adjust(1)
    return yield* Fiber.join(waiting)
  })

describe("WakeUps (in one process)", () => {
  it.effect("wakes one waiting `one` listener per wake-up, the oldest first", () =>
    run(
      Effect.gen(function* () {
        const wakeUps = yield* WakeUps
        expect(wakeUps.channel).toBe("")
        const a = yield* wakeUps.listen("queue:q", "one")
        const b = yield* wakeUps.listen("queue:q", "one")
        const waitA = yield* Effect.forkChild(a.next(Number.POSITIVE_INFINITY))
        const waitB = yield* Effect.forkChild(b.next(Number.POSITIVE_INFINITY))
        yield* waitingReaches("queue:q", 2)
        wakeUps.wakeLocal("queue:q", 1)
        expect(wakeUps.waiting("queue:q")).toBe(1)
        for (let i = 0; i < 1_000 && waitA.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
        expect(waitA.pollUnsafe()).toBeDefined()
        expect(waitB.pollUnsafe()).toBeUndefined()
        // a is busy now: b is the one waiting
        wakeUps.wakeLocal("queue:q", 1)
        expect(yield* Fiber.join(waitA)).toBe(true)
        expect(yield* Fiber.join(waitB)).toBe(true)
        // a listens again: still first in line
        const againA = yield* Effect.forkChild(a.next(Number.POSITIVE_INFINITY))
        const againB = yield* Effect.forkChild(b.next(Number.POSITIVE_INFINITY))
        yield* waitingReaches("queue:q", 2)
        wakeUps.wakeLocal("queue:q", 1)
        expect(yield* Fiber.join(againA)).toBe(true)
        expect(againB.pollUnsafe()).toBeUndefined()
        wakeUps.wakeLocal("queue:q", 1)
        expect(yield* Fiber.join(againB)).toBe(true)
        expect(wakeUps.waiting("queue:q")).toBe(0)
      }),
    ),
  )

  it.effect("wakes every `all` listener of the topic, and no other topic", () =>
    run(
      Effect.gen(function* () {
        const wakeUps = yield* WakeUps
        const listeners = yield* Effect.forEach([1, 2, 3], () => wakeUps.listen("lock:x", "all"))
        const other = yield* wakeUps.listen("lock:y", "all")
        const waits = yield* Effect.forEach(listeners, (listener) => Effect.forkChild(listener.next(5_000)))
        yield* waitingReaches("lock:x", 3)
        wakeUps.wakeLocal("lock:x", 1)
        expect(yield* Effect.forEach(waits, Fiber.join)).toEqual([true, true, true])
        expect(yield* nextAfterTimeout(other, 30)).toBe(false)
      }),
    ),
  )

  it.effect("keeps a wake-up that arrives between attempts, so the next wait returns at once", () =>
    run(
      Effect.gen(function* () {
        const wakeUps = yield* WakeUps
        const listener = yield* wakeUps.listen("semaphore:s", "one")
        // woken while "attempting" (not waiting)
        wakeUps.wakeLocal("semaphore:s", 1)
        expect(yield* listener.next(Number.POSITIVE_INFINITY)).toBe(true)
        // used up: the next wait times out
        expect(yield* nextAfterTimeout(listener, 30)).toBe(false)
        // several wake-ups while busy count as one
        wakeUps.wakeLocal("semaphore:s", 3)
        expect(yield* listener.next(0)).toBe(true)
        expect(yield* listener.next(0)).toBe(false)
      }),
    ),
  )

  it.effect("passes a wake-up a closing `one` listener did not use on to another", () =>
    run(
      Effect.gen(function* () {
        const wakeUps = yield* WakeUps
        // the older listener: busy (not waiting) when it is woken, then it goes away
        const leavesScope = yield* Scope.make()
        yield* wakeUps.listen("queue:q", "one").pipe(Scope.provide(leavesScope))
        const stays = yield* wakeUps.listen("queue:q", "one")
        const waiting = yield* Effect.forkChild(stays.next(Number.POSITIVE_INFINITY))
        yield* waitingReaches("queue:q", 1)
        wakeUps.wakeLocal("queue:q", 1) // the waiting one is woken first
        expect(yield* Fiber.join(waiting)).toBe(true)
        wakeUps.wakeLocal("queue:q", 1) // nobody waits: the oldest keeps it for its next wait…
        expect(yield* stays.next(0)).toBe(false)
        // …and hands it on when it closes without using it
        yield* Scope.close(leavesScope, Exit.void)
        expect(yield* stays.next(0)).toBe(true)
      }),
    ),
  )

  it.effect("returns false after the timeout when nothing wakes it", () =>
    run(
      Effect.gen(function* () {
        const wakeUps = yield* WakeUps
        const listener = yield* wakeUps.listen("queue:idle", "one")
        expect(yield* nextAfterTimeout(listener, 20)).toBe(false)
        expect(wakeUps.waiting("queue:idle")).toBe(0)
        // waking a topic nobody listens to is a no-op
        wakeUps.wakeLocal("queue:nobody", 5)
      }),
    ),
  )
})
