/** Coordination failures keep why they failed (a reason to branch on) and the original failure (`cause`). */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { CoordinationError, isCoordinationOutage } from "../../../src/coordination/errors.ts"
import { command } from "../../../src/coordination/internal.ts"
import { RedisError, RedisUnavailable } from "../../../src/redis/errors.ts"
import type { RedisShape } from "../../../src/redis/Redis.ts"

/** A Redis whose every command fails with `error`. */
const failingRedis = (error: RedisUnavailable | RedisError) =>
  ({ use: () => Effect.fail(error) }) as unknown as RedisShape

const failureOf = (error: RedisUnavailable | RedisError) =>
  Effect.runPromise(Effect.flip(command(failingRedis(error))("queue take", "dispatch", "EVALSHA", async () => 1)))

describe("CoordinationError", () => {
  it("an unreachable Redis is Unavailable (an outage), with the original failure as its cause", async () => {
    const unreachable = new RedisUnavailable({ url: "redis://127.0.0.1:1", reason: "connection refused" })
    const error = await failureOf(unreachable)
    expect(error).toBeInstanceOf(CoordinationError)
    expect(error).toMatchObject({ reason: "Unavailable", operation: "queue take", name: "dispatch" })
    expect(error.cause).toBe(unreachable)
    expect(error.message).toContain("connection refused")
    expect(isCoordinationOutage(error)).toBe(true)
  })

  it("a Redis out of memory is Unavailable too", async () => {
    const full = new RedisUnavailable({ url: "redis://r", reason: "OOM", kind: "out-of-memory" })
    expect((await failureOf(full)).reason).toBe("Unavailable")
  })

  it("a refused command is Refused (a bug, not an outage), with its cause", async () => {
    const scriptError = new RedisError({ command: "EVALSHA", reason: "ERR user_script:1: bad" })
    const error = await failureOf(scriptError)
    expect(error).toMatchObject({ reason: "Refused" })
    expect(error.cause).toBe(scriptError)
    expect(isCoordinationOutage(error)).toBe(false)
  })
})
