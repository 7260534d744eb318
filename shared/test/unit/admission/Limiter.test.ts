/**
 * The admission limiter: the bound on work in flight, the bounded FIFO of waiters and its
 * timeout (on the test clock), refusals, and slots given back whatever way the work ends —
 * requests are held in flight with Deferreds, never with sleeps.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { type LimiterObserver, makeLimiter, type Overloaded } from "../../../src/admission/Limiter.ts"
import type { RefusalReason } from "../../../src/metrics/catalogue.ts"

/** Records what the limiter reports. */
const recorder = () => {
  const seen = { inFlight: [] as Array<number>, queued: [] as Array<number>, refused: [] as Array<RefusalReason> }
  const observer: LimiterObserver = {
    inFlight: (count) => seen.inFlight.push(count),
    queued: (count) => seen.queued.push(count),
    refused: (reason) => seen.refused.push(reason),
  }
  return { seen, observer }
}

/** Work that reports it started and then runs until `release` is opened. */
const heldWork = Effect.gen(function* () {
  const started = yield* Deferred.make<void>()
  const release = yield* Deferred.make<void>()
  const work = Deferred.succeed(started, undefined).pipe(
    Effect.andThen(Deferred.await(release)),
    Effect.as("done" as const),
  )
  return { started, release, work }
})

const refusedWith = (refusal: Overloaded) => Effect.succeed(`refused:${refusal.reason}` as const)

/** Lets the other fibers run until `condition` holds (bounded, no clock involved). */
const until = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !condition(); i++) yield* Effect.yieldNow
    expect(condition()).toBe(true)
  })

