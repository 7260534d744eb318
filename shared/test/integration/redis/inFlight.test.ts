/**
 * A command in flight when the connection breaks, on the real Redis behind a TCP proxy: Redis ran
 * it, its reply never came back, and the client reconnected at once. ioredis would send it again
 * on the new connection (`autoResendUnfulfilledCommands`), running it twice; `Redis.use` fails it
 * instead (the caller decides: a commit answers 503 and the client retries with the same ids),
 * and `Redis.useIdempotent` runs it again because that is safe for it.
 */
import { Effect, Exit, Fiber, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { type FaultProxy, startFaultProxy } from "../../../../test/support/faultProxy.ts"
import { redisUrl, servers } from "../../../../test/support/servers.ts"
import { Redis, type RedisClient } from "../../../src/redis/Redis.ts"
import { deleteKeys, testPrefix } from "../eventlog/support.ts"

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** An INCR whose reply is lost after Redis ran it; returns what the call did and the counter after it. */
const incrementWithLostReply = async (idempotent: boolean) => {
  const prefix = testPrefix("inflight")
  cleanups.push(() => deleteKeys(prefix))
  const proxy: FaultProxy = await startFaultProxy([`${servers.redis.host}:${servers.redis.port}`])
  cleanups.push(() => proxy.close())
  const direct = new IORedis(redisUrl, { keyPrefix: prefix, lazyConnect: true })
  cleanups.push(() => direct.quit())
  await direct.connect()
  return Effect.runPromise(
    Effect.gen(function* () {
      const redis = yield* Redis.make(new URL(`redis://${proxy.address}`), { keyPrefix: prefix })
      // Until the client is connected (through the proxy): spaced, not 50 immediate retries.
      yield* redis.ping.pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))
      // Each chunk (the command, its reply) is held 400 ms in the proxy, both ways.
      proxy.delay(400)
      const incr = (client: RedisClient) => client.incr("counter")
      const call = yield* (idempotent ? redis.useIdempotent("INCR", incr) : redis.use("INCR", incr)).pipe(
        Effect.exit,
        Effect.forkChild,
      )
      // Redis ran it; its reply is on its way back through the proxy: break the connection now.
      while ((yield* Effect.promise(() => direct.get("counter"))) !== "1") yield* Effect.sleep("5 millis")
      proxy.heal()
      proxy.reset()
      const exit = yield* Fiber.join(call)
      // Long enough for a command sent again after the reconnect to have run.
      yield* Effect.sleep("500 millis")
      return { exit, counter: Number(yield* Effect.promise(() => direct.get("counter"))) }
    }).pipe(Effect.scoped),
  )
}

describe("Redis: a command in flight when the connection breaks", () => {
  it("use fails it as an outage and never sends it again", async () => {
    const { exit, counter } = await incrementWithLostReply(false)
    expect(counter).toBe(1)
    expect(Exit.isFailure(exit)).toBe(true)
    const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    expect(reason).toMatchObject({ _tag: "Fail", error: { _tag: "RedisError", reason: "Connection is closed." } })
  }, 20_000)

  it("useIdempotent runs it again on the new connection", async () => {
    const { exit, counter } = await incrementWithLostReply(true)
    expect(counter).toBe(2)
    expect(exit).toMatchObject({ _tag: "Success", value: 2 })
  }, 20_000)
})
