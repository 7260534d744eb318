/** Lease against the real Redis; two layers = two connections = two processes. */
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Lease, leaseKey } from "../../../src/coordination/Lease.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, rawClient, redisLayer, testPrefix } from "../eventlog/support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

/** Two independent clients ("replicas") on one fresh prefix. */
const twoReplicas = async () => {
  const prefix = testPrefix("lease")
  prefixes.push(prefix)
  const build = async () => {
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.provideMerge(Lease.layer, redisLayer(prefix)), scope),
    )
    return { lease: Context.get(context, Lease), redis: Context.get(context, Redis) }
  }
  return { prefix, a: await build(), b: await build() }
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("Lease", () => {
  it("has one owner at a time; a busy answer names the owner and how long its lease runs", async () => {
    const { prefix, a, b } = await twoReplicas()
    expect(await run(a.lease.acquire("order-stream:O1", "replica-a", 5_000))).toEqual({ _tag: "Acquired" })
    const busy = await run(b.lease.acquire("order-stream:O1", "replica-b", 5_000))
    expect(busy).toMatchObject({ _tag: "Busy", owner: "replica-a" })
    expect(busy._tag === "Busy" && busy.remainingMs > 4_000 && busy.remainingMs <= 5_000).toBe(true)
    // The owner acquiring again extends its own lease.
    expect(await run(a.lease.acquire("order-stream:O1", "replica-a", 9_000))).toEqual({ _tag: "Acquired" })
    expect((await run(b.lease.holder("order-stream:O1")))?.remainingMs).toBeGreaterThan(8_000)

    const redis = await rawClient()
    try {
      expect(await redis.get(`${prefix}${leaseKey("order-stream:O1")}`)).toBe("replica-a")
    } finally {
      redis.disconnect()
    }
  })

  it("renews and releases only its own lease", async () => {
    const { a, b } = await twoReplicas()
    await run(a.lease.acquire("L", "replica-a", 1_000))
    expect(await run(b.lease.renew("L", "replica-b", 60_000))).toBe(false)
    expect(await run(b.lease.release("L", "replica-b"))).toBe(false)
    expect(await run(a.lease.holder("L"))).toMatchObject({ owner: "replica-a" })
    expect(await run(a.lease.renew("L", "replica-a", 60_000))).toBe(true)
    expect((await run(a.lease.holder("L")))?.remainingMs).toBeGreaterThan(59_000)
    expect(await run(a.lease.release("L", "replica-a"))).toBe(true)
    expect(await run(a.lease.holder("L"))).toBeUndefined()
    expect(await run(a.lease.renew("L", "replica-a", 1_000))).toBe(false)
  })

  it("is free again once an owner that stopped renewing (a dead process) reaches its TTL", async () => {
    const { a, b } = await twoReplicas()
    await run(a.lease.acquire("L", "dead", 400))
    const busy = await run(b.lease.acquire("L", "replica-b", 400))
    expect(busy._tag).toBe("Busy")
    await sleep(busy._tag === "Busy" ? busy.remainingMs + 50 : 0)
    expect(await run(b.lease.acquire("L", "replica-b", 400))).toEqual({ _tag: "Acquired" })
  })

  it("hold: runs the effect while renewing past the TTL, answers Busy to others, releases at the end", async () => {
    const { a, b } = await twoReplicas()
    const holding = Effect.runFork(
      a.lease.hold("L", "replica-a", Effect.sleep("1200 millis").pipe(Effect.as("done")), { ttlMs: 300 }),
    )
    await sleep(100)
    for (let check = 0; check < 4; check++) {
      expect(await run(b.lease.hold("L", "replica-b", Effect.succeed("never"), { ttlMs: 300 }))).toMatchObject({
        _tag: "Busy",
        owner: "replica-a",
      })
      await sleep(250)
    }
    expect(await run(Fiber.join(holding))).toEqual({ _tag: "Held", value: "done" })
    expect(await run(a.lease.holder("L"))).toBeUndefined()
    expect(await run(b.lease.hold("L", "replica-b", Effect.succeed(1), { ttlMs: 300 }))).toEqual({
      _tag: "Held",
      value: 1,
    })
  })

  it("hold: interrupts the effect with LeaseLost as soon as a renewal finds another owner", async () => {
    const { prefix, a } = await twoReplicas()
    let interrupted = false
    const holding = Effect.runFork(
      a.lease
        .hold(
          "L",
          "replica-a",
          Effect.never.pipe(
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                interrupted = true
              }),
            ),
          ),
          { ttlMs: 3_000, renewEveryMs: 100 },
        )
        .pipe(Effect.exit),
    )
    await sleep(150)
    // Someone else owns the key now (as after an expiry and a takeover).
    const redis = await rawClient()
    try {
      await redis.set(`${prefix}${leaseKey("L")}`, "replica-b", "PX", 10_000)
      const started = Date.now()
      const exit = await run(Fiber.join(holding))
      expect(Date.now() - started).toBeLessThan(1_000)
      expect(interrupted).toBe(true)
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("LeaseLost")
      // The lost lease was not deleted: it belongs to the new owner.
      expect(await redis.get(`${prefix}${leaseKey("L")}`)).toBe("replica-b")
    } finally {
      redis.disconnect()
    }
  })

  it("hold: interrupting the holder (a graceful stop) releases the lease at once", async () => {
    const { a, b } = await twoReplicas()
    const holding = Effect.runFork(a.lease.hold("L", "replica-a", Effect.never, { ttlMs: 30_000 }))
    await sleep(100)
    expect((await run(b.lease.holder("L")))?.owner).toBe("replica-a")
    await run(Fiber.interrupt(holding))
    expect(await run(b.lease.holder("L"))).toBeUndefined()
    expect(await run(b.lease.acquire("L", "replica-b", 30_000))).toEqual({ _tag: "Acquired" })
  })

  it("hold: a failing effect fails hold and releases the lease", async () => {
    const { a } = await twoReplicas()
    const error = await Effect.runPromise(
      a.lease.hold("L", "replica-a", Effect.fail("boom" as const), { ttlMs: 30_000 }).pipe(Effect.flip),
    )
    expect(error).toBe("boom")
    expect(await run(a.lease.holder("L"))).toBeUndefined()
  })
})
