/** The Redis service without a Redis: start-up must not fail, health must say why. */
import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { freePort } from "../../../test/support/ports.ts"
import { commandFailure, isOutOfMemory, isReconnectable, isSlotRedirect } from "../../src/redis/errors.ts"
import { isTransientRedisFailure, Redis } from "../../src/redis/Redis.ts"

describe("Redis when the server is unreachable", () => {
  it("starts, reports RedisUnavailable from ping and use, and releases promptly", async () => {
    const port = await freePort() // nothing listens there
    const scope = Effect.runSync(Scope.make())
    const redis = await Effect.runPromise(
      Redis.make(new URL(`redis://user:secret@127.0.0.1:${port}`), { keyPrefix: "dcent:test:" }).pipe(
        Scope.provide(scope),
      ),
    )
    expect(redis.url).toBe(`redis://user:***@127.0.0.1:${port}`)
    expect(redis.keyPrefix).toBe("dcent:test:")

    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    const ping = await Effect.runPromise(Effect.flip(redis.ping))
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(ping._tag).toBe("RedisUnavailable")
    expect(ping.message).toMatch(
      new RegExp(`redis redis://user:\\*\\*\\*@127.0.0.1:${port} is unreachable: .*ECONNREFUSED`),
    )
    expect(ping.message).not.toContain("secret")

    const get = await Effect.runPromise(Effect.flip(redis.use("GET", (client) => client.get("k"))))
    expect(get._tag).toBe("RedisUnavailable")

    const closing = Date.now()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    expect(Date.now() - closing).toBeLessThan(3_000)
  })
})

describe("commandFailure: what a rejected command means", () => {
  const url = "redis://127.0.0.1:6379"
  it.each([
    ["MOVED 11378 127.0.0.1:7203"],
    ["ASK 3999 127.0.0.1:7102"],
    ["TRYAGAIN Multiple keys request during rehashing of slot"],
    ["CLUSTERDOWN The cluster is down"],
    ["MASTERDOWN Link with MASTER is down"],
    ["LOADING Redis is loading the dataset in memory"],
  ])("%s ran nothing: an outage the command may be sent again after", (reply) => {
    const error = commandFailure(url, "EVALSHA", new Error(reply))
    expect(error).toMatchObject({ _tag: "RedisUnavailable", reason: `EVALSHA: ${reply}` })
    expect(isReconnectable(error)).toBe(true)
    expect(isOutOfMemory(error)).toBe(false)
  })

  it("a refusal for memory is an outage not worth an immediate retry", () => {
    const error = commandFailure(url, "SET", new Error("OOM command not allowed when used memory > 'maxmemory'."))
    expect(error).toMatchObject({ _tag: "RedisUnavailable", kind: "out-of-memory" })
    expect(isReconnectable(error)).toBe(false)
  })

  it("anything else is a failure of the command (a bug, not an outage)", () => {
    const error = commandFailure(url, "EVALSHA", new Error("ERR Error running script: attempt to compare nil"))
    expect(error).toMatchObject({ _tag: "RedisError", command: "EVALSHA" })
    expect(isTransientRedisFailure(error)).toBe(false)
    expect(isSlotRedirect(new Error("MOVED 1 127.0.0.1:7101"))).toBe(true)
    expect(isSlotRedirect(new Error("ERR MOVED nothing"))).toBe(false)
  })
})
