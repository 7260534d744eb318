import { Data, Duration, Effect, Ref } from "effect"
import { describe, expect, it } from "vitest"
import {
  type BackoffPolicy,
  backoff,
  delaysOf,
  exponentialCapped,
  nominalDelay,
  RetryPolicies,
  retryWhile,
} from "../../../src/resilience/schedules.ts"

const millis = (delays: ReadonlyArray<Duration.Duration>) => delays.map(Duration.toMillis)

class Flaky extends Data.TaggedError("Flaky")<{ readonly transient: boolean }> {}

/** Fails with `errors[i]` on its i-th run, then succeeds with the number of runs. */
const scripted = (errors: ReadonlyArray<Flaky>) =>
  Effect.gen(function* () {
    const runs = yield* Ref.make(0)
    const effect = Ref.getAndUpdate(runs, (n) => n + 1).pipe(
      Effect.flatMap((n) => (n < errors.length ? Effect.fail(errors[n] as Flaky) : Effect.succeed(n + 1))),
    )
    return { effect, runs: Ref.get(runs) }
  })

const fast = { base: "1 millis", max: "4 millis" } as const

describe("nominalDelay", () => {
  it("doubles from the base and stops at the cap", () => {
    const policy: BackoffPolicy = { base: "100 millis", max: "1 second" }
    expect([1, 2, 3, 4, 5, 6].map((n) => Duration.toMillis(nominalDelay(policy, n)))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ])
  })

  it("uses the factor", () => {
    expect(Duration.toMillis(nominalDelay({ base: "10 millis", max: "1 minute", factor: 3 }, 3))).toBe(90)
  })
})

describe("exponentialCapped", () => {
  it("keeps every delay within ±20 % of the nominal exponential, capped", async () => {
    const policy: BackoffPolicy = { base: "100 millis", max: "1 second" }
    for (let round = 0; round < 20; round++) {
      const delays = millis(await Effect.runPromise(delaysOf(exponentialCapped(policy), 8)))
      expect(delays).toHaveLength(8)
      delays.forEach((delay, index) => {
        const nominal = Duration.toMillis(nominalDelay(policy, index + 1))
        expect(delay).toBeGreaterThanOrEqual(nominal * 0.8 - 1e-6)
        expect(delay).toBeLessThanOrEqual(nominal * 1.2 + 1e-6)
      })
    }
  })

  it("is jittered: two runs do not give the same delays", async () => {
    const first = millis(await Effect.runPromise(delaysOf(exponentialCapped(RetryPolicies.brokerPublish), 6)))
    const second = millis(await Effect.runPromise(delaysOf(exponentialCapped(RetryPolicies.brokerPublish), 6)))
    expect(first).not.toEqual(second)
  })
})

describe("backoff", () => {
  it("stops after `retries` recurrences", async () => {
    expect(await Effect.runPromise(delaysOf(backoff(RetryPolicies.redisRead), 10))).toHaveLength(3)
    expect(await Effect.runPromise(delaysOf(backoff(RetryPolicies.httpCall), 10))).toHaveLength(2)
    expect(await Effect.runPromise(delaysOf(backoff({ ...fast, retries: 0 }), 10))).toHaveLength(0)
  })

  it("never stops without `retries` (the broker publish path)", async () => {
    const delays = millis(await Effect.runPromise(delaysOf(backoff(RetryPolicies.brokerPublish), 40)))
    expect(delays).toHaveLength(40)
    expect(Math.max(...delays)).toBeLessThanOrEqual(10_000 * 1.2)
    expect(delays.at(-1)).toBeGreaterThanOrEqual(10_000 * 0.8)
  })
})

describe("retryWhile", () => {
  const transient = (error: Flaky) => error.transient

  it("retries transient failures and returns the success", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const flaky = yield* scripted([new Flaky({ transient: true }), new Flaky({ transient: true })])
        const value = yield* flaky.effect.pipe(retryWhile({ ...fast, retries: 3 }, transient))
        return { value, runs: yield* flaky.runs }
      }),
    )
    expect(result).toEqual({ value: 3, runs: 3 })
  })

  it("gives up after the bound with the last error", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const flaky = yield* scripted(Array.from({ length: 5 }, () => new Flaky({ transient: true })))
        const error = yield* flaky.effect.pipe(retryWhile({ ...fast, retries: 2 }, transient), Effect.flip)
        return { error, runs: yield* flaky.runs }
      }),
    )
    expect(result.runs).toBe(3)
    expect(result.error).toBeInstanceOf(Flaky)
  })

  it("does not retry an error that is not transient", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const flaky = yield* scripted([new Flaky({ transient: false })])
        const error = yield* flaky.effect.pipe(retryWhile({ ...fast, retries: 5 }, transient), Effect.flip)
        return { error, runs: yield* flaky.runs }
      }),
    )
    expect(result.runs).toBe(1)
    expect(result.error.transient).toBe(false)
  })
})
