/** DistributedSemaphore against the real Redis; two layers = two connections = two processes. */
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { DistributedSemaphore, semaphoreKeys } from "../../../src/coordination/DistributedSemaphore.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, testPrefix } from "../eventlog/support.ts"
import { processLayer, recordWakeUps } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const twoProcesses = async () => {
  const prefix = testPrefix("sem")
  prefixes.push(prefix)
  const build = async () => {
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.provideMerge(DistributedSemaphore.layer, processLayer(prefix)), scope),
    )
    return { sem: Context.get(context, DistributedSemaphore), redis: Context.get(context, Redis), prefix }
  }
  return [await build(), await build()] as const
}

describe("DistributedSemaphore", () => {
  it("never lets more than `limit` holders run at once across processes", async () => {
    const [a, b] = await twoProcesses()
    let running = 0
    let maxRunning = 0
    let done = 0
    let observedInUse = 0
    let observedWaiting = 0
    const task = Effect.gen(function* () {
      running++
      maxRunning = Math.max(maxRunning, running)
      yield* Effect.sleep("150 millis")
      running--
      done++
    })
    await Effect.runPromise(
      Effect.gen(function* () {
        const all = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => (i % 2 === 0 ? a : b).sem.withPermit("dispatch", 3, task),
          { concurrency: "unbounded" },
        ).pipe(Effect.forkChild)
        yield* Effect.sleep("60 millis")
        observedInUse = yield* a.sem.inUse("dispatch")
        observedWaiting = yield* b.sem.waiting("dispatch")
        yield* Fiber.join(all)
      }),
    )
    expect(done).toBe(12)
    expect(maxRunning).toBe(3)
    expect(observedInUse).toBe(3)
    expect(observedWaiting).toBeGreaterThan(0)
    expect(await Effect.runPromise(a.sem.inUse("dispatch"))).toBe(0)
    expect(await Effect.runPromise(a.sem.waiting("dispatch"))).toBe(0)
  })

  it("fails PermitTimeout after waitMs and frees permits on failure and interruption", async () => {
    const [a, b] = await twoProcesses()
    await Effect.runPromise(
      Effect.gen(function* () {
        const holder = yield* a.sem.withPermit("s", 1, Effect.never).pipe(Effect.forkChild)
        yield* Effect.sleep("50 millis")
        expect(yield* b.sem.inUse("s")).toBe(1)
        const error = yield* Effect.flip(b.sem.withPermit("s", 1, Effect.void, { waitMs: 100 }))
        expect(error).toMatchObject({ _tag: "PermitTimeout", name: "s", limit: 1 })
        // a larger limit lets a second holder in
        expect(yield* b.sem.withPermit("s", 2, Effect.succeed("second"), { waitMs: 0 })).toBe("second")
        yield* Fiber.interrupt(holder)
        expect(yield* b.sem.inUse("s")).toBe(0)
        expect(yield* Effect.flip(b.sem.withPermit("s", 1, Effect.fail("boom" as const)))).toBe("boom")
        expect(yield* b.sem.inUse("s")).toBe(0)
      }),
    )
  })

  it("renews a held permit past its lease, and reclaims the permit of a crashed holder", async () => {
    const [a, b] = await twoProcesses()
    await Effect.runPromise(
      Effect.gen(function* () {
        // Held for 2.5 leases, so it is renewed at least twice. The lease leaves room for a stall
        // of the test process (renewals every 330 ms; a 300 ms lease lost its permit under a
        // loaded CI run, and the waiter below got it).
        const holder = yield* a.sem
          .withPermit("r", 1, Effect.sleep("2500 millis"), { leaseMs: 1_000 })
          .pipe(Effect.forkChild)
        yield* Effect.sleep("50 millis")
        const waiter = yield* Effect.exit(b.sem.withPermit("r", 1, Effect.succeed("got it"), { waitMs: 1_500 }))
        expect(Exit.isSuccess(waiter) ? "the waiter got the permit" : JSON.stringify(waiter.cause)).toContain(
          "PermitTimeout",
        )
        yield* Fiber.join(holder)

        // a holder that vanished: its lease (300 ms from now, Redis time) is never renewed
        const [seconds, micros] = yield* Effect.promise(() => a.redis.client.time())
        const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
        yield* Effect.promise(() => a.redis.client.zadd(semaphoreKeys("r").permits, now + 300, "crashed"))
        expect(yield* b.sem.inUse("r")).toBe(1)
        const started = Date.now()
        yield* b.sem.withPermit("r", 1, Effect.void, { waitMs: 2_000 })
        expect(Date.now() - started).toBeGreaterThanOrEqual(100)
      }),
    )
  })

  it("interrupts the effect with PermitLost when its permit disappears", async () => {
    const [a] = await twoProcesses()
    await Effect.runPromise(
      Effect.gen(function* () {
        const holder = yield* a.sem
          .withPermit("x", 1, Effect.sleep("3 seconds"), { leaseMs: 300 })
          .pipe(Effect.forkChild)
        yield* Effect.sleep("50 millis")
        yield* Effect.promise(() => a.redis.client.del(semaphoreKeys("x").permits))
        const exit = yield* Fiber.await(holder)
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause).includes("PermitLost")).toBe(true)
      }),
    )
  })

  it("wakes waiters on release: publishes a wake-up only when someone waits", async () => {
    const [a, b] = await twoProcesses()
    const wakeUps = await recordWakeUps(a.prefix)
    try {
      await Effect.runPromise(
        Effect.gen(function* () {
          yield* a.sem.withPermit("quiet", 1, Effect.void)
          const holder = yield* a.sem.withPermit("busy", 1, Effect.sleep("200 millis")).pipe(Effect.forkChild)
          yield* Effect.sleep("50 millis")
          // waits, then gets the permit once the holder releases it
          expect(yield* b.sem.withPermit("busy", 1, Effect.succeed("mine"), { waitMs: 5_000 })).toBe("mine")
          yield* Fiber.join(holder)
          yield* Effect.sleep("100 millis")
        }),
      )
      // the holder's release (b waited); not b's own (nobody waited), nor the quiet one
      expect(wakeUps.messages).toEqual(["semaphore:busy"])
    } finally {
      wakeUps.close()
    }
  })
})
