/** DistributedLock against the real Redis; two layers = two connections = two processes. */
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { DistributedLock, lockKey, orderLockName } from "../../../src/coordination/DistributedLock.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, testPrefix } from "../eventlog/support.ts"
import { processLayer, recordWakeUps } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

/** Two independent clients ("processes") on one fresh prefix. */
const twoProcesses = async () => {
  const prefix = testPrefix("lock")
  prefixes.push(prefix)
  const build = async () => {
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.provideMerge(DistributedLock.layer, processLayer(prefix)), scope),
    )
    return { lock: Context.get(context, DistributedLock), redis: Context.get(context, Redis), prefix }
  }
  return [await build(), await build()] as const
}

describe("DistributedLock", () => {
  it("lets one holder at a time in, across processes", async () => {
    const [a, b] = await twoProcesses()
    let inside = 0
    let maxInside = 0
    let counter = 0
    const critical = Effect.gen(function* () {
      inside++
      maxInside = Math.max(maxInside, inside)
      const read = counter
      yield* Effect.sleep("5 millis")
      counter = read + 1
      inside--
    })
    await Effect.runPromise(
      Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => (i % 2 === 0 ? a : b).lock.withLock("shared", critical, { waitMs: 10_000 }),
        { concurrency: "unbounded" },
      ),
    )
    expect(counter).toBe(20)
    expect(maxInside).toBe(1)
    expect(await Effect.runPromise(a.lock.isLocked("shared"))).toBe(false)
  })

  it("fails LockTimeout when the lock stays busy, and the holder keeps it", async () => {
    const [a, b] = await twoProcesses()
    const name = orderLockName("ORD-1")
    expect(name).toBe("order-lock:ORD-1")
    await Effect.runPromise(
      Effect.gen(function* () {
        const holder = yield* a.lock.withLock(name, Effect.sleep("500 millis")).pipe(Effect.forkChild)
        yield* Effect.sleep("50 millis")
        const started = Date.now()
        const error = yield* Effect.flip(b.lock.withLock(name, Effect.void, { waitMs: 150 }))
        expect(error._tag).toBe("LockTimeout")
        if (error._tag === "LockTimeout") {
          expect(error.name).toBe(name)
          expect(error.waitedMs).toBeGreaterThanOrEqual(150)
        }
        expect(Date.now() - started).toBeLessThan(1_000)
        // waitMs 0: one attempt
        expect((yield* Effect.flip(b.lock.withLock(name, Effect.void, { waitMs: 0 })))._tag).toBe("LockTimeout")
        yield* Fiber.join(holder)
        // free again
        expect(yield* b.lock.withLock(name, Effect.succeed("got it"), { waitMs: 0 })).toBe("got it")
      }),
    )
  })

  it("is released when the effect fails or is interrupted", async () => {
    const [a, b] = await twoProcesses()
    await Effect.runPromise(
      Effect.gen(function* () {
        const failure = yield* Effect.flip(a.lock.withLock("l", Effect.fail("boom" as const)))
        expect(failure).toBe("boom")
        expect(yield* a.lock.isLocked("l")).toBe(false)

        const fiber = yield* a.lock.withLock("l", Effect.never).pipe(Effect.forkChild)
        yield* Effect.sleep("100 millis")
        expect(yield* b.lock.isLocked("l")).toBe(true)
        yield* Fiber.interrupt(fiber)
        expect(yield* b.lock.isLocked("l")).toBe(false)
        expect(yield* b.lock.withLock("l", Effect.succeed(1), { waitMs: 0 })).toBe(1)
      }),
    )
  })

  it("renews the lock while the effect runs longer than the ttl", async () => {
    const [a, b] = await twoProcesses()
    await Effect.runPromise(
      Effect.gen(function* () {
        const holder = yield* a.lock
          .withLock("long", Effect.sleep("1200 millis"), { ttlMs: 300 })
          .pipe(Effect.forkChild)
        yield* Effect.sleep("100 millis")
        // well past the ttl, the lock is still held
        const error = yield* Effect.flip(b.lock.withLock("long", Effect.void, { waitMs: 800 }))
        expect(error._tag).toBe("LockTimeout")
        yield* Fiber.join(holder)
        expect(yield* b.lock.isLocked("long")).toBe(false)
      }),
    )
  })

  it("interrupts the effect with LockLost when someone else owns the lock, without deleting theirs", async () => {
    const [a] = await twoProcesses()
    await Effect.runPromise(
      Effect.gen(function* () {
        let finished = false
        const holder = yield* a.lock
          .withLock("stolen", Effect.sleep("3 seconds").pipe(Effect.tap(() => Effect.sync(() => (finished = true)))), {
            ttlMs: 300,
          })
          .pipe(Effect.forkChild)
        yield* Effect.sleep("50 millis")
        // as if the lease had expired and another process had taken the lock
        yield* Effect.promise(() => a.redis.client.set(lockKey("stolen"), "someone-else", "PX", 10_000))
        const exit = yield* Fiber.await(holder)
        expect(finished).toBe(false)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("LockLost")
        expect(yield* Effect.promise(() => a.redis.client.get(lockKey("stolen")))).toBe("someone-else")
      }),
    )
  })

  it("wakes waiters on release: publishes a wake-up only when the lock was contended", async () => {
    const [a, b] = await twoProcesses()
    const wakeUps = await recordWakeUps(a.prefix)
    try {
      await Effect.runPromise(
        Effect.gen(function* () {
          yield* a.lock.withLock("quiet", Effect.void)
          yield* a.lock.withLock("quiet", Effect.void)
          const holder = yield* a.lock.withLock("busy", Effect.sleep("300 millis")).pipe(Effect.forkChild)
          yield* Effect.sleep("50 millis")
          expect(yield* b.lock.withLock("busy", Effect.succeed("mine"), { waitMs: 5_000 })).toBe("mine")
          yield* Fiber.join(holder)
          yield* Effect.sleep("100 millis")
        }),
      )
      // the holder's release at least (b's own may follow while the contended mark lasts)
      expect(wakeUps.messages[0]).toBe("lock:busy")
      expect(new Set(wakeUps.messages)).toEqual(new Set(["lock:busy"]))
    } finally {
      wakeUps.close()
    }
  })
})
