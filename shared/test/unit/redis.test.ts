/** The Redis service without a Redis: start-up must not fail, health must say why. */
import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { freePort } from "../../../test/support/ports.ts"
import { Redis } from "../../src/redis/Redis.ts"

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
