/** WakeUps over the real Redis pub/sub: a message from another connection wakes a listener here. */
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { WakeUps, wakeUpsChannel } from "../../../src/coordination/WakeUps.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, rawClient, testPrefix } from "../eventlog/support.ts"
import { processLayer } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
})

const process_ = async (prefix: string) => {
  const scope = Effect.runSync(Scope.make())
  scopes.push(scope)
  const context = await Effect.runPromise(Layer.buildWithScope(processLayer(prefix), scope))
  return { wakeUps: Context.get(context, WakeUps), redis: Context.get(context, Redis), scope }
}

describe("WakeUps", () => {
  it("wakes listeners of this process when any connection publishes their topic", async () => {
    const prefix = testPrefix("wake")
    const here = await process_(prefix)
    expect(here.wakeUps.channel).toBe(wakeUpsChannel(prefix, 0))
    expect(here.wakeUps.channel).toBe(`${prefix}wake-ups@0`)
    const publisher = await rawClient()
    try {
      await Effect.runPromise(
        Effect.gen(function* () {
          const one = yield* here.wakeUps.listen("queue:q", "one")
          const all = yield* here.wakeUps.listen("lock:l", "all")
          const waitOne = yield* Effect.forkChild(one.next(Number.POSITIVE_INFINITY))
          const waitAll = yield* Effect.forkChild(all.next(Number.POSITIVE_INFINITY))
          yield* Effect.sleep("20 millis")
          // another prefix (another service) or database: not ours
          yield* Effect.promise(() => publisher.publish(wakeUpsChannel(prefix, 1), "queue:q"))
          yield* Effect.promise(() => publisher.publish(wakeUpsChannel(testPrefix("other"), 0), "queue:q"))
          yield* Effect.sleep("100 millis")
          expect(waitOne.pollUnsafe()).toBeUndefined()
          yield* Effect.promise(() => publisher.publish(here.wakeUps.channel, "queue:q"))
          expect(yield* Fiber.join(waitOne).pipe(Effect.timeout("5 seconds"))).toBe(true)
          expect(waitAll.pollUnsafe()).toBeUndefined()
          yield* Effect.promise(() => publisher.publish(here.wakeUps.channel, "lock:l"))
          expect(yield* Fiber.join(waitAll).pipe(Effect.timeout("5 seconds"))).toBe(true)
        }).pipe(Effect.scoped),
      )
    } finally {
      publisher.disconnect()
      await deleteKeys(prefix)
    }
  })
})