describe("Limiter", () => {
  it.effect("admits up to maxInFlight and refuses the next at once (capacity), doing none of its work", () =>
    Effect.gen(function* () {
      const { seen, observer } = recorder()
      const limiter = makeLimiter({ entry: "http", maxInFlight: 2, observer })
      const a = yield* heldWork
      const b = yield* heldWork
      const first = yield* Effect.forkChild(limiter.admit(a.work, refusedWith))
      const second = yield* Effect.forkChild(limiter.admit(b.work, refusedWith))
      yield* Deferred.await(a.started)
      yield* Deferred.await(b.started)
      expect(limiter.inFlight()).toBe(2)

      let ran = false
      const third = yield* limiter.admit(
        Effect.sync(() => {
          ran = true
        }),
        refusedWith,
      )
      expect(third).toBe("refused:capacity")
      expect(ran).toBe(false)
      expect(seen.refused).toEqual(["capacity"])

      yield* Deferred.succeed(a.release, undefined)
      yield* Deferred.succeed(b.release, undefined)
      expect(yield* Fiber.join(first)).toBe("done")
      expect(yield* Fiber.join(second)).toBe("done")
      expect(limiter.inFlight()).toBe(0)
      expect(seen.inFlight).toEqual([1, 2, 1, 0])
      // Below the bound again: admitted.
      expect(yield* limiter.admit(Effect.succeed("ok"), refusedWith)).toBe("ok")
    }),
  )

  it.effect("gives the slot back when the work fails, dies or is interrupted", () =>
    Effect.gen(function* () {
      const limiter = makeLimiter({ entry: "grpc_unary", maxInFlight: 1 })
      const failed = yield* Effect.exit(limiter.admit(Effect.fail("boom"), refusedWith))
      expect(failed).toEqual(Exit.fail("boom"))
      expect(limiter.inFlight()).toBe(0)
      yield* Effect.exit(limiter.admit(Effect.die("bug"), refusedWith))
      expect(limiter.inFlight()).toBe(0)
      const held = yield* heldWork
      const fiber = yield* Effect.forkChild(limiter.admit(held.work, refusedWith))
      yield* Deferred.await(held.started)
      expect(limiter.inFlight()).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(limiter.inFlight()).toBe(0)
    }),
  )

  it.effect("queues up to maxQueue callers, first come first served, and refuses beyond the queue", () =>
    Effect.gen(function* () {
      const { seen, observer } = recorder()
      const limiter = makeLimiter({ entry: "http", maxInFlight: 1, maxQueue: 2, maxWait: "10 seconds", observer })
      const order: Array<string> = []
      const a = yield* heldWork
      const running = yield* Effect.forkChild(limiter.admit(a.work, refusedWith))
      yield* Deferred.await(a.started)

      const waiting = (name: string) =>
        Effect.forkChild(
          limiter.admit(
            Effect.sync(() => order.push(name)),
            refusedWith,
          ),
        )
      const b = yield* waiting("b")
      yield* until(() => limiter.queued() === 1)
      const c = yield* waiting("c")
      yield* until(() => limiter.queued() === 2)
      // The queue is full: refused at once.
      expect(yield* limiter.admit(Effect.succeed("d"), refusedWith)).toBe("refused:capacity")

      yield* Deferred.succeed(a.release, undefined)
      yield* Fiber.join(running)
      yield* Fiber.join(b)
      yield* Fiber.join(c)
      expect(order).toEqual(["b", "c"])
      expect(limiter.inFlight()).toBe(0)
      expect(limiter.queued()).toBe(0)
      expect(seen.refused).toEqual(["capacity"])
      expect(seen.queued).toEqual([1, 2, 1, 0])
    }),
  )

  it.effect("refuses a waiter whose wait ran out (queue_timeout) and leaves the queue empty", () =>
    Effect.gen(function* () {
      const { seen, observer } = recorder()
      const limiter = makeLimiter({ entry: "http", maxInFlight: 1, maxQueue: 4, maxWait: "1 second", observer })
      const a = yield* heldWork
      const running = yield* Effect.forkChild(limiter.admit(a.work, refusedWith))
      yield* Deferred.await(a.started)

      const waiter = yield* Effect.forkChild(limiter.admit(Effect.succeed("late"), refusedWith))
      yield* until(() => limiter.queued() === 1)
      yield* TestClock.adjust("999 millis")
      expect(waiter.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(waiter)).toBe("refused:queue_timeout")
      expect(limiter.queued()).toBe(0)
      expect(seen.refused).toEqual(["queue_timeout"])

      // The running work's slot is not disturbed, and goes back once it ends.
      expect(limiter.inFlight()).toBe(1)
      yield* Deferred.succeed(a.release, undefined)
      yield* Fiber.join(running)
      expect(limiter.inFlight()).toBe(0)
    }),
  )

  it.effect("a waiter whose client left leaves the queue; the next waiter still gets the slot", () =>
    Effect.gen(function* () {
      const limiter = makeLimiter({ entry: "http", maxInFlight: 1, maxQueue: 4, maxWait: "10 seconds" })
      const a = yield* heldWork
      const running = yield* Effect.forkChild(limiter.admit(a.work, refusedWith))
      yield* Deferred.await(a.started)
      let gone = false
      const leaving = yield* Effect.forkChild(
        limiter.admit(
          Effect.sync(() => {
            gone = true
          }),
          refusedWith,
        ),
      )
      yield* until(() => limiter.queued() === 1)
      const staying = yield* Effect.forkChild(limiter.admit(Effect.succeed("stayed"), refusedWith))
      yield* until(() => limiter.queued() === 2)

      yield* Fiber.interrupt(leaving)
      expect(limiter.queued()).toBe(1)
      yield* Deferred.succeed(a.release, undefined)
      yield* Fiber.join(running)
      expect(yield* Fiber.join(staying)).toBe("stayed")
      expect(gone).toBe(false)
      expect(limiter.inFlight()).toBe(0)
      expect(limiter.queued()).toBe(0)
    }),
  )

  it.effect("tryAcquire / release: a synchronous slot without a queue (streams, gRPC)", () =>
    Effect.sync(() => {
      const { seen, observer } = recorder()
      const limiter = makeLimiter({ entry: "grpc_stream", maxInFlight: 2, retryAfterSeconds: 3, observer })
      expect(limiter.tryAcquire()).toBeUndefined()
      expect(limiter.tryAcquire()).toBeUndefined()
      const refusal = limiter.tryAcquire()
      expect(refusal).toMatchObject({ _tag: "Overloaded", entry: "grpc_stream", reason: "capacity", limit: 2 })
      expect(refusal?.retryAfterSeconds).toBe(3)
      expect(refusal?.message).toBe("overloaded (grpc_stream): 2 already in flight; retry after 3 s")
      limiter.release()
      expect(limiter.inFlight()).toBe(1)
      expect(limiter.tryAcquire()).toBeUndefined()
      limiter.release()
      limiter.release()
      // A release too many never goes below zero.
      limiter.release()
      expect(limiter.inFlight()).toBe(0)
      expect(seen.refused).toEqual(["capacity"])
    }),
  )

  it.effect("a slot freed by tryAcquire's holder goes to the oldest waiter of admit", () =>
    Effect.gen(function* () {
      const limiter = makeLimiter({ entry: "http", maxInFlight: 1, maxQueue: 1, maxWait: "10 seconds" })
      expect(limiter.tryAcquire()).toBeUndefined()
      const waiter = yield* Effect.forkChild(limiter.admit(Effect.succeed("mine"), refusedWith))
      yield* until(() => limiter.queued() === 1)
      // A newcomer does not overtake the waiter.
      expect(limiter.tryAcquire()?.reason).toBe("capacity")
      limiter.release()
      expect(yield* Fiber.join(waiter)).toBe("mine")
      expect(limiter.inFlight()).toBe(0)
    }),
  )
})

