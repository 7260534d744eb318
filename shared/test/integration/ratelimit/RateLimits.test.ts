/**
 * RateLimits against the real Redis; two layers = two connections = two replicas of a service:
 * the budgets and the cap on open streams hold in total, a replica that stops stops counting,
 * and a lost connection falls back to the per-replica limit (counted), never to an error.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import { bucketOf, noRateLimits, type RateLimitSettings } from "../../../src/ratelimit/config.ts"
import { isStreamRefusal, RateLimits } from "../../../src/ratelimit/RateLimits.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, redisLayer, testPrefix } from "../eventlog/support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const settings: RateLimitSettings = {
  ...noRateLimits,
  // write: counted one by one (a small budget); read: large enough to be taken in blocks.
  classes: { ...noRateLimits.classes, write: bucketOf(0.5, 5), read: bucketOf(64, 640) },
  streamsPerPrincipal: 2,
}

const twoReplicas = async (replicaSettings: RateLimitSettings = settings) => {
  const prefix = testPrefix("rl")
  prefixes.push(prefix)
  const build = async () => {
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const metrics = await Effect.runPromise(Metrics.make("test", { defaultMetrics: false }))
    const context = await Effect.runPromise(
      Layer.buildWithScope(
        RateLimits.layerWith(replicaSettings).pipe(
          Layer.provideMerge(redisLayer(prefix)),
          Layer.provide(Layer.succeed(Metrics, metrics)),
        ),
        scope,
      ),
    )
    return { limits: Context.get(context, RateLimits), redis: Context.get(context, Redis), metrics, scope }
  }
  return [await build(), await build()] as const
}

describe("RateLimits over Redis", () => {
  it("a budget holds in total over two replicas", async () => {
    const [a, b] = await twoReplicas()
    const decisions = []
    for (let i = 0; i < 8; i++) {
      decisions.push(await Effect.runPromise((i % 2 === 0 ? a : b).limits.consume("p:BUYER-001", "write")))
    }
    expect(decisions.map((d) => d?.allowed)).toEqual([true, true, true, true, true, false, false, false])
    expect(decisions.slice(0, 5).map((d) => d?.remaining)).toEqual([4, 3, 2, 1, 0])
    expect(decisions[7]).toMatchObject({ limit: 5, remaining: 0 })
    expect(decisions[7]?.resetSeconds).toBeGreaterThanOrEqual(9)
    // Another principal, its own budget; a class that is off, no decision.
    expect((await Effect.runPromise(b.limits.consume("p:BUYER-002", "write")))?.allowed).toBe(true)
    expect(await Effect.runPromise(b.limits.consume("p:BUYER-001", "unary"))).toBeUndefined()
  })

  it("a busy subject's points come from Redis in blocks: the budget holds over two replicas, with far fewer commands", async () => {
    const [a, b] = await twoReplicas()
    let commands = 0
    for (const replica of [a, b]) {
      const client = replica.redis.client
      const send = client.sendCommand
      client.sendCommand = function (this: typeof client, ...args: Array<unknown>) {
        commands += 1
        return (send as (...args: Array<unknown>) => ReturnType<typeof send>).apply(this, args)
      } as typeof send
    }
    const decisions = await Effect.runPromise(
      Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => (i % 2 === 0 ? a : b)),
        (replica) => replica.limits.consume("p:BUYER-004", "read"),
        { concurrency: 16 },
      ),
    )
    const allowed = decisions.filter((decision) => decision?.allowed === true).length
    // Never over the budget; under it by at most what each replica took and had not used (a block, 10).
    expect(allowed).toBeLessThanOrEqual(640)
    expect(allowed).toBeGreaterThanOrEqual(640 - 2 * 9)
    expect(commands).toBeLessThan(200)
    expect(decisions.filter((decision) => decision?.allowed === false).every((d) => d?.remaining === 0)).toBe(true)
  })

  it("the cap on open streams holds over two replicas; a release or a stopped replica frees slots", async () => {
    const [a, b] = await twoReplicas()
    const first = await Effect.runPromise(a.limits.openStream("p:BUYER-001"))
    const second = await Effect.runPromise(b.limits.openStream("p:BUYER-001"))
    expect(isStreamRefusal(first) || isStreamRefusal(second)).toBe(false)
    const third = await Effect.runPromise(a.limits.openStream("p:BUYER-001"))
    expect(third).toEqual({ cap: 2, open: 2, retryAfterSeconds: 1 })
    expect(isStreamRefusal(await Effect.runPromise(b.limits.openStream("p:BUYER-002")))).toBe(false)

    if (!isStreamRefusal(first)) first.release()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const again = await Effect.runPromise(b.limits.openStream("p:BUYER-001"))
    expect(isStreamRefusal(again)).toBe(false)
    expect(isStreamRefusal(await Effect.runPromise(a.limits.openStream("p:BUYER-001")))).toBe(true)

    // B stops (its two streams with it): they stop counting at once.
    await Effect.runPromise(Scope.close(b.scope, Exit.void))
    const afterStop = [
      await Effect.runPromise(a.limits.openStream("p:BUYER-001")),
      await Effect.runPromise(a.limits.openStream("p:BUYER-001")),
    ]
    expect(afterStop.map(isStreamRefusal)).toEqual([false, false])
  })

  it("Redis slow: requests waiting for a principal's block are decided by the fallback at once, not one timeout after another", async () => {
    const [a] = await twoReplicas({ ...settings, storeTimeoutMs: 50 })
    // Every command of this replica's client reaches Redis only after 300 ms: past the store timeout.
    let sent = 0
    const client = a.redis.client
    const send = client.sendCommand
    client.sendCommand = function (this: typeof client, ...args: Array<unknown>) {
      sent += 1
      setTimeout(() => (send as (...args: Array<unknown>) => unknown).apply(this, args), 300)
      return undefined
    } as unknown as typeof send
    const decisions = await Effect.runPromise(
      Effect.forEach(
        Array.from({ length: 20 }, () => a.limits.consume("p:BUYER-005", "read")),
        (consume) => consume,
        { concurrency: "unbounded" },
      ),
    )
    // One request asked Redis and timed out; the 19 waiting for it went to the fallback directly.
    expect(sent).toBe(1)
    expect(decisions.every((decision) => decision?.allowed === true)).toBe(true)
    // Every decision the fallback took is counted.
    const body = (await Effect.runPromise(a.metrics.exposition)).body
    expect(body).toMatch(/^dcent_rate_limit_store_fallbacks_total\{class="read",service="test"\} 20$/m)
    client.sendCommand = send
    // Let the delayed command reach Redis before the layer's release.
    await new Promise((resolve) => setTimeout(resolve, 350))
  })

  it("Redis gone: decisions fall back to the per-replica limit (counted), never an error", async () => {
    const [a] = await twoReplicas()
    a.redis.client.disconnect()
    const decisions = []
    for (let i = 0; i < 7; i++) decisions.push(await Effect.runPromise(a.limits.consume("p:BUYER-003", "write")))
    expect(decisions.map((d) => d?.allowed)).toEqual([true, true, true, true, true, false, false])
    const stream = await Effect.runPromise(a.limits.openStream("p:BUYER-003"))
    expect(isStreamRefusal(stream)).toBe(false)
    const body = (await Effect.runPromise(a.metrics.exposition)).body
    expect(body).toMatch(/^dcent_rate_limit_store_fallbacks_total\{class="write",service="test"\} 7$/m)
    expect(body).toMatch(/^dcent_rate_limit_store_fallbacks_total\{class="concurrent_streams",service="test"\} 1$/m)
    // Back, so the layer's release can QUIT.
    await a.redis.client.connect()
  })
})
