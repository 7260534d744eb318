import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Fiber, Ref, type Scope } from "effect"
import { HttpClientError, HttpClientRequest, HttpClientResponse } from "effect/http"
import { TestClock } from "effect/testing"
import {
  describeFailure,
  type Guard,
  isCircuitRejection,
  isTransientFailure,
  makeGuard,
  type ResilienceOptions,
} from "../../../src/resilience/Resilience.ts"

class Boom extends Data.TaggedError("Boom")<{ readonly transient: boolean }> {}

const policy: ResilienceOptions = {
  attemptTimeout: "1 second",
  retries: 2,
  retryBaseDelay: "5 millis",
  failureThreshold: 2,
  openDuration: "150 millis",
}

/** `f` with a guard of `options`, on the test clock (timeouts, backoff and the open circuit's wait). */
const run = <A, E>(f: (guard: Guard) => Effect.Effect<A, E, Scope.Scope>, options = policy) =>
  Effect.flatMap(makeGuard(options), f)

/** `effect`, with the test clock moved on a millisecond at a time until it ends (its retries' backoff). */
const elapsing = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    for (let i = 0; i < 10_000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

const request = HttpClientRequest.get("https://hooks.example/path?token=secret")
const statusError = (status: number) =>
  new HttpClientError.HttpClientError({
    reason: new HttpClientError.StatusCodeError({
      request,
      response: HttpClientResponse.fromWeb(request, new Response(null, { status })),
    }),
  })

/** An effect that fails with `errors[i]` on its i-th run and succeeds once they are used up. */
const scripted = <E>(errors: ReadonlyArray<E>) =>
  Effect.gen(function* () {
    const runs = yield* Ref.make(0)
    const effect = Ref.getAndUpdate(runs, (n) => n + 1).pipe(
      Effect.flatMap((n) => (n < errors.length ? Effect.fail(errors[n] as E) : Effect.succeed(`ok after ${n}`))),
    )
    return { effect, runs: Ref.get(runs) }
  })

const transient = (error: unknown) => isTransientFailure(error) || (error instanceof Boom && error.transient)

describe("makeGuard", () => {
  it.effect("passes a success through and keeps the circuit closed", () =>
    run((guard) =>
      Effect.gen(function* () {
        expect(yield* guard.run("k", Effect.succeed(42))).toBe(42)
        expect((yield* guard.state("k"))._tag).toBe("Closed")
      }),
    ),
  )

  it.effect("retries a transient failure at most `retries` times", () =>
    run((guard) =>
      Effect.gen(function* () {
        const recovering = yield* scripted([statusError(503), statusError(500)])
        expect(yield* elapsing(guard.run("k", recovering.effect))).toBe("ok after 2")
        expect(yield* recovering.runs).toBe(3)

        const failing = yield* scripted(Array.from({ length: 10 }, () => statusError(502)))
        const error = yield* Effect.flip(elapsing(guard.run("k2", failing.effect)))
        expect(yield* failing.runs).toBe(3)
        expect(describeFailure(error)).toBe("HTTP 502")
      }),
    ),
  )

  it.effect("does not retry a failure that is not transient (a 4xx answer, a custom error)", () =>
    run((guard) =>
      Effect.gen(function* () {
        const notFound = yield* scripted([statusError(404)])
        yield* Effect.flip(guard.run("k", notFound.effect))
        expect(yield* notFound.runs).toBe(1)
        const custom = yield* scripted([new Boom({ transient: false })])
        yield* Effect.flip(guard.run("k", custom.effect))
        expect(yield* custom.runs).toBe(1)
      }),
    ),
  )

  it.effect("retries what the caller says is retryable", () =>
    run((guard) =>
      Effect.gen(function* () {
        const custom = yield* scripted([new Boom({ transient: true })])
        expect(yield* elapsing(guard.run("k", custom.effect, { isRetryable: transient }))).toBe("ok after 1")
      }),
    ),
  )

  it.effect("bounds each attempt with the timeout", () =>
    run(
      (guard) =>
        Effect.gen(function* () {
          const attempts = yield* Ref.make(0)
          const call = yield* Effect.forkChild(
            Effect.flip(guard.run("k", Ref.update(attempts, (n) => n + 1).pipe(Effect.andThen(Effect.never)))),
          )
          yield* TestClock.adjust("39 millis")
          expect(yield* Ref.get(attempts)).toBe(1)
          // 40 ms: the first attempt times out; the retry starts after 5 ms ± 20 %.
          yield* TestClock.adjust("7 millis")
          expect(yield* Ref.get(attempts)).toBe(2)
          expect(call.pollUnsafe()).toBeUndefined()
          // …and is cut off 40 ms later: the whole call ends within 40 + 6 + 40 ms.
          yield* TestClock.adjust("40 millis")
          expect(call.pollUnsafe()).toBeDefined()
          const error = yield* Fiber.join(call)
          expect(Cause.isTimeoutError(error)).toBe(true)
          expect(describeFailure(error, "40 millis")).toBe("timed out after 40ms")
          expect(yield* Ref.get(attempts)).toBe(2)
        }),
      { ...policy, attemptTimeout: "40 millis", retries: 1 },
    ),
  )

  it.effect("opens after `failureThreshold` failed calls, rejects without running, then lets a probe close it", () =>
    run((guard) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const healthy = yield* Ref.make(false)
        const call = Ref.update(runs, (n) => n + 1).pipe(
          Effect.andThen(Ref.get(healthy)),
          Effect.flatMap((ok) => (ok ? Effect.succeed("ok") : Effect.fail(statusError(503)))),
        )
        const guarded = guard.run("host", call)
        yield* Effect.flip(elapsing(guarded))
        yield* Effect.flip(elapsing(guarded))
        expect(yield* Ref.get(runs)).toBe(6) // two calls × three attempts
        expect((yield* guard.state("host"))._tag).toBe("Open")

        const rejected = yield* Effect.flip(guarded)
        expect(isCircuitRejection(rejected)).toBe(true)
        expect(describeFailure(rejected)).toMatch(/^circuit open \(retry in \d+ms\)$/)
        expect(yield* Ref.get(runs)).toBe(6)
        // Other keys are independent.
        expect((yield* guard.state("other"))._tag).toBe("Closed")

        yield* Ref.set(healthy, true)
        yield* TestClock.adjust("200 millis")
        expect(yield* guarded).toBe("ok")
        expect((yield* guard.state("host"))._tag).toBe("Closed")
      }),
    ),
  )

  it.effect("does not hold a 4xx answer against the circuit", () =>
    run((guard) =>
      Effect.gen(function* () {
        for (let i = 0; i < 5; i++) yield* Effect.flip(guard.run("k", Effect.fail(statusError(404))))
        expect((yield* guard.state("k"))._tag).toBe("Closed")
      }),
    ),
  )

  it.effect("counts what the caller says is a dependency failure", () =>
    run((guard) =>
      Effect.gen(function* () {
        const bad = Effect.fail(new Boom({ transient: false }))
        const options = { isDependencyFailure: (e: unknown) => e instanceof Boom }
        yield* Effect.flip(guard.run("k", bad, options))
        yield* Effect.flip(guard.run("k", bad, options))
        expect((yield* guard.state("k"))._tag).toBe("Open")
      }),
    ),
  )

  it("rejects an invalid policy", async () => {
    const exit = await Effect.runPromiseExit(Effect.scoped(makeGuard({ ...policy, failureThreshold: 0 })))
    expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBeInstanceOf(RangeError)
  })
})

describe("describeFailure", () => {
  it("names the failure without the URL", () => {
    const transport = new HttpClientError.HttpClientError({
      reason: new HttpClientError.TransportError({
        request,
        cause: Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }),
      }),
    })
    expect(describeFailure(transport)).toBe("connection failed (ECONNREFUSED)")
    expect(describeFailure(statusError(500))).toBe("HTTP 500")
    expect(describeFailure(new Cause.TimeoutError())).toBe("timed out")
    expect(describeFailure(new Error("plain"))).toBe("plain")
    for (const error of [transport, statusError(500)]) expect(describeFailure(error)).not.toContain("secret")
  })
})
