/**
 * The dedicated connection for blocking commands, on the real Redis: an ordinary command whose
 * reply does not come in time is sent again (a blocking read of a stream is safe to repeat), but
 * with `sendsOnce` it is sent exactly once and the call fails, because a repeat of a command like
 * `XREADGROUP … >` would take the next entries while the first read's were handed out already.
 */
import { Effect, Exit } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { blockingConnection } from "../../../src/redis/blockingConnection.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, redisLayer, testPrefix } from "../eventlog/support.ts"
import { countCommands } from "../outbox/support.ts"

const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

/** `XREAD … BLOCK 2000` on an empty stream, bounded on the client at 300 ms: it never replies in time. */
const readWithoutReply = (sendsOnce: boolean) => {
  const prefix = testPrefix("blocking")
  prefixes.push(prefix)
  return Effect.gen(function* () {
    const redis = yield* Redis
    const commands = countCommands(redis.client)
    const connection = yield* blockingConnection(redis, { sendsOnce })
    const exit = yield* connection
      .use("XREAD", 300, (client) => client.xread("BLOCK", 2_000, "STREAMS", "quiet-stream", "$"))
      .pipe(Effect.timeout("5 seconds"), Effect.exit)
    const sent = commands.count("xread")
    commands.remove()
    // The connection comes back after the timeout dropped it: the next command is answered.
    const after = yield* connection.use("XREAD", 3_000, (client) =>
      client.xread("BLOCK", 10, "STREAMS", "quiet-stream", "0"),
    )
    return { exit, sent, after }
  }).pipe(Effect.scoped, Effect.provide(redisLayer(prefix)))
}

describe("blockingConnection", () => {
  it("sends a command that got no reply in time again", async () => {
    const { exit, sent } = await Effect.runPromise(readWithoutReply(false))
    // Retried under RetryPolicies.redisRead (while it reconnects, then sent again): it times out again.
    expect(sent).toBeGreaterThanOrEqual(2)
    expect(Exit.isFailure(exit)).toBe(true)
  }, 20_000)

  it("with sendsOnce, sends it once and fails the call with RedisUnavailable", async () => {
    const { exit, sent, after } = await Effect.runPromise(readWithoutReply(true))
    expect(sent).toBe(1)
    expect(after).toBeNull()
    expect(exit).toMatchObject({ _tag: "Failure" })
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    expect(error).toMatchObject({ _tag: "Fail", error: { _tag: "RedisUnavailable" } })
    expect(String((error as { error: Error }).error.message)).toContain("no reply to XREAD within 300 ms")
  }, 20_000)
})
