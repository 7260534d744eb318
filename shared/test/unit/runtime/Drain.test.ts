import { describe, expect, it } from "@effect/vitest"
import { Deferred, type Duration, Effect, Fiber, Layer, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { Drain, DrainOnShutdown, type DrainPhase, makeInFlight, onDrain } from "../../../src/runtime/Drain.ts"

const run = <A, E>(effect: Effect.Effect<A, E, Drain | Scope.Scope>, timeout: Duration.Input = "5 seconds") =>
  Effect.runPromise(Effect.scoped(effect.pipe(Effect.provide(Drain.layerWith(timeout)))))

describe("Drain", () => {
  it("is not draining until run, then runs the steps phase by phase", async () => {
    const order: Array<string> = []
    const step = (name: string, phase: DrainPhase) =>
      onDrain({ name, phase, run: () => Effect.sync(() => order.push(`${phase}:${name}`)) })
    const result = await run(
      Effect.gen(function* () {
        const drain = yield* Drain
        // registered out of order on purpose
        yield* step("relay", "flush")
        yield* step("jobs", "work")
        yield* step("health", "accept")
        yield* step("streams", "streams")
        const before = drain.isDraining()
        const reports = yield* drain.run
        return { before, after: drain.isDraining(), aborted: drain.signal.aborted, reports }
      }),
    )
    expect(result.before).toBe(false)
    expect(result.after).toBe(true)
    expect(result.aborted).toBe(true)
    expect(order).toEqual(["accept:health", "streams:streams", "work:jobs", "flush:relay"])
    expect(result.reports.map((report) => [report.name, report.outcome])).toEqual([
      ["health", "done"],
      ["streams", "done"],
      ["jobs", "done"],
      ["relay", "done"],
    ])
  })

  it.effect("abandons a step at the deadline (on the test clock) and still runs the later phases", () =>
    Effect.gen(function* () {
      const drain = yield* Drain
      yield* onDrain({ name: "stuck job", phase: "work", run: () => Effect.never })
      yield* onDrain({ name: "relay", phase: "flush", run: () => Effect.void })
      const running = yield* Effect.forkChild(drain.run)
      yield* TestClock.adjust("99 millis")
      expect(running.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const reports = yield* Fiber.join(running)
      expect(reports.map((report) => [report.name, report.outcome, report.durationMs])).toEqual([
        ["stuck job", "timed_out", 100],
        ["relay", "done", 0],
      ])
    }).pipe(Effect.provide(Drain.layerWith("100 millis"))),
  )

  it("runs once: a second run returns the first result without running the steps again", async () => {
    let runs = 0
    const count = await run(
      Effect.gen(function* () {
        const drain = yield* Drain
        yield* onDrain({ name: "counted", phase: "work", run: () => Effect.sync(() => runs++) })
        yield* drain.run
        yield* drain.run
        return runs
      }),
    )
    expect(count).toBe(1)
  })

  it("forgets the steps of a scope that closed", async () => {
    let ran = false
    await run(
      Effect.gen(function* () {
        const drain = yield* Drain
        yield* Effect.scoped(onDrain({ name: "gone", phase: "work", run: () => Effect.sync(() => (ran = true)) }))
        yield* drain.run
      }),
    )
    expect(ran).toBe(false)
  })

  it("onDrain without a Drain does nothing", async () => {
    await Effect.runPromise(Effect.scoped(onDrain({ name: "x", phase: "work", run: () => Effect.void })))
  })

  it("DrainOnShutdown runs the drain when the application's scope closes, before the application's own finalizers", async () => {
    const order: Array<string> = []
    const app = Layer.effectDiscard(
      Effect.gen(function* () {
        yield* onDrain({ name: "stop taking work", phase: "work", run: () => Effect.sync(() => order.push("drain")) })
        yield* Effect.addFinalizer(() => Effect.sync(() => order.push("release")))
      }),
    )
    const layer = DrainOnShutdown.pipe(Layer.provideMerge(app), Layer.provideMerge(Drain.layerWith("1 second")))
    await Effect.runPromise(Effect.scoped(Layer.build(layer)))
    expect(order).toEqual(["drain", "release"])
  })
})

describe("makeInFlight", () => {
  it("counts running work and `idle` waits until it is all done", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const inFlight = makeInFlight()
        const gate = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(inFlight.track(Deferred.await(gate)))
        yield* Effect.yieldNow
        const during = inFlight.count()
        const idle = yield* Effect.forkChild(inFlight.idle)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(fiber)
        yield* Fiber.join(idle)
        return { during, after: inFlight.count() }
      }),
    )
    expect(result).toEqual({ during: 1, after: 0 })
  })
})