describe("Limiter (adaptive)", () => {
  /** `count` callers at once, each admitted one taking `ms` on the test clock. */
  const wave = (limiter: ReturnType<typeof makeLimiter>, count: number, ms: number) =>
    Effect.gen(function* () {
      const admittable = Math.min(count, limiter.limit())
      const fibers = yield* Effect.forEach(Array.from({ length: count }), () =>
        Effect.forkChild(limiter.admit(Effect.sleep(`${ms} millis`).pipe(Effect.as("done" as const)), refusedWith)),
      )
      yield* until(() => limiter.inFlight() === admittable)
      yield* TestClock.adjust(`${ms} millis`)
      const outcomes = yield* Effect.forEach(fibers, Fiber.join)
      return { admitted: outcomes.filter((outcome) => outcome === "done").length, outcomes }
    })

  it.effect(
    "grows its bound while admitted work keeps its latency, shrinks it when work queues, refuses the excess",
    () =>
      Effect.gen(function* () {
        const limits: Array<number> = []
        const { observer } = recorder()
        const limiter = makeLimiter({
          entry: "http",
          maxInFlight: 256,
          adaptive: { min: 4, initial: 16 },
          observer: { ...observer, limit: (count) => limits.push(count) },
        })
        expect(limiter.limit()).toBe(16)

        // Busy at a steady 10 ms: the bound grows.
        for (let i = 0; i < 5; i++) yield* wave(limiter, limiter.limit(), 10)
        const grown = limiter.limit()
        expect(grown).toBeGreaterThan(16)

        // Past capacity the same work takes 20× as long: the bound shrinks towards its floor.
        for (let i = 0; i < 3; i++) yield* wave(limiter, limiter.limit(), 200)
        const shrunk = limiter.limit()
        expect(shrunk).toBeLessThan(grown)
        expect(shrunk).toBeGreaterThanOrEqual(4)
        expect(limits.at(-1)).toBe(shrunk)

        // More callers than the bound: the excess is refused at once, as capacity, naming the adaptive bound.
        const { admitted, outcomes } = yield* wave(limiter, shrunk + 5, 200)
        expect(admitted).toBe(shrunk)
        expect(outcomes.filter((outcome) => outcome === "refused:capacity")).toHaveLength(5)
        const refusal = limiter.tryAcquire()
        expect(refusal).toBeUndefined()
        limiter.release()
      }),
  )

  it.effect("never goes above maxInFlight however fast the work is", () =>
    Effect.gen(function* () {
      const limiter = makeLimiter({ entry: "http", maxInFlight: 20, adaptive: { min: 1 } })
      expect(limiter.limit()).toBe(20)
      for (let i = 0; i < 10; i++) yield* wave(limiter, 25, 1)
      expect(limiter.limit()).toBe(20)
    }),
  )
})
