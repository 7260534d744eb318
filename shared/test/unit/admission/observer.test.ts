/**
 * The admission metrics and log of one entry: the gauges and the refusal counter follow the
 * limiter; refusals are logged once when they start, summed up once per window while they go on,
 * and once more when they have stopped — never one line per refusal (windows on the test clock).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { observedLimiter } from "../../../src/metrics/admission.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import { lineLogger } from "../../../src/runtime/logging.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

describe("admission metrics and log", () => {
  it.effect("count refusals and slots, and log a run of refusals in a few lines", () => {
    const lines: Array<Record<string, unknown>> = []
    const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
    return Effect.gen(function* () {
      const limiter = yield* observedLimiter({ entry: "sse", maxInFlight: 2 }, { logWindow: "10 seconds" })
      const samples = () => Effect.promise(async () => parseExposition(await metrics.registry.metrics()))

      const before = yield* samples()
      expect(sumSamples(before, "dcent_admission_limit", { entry: "sse" })).toBe(2)
      expect(sumSamples(before, "dcent_admission_refused_total", { entry: "sse", reason: "capacity" })).toBe(0)

      limiter.tryAcquire()
      limiter.tryAcquire()
      for (let i = 0; i < 50; i++) limiter.tryAcquire()
      yield* Effect.yieldNow
      const during = yield* samples()
      expect(sumSamples(during, "dcent_admission_in_flight", { entry: "sse" })).toBe(2)
      expect(sumSamples(during, "dcent_admission_refused_total", { entry: "sse", reason: "capacity" })).toBe(50)
      // 50 refusals, one line.
      expect(lines.map((line) => line.message)).toEqual(["admission control: refusing requests (overloaded)"])
      expect(lines[0]).toMatchObject({ level: "warn", entry: "sse", limit: 2, reason: "capacity" })

      // Refusals go on: one summary per window, with the count since the previous line (49 + 7).
      for (let i = 0; i < 7; i++) limiter.tryAcquire()
      yield* TestClock.adjust("10 seconds")
      expect(lines).toHaveLength(2)
      expect(lines.at(-1)).toMatchObject({ level: "warn", message: "admission control: still refusing", refused: 56 })

      // They stop: one line saying so, then nothing more.
      limiter.release()
      yield* TestClock.adjust("10 seconds")
      expect(lines.at(-1)).toMatchObject({ level: "info", message: "admission control: admitting again" })
      yield* TestClock.adjust("1 minute")
      expect(lines).toHaveLength(3)
      expect(sumSamples(yield* samples(), "dcent_admission_in_flight", { entry: "sse" })).toBe(1)

      // A new run of refusals is logged again.
      limiter.tryAcquire()
      limiter.tryAcquire()
      yield* Effect.yieldNow
      expect(lines).toHaveLength(4)
      expect(lines.at(-1)?.message).toBe("admission control: refusing requests (overloaded)")
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          Layer.succeed(Metrics, metrics),
          Logger.layer([Logger.map(lineLogger("json"), (line) => lines.push(JSON.parse(line)))]),
          Layer.succeed(References.MinimumLogLevel, "Debug"),
        ),
      ),
    )
  })
})
