import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import { warnWhenSlow } from "../../../src/telemetry/slow.ts"

describe("warnWhenSlow", () => {
  it.effect("warns once when the effect outlives the delay, and keeps its result", () =>
    Effect.gen(function* () {
      const warnings = yield* Ref.make(0)
      const done = yield* Deferred.make<string>()
      const fiber = yield* Deferred.await(done).pipe(
        warnWhenSlow(
          "10 seconds",
          Ref.update(warnings, (n) => n + 1),
        ),
        Effect.forkChild,
      )
      yield* TestClock.adjust("9 seconds")
      expect(yield* Ref.get(warnings)).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(warnings)).toBe(1)
      yield* TestClock.adjust("30 seconds")
      expect(yield* Ref.get(warnings)).toBe(1)
      yield* Deferred.succeed(done, "answer")
      expect(yield* Fiber.join(fiber)).toBe("answer")
    }),
  )

  it.effect("says nothing when the effect ends in time, failures included", () =>
    Effect.gen(function* () {
      const warnings = yield* Ref.make(0)
      const warn = Ref.update(warnings, (n) => n + 1)
      expect(yield* Effect.succeed(1).pipe(warnWhenSlow("1 second", warn))).toBe(1)
      const failed = yield* Effect.fail("refused").pipe(warnWhenSlow("1 second", warn), Effect.exit)
      expect(Exit.isFailure(failed)).toBe(true)
      yield* TestClock.adjust("1 minute")
      expect(yield* Ref.get(warnings)).toBe(0)
    }),
  )
})
