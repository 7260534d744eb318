/** The Redis command timing hook on an ioredis client (no server: commands fail at once, and are still timed). */

import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import { instrumentRedisClient } from "../../../src/metrics/redis.ts"

const clients: Array<IORedis> = []
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect()
})

const setup = () => {
  const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
  // No connection and no offline queue: every command is rejected right away.
  const client = new IORedis({ lazyConnect: true, enableOfflineQueue: false, keyPrefix: "dcent:test:" })
  clients.push(client)
  const counts = async () => {
    const json = await metrics.catalogue.redisCommandDuration.get()
    return Object.fromEntries(
      json.values
        .filter((value) => value.metricName === "dcent_redis_command_duration_seconds_count")
        .map((value) => [String(value.labels.command), value.value]),
    )
  }
  return { metrics, client, counts }
}

describe("Redis command timing", () => {
  it("records each command once, by lower-case name, scripts as evalsha", async () => {
    const { metrics, client, counts } = setup()
    instrumentRedisClient(client, metrics.catalogue.redisCommandDuration)
    await client.get("a").catch(() => {})
    await client.get("b").catch(() => {})
    await client.call("HSET", "h", "f", "v").catch(() => {})
    await client.evalsha("0123456789abcdef0123456789abcdef01234567", 0).catch(() => {})
    expect(await counts()).toEqual({ get: 2, hset: 1, evalsha: 1 })
  })

  it("counts a command ioredis sends again (offline queue, reconnect) only once", async () => {
    const { metrics, client, counts } = setup()
    instrumentRedisClient(client, metrics.catalogue.redisCommandDuration)
    const sent: Array<unknown> = []
    const original = client.sendCommand
    // Capture the Command object of one call, then hand it to the client a second time.
    const command = await new Promise<Parameters<IORedis["sendCommand"]>[0]>((resolve) => {
      client.sendCommand = ((cmd: Parameters<IORedis["sendCommand"]>[0]) => {
        sent.push(cmd)
        client.sendCommand = original
        resolve(cmd)
        return original.call(client, cmd)
      }) as IORedis["sendCommand"]
      client.get("again").catch(() => {})
    })
    await (original.call(client, command) as Promise<unknown>).catch(() => {})
    expect(sent.length).toBe(1)
    expect(await counts()).toEqual({ get: 1 })
  })

  it("stops timing once the hook is removed", async () => {
    const { metrics, client, counts } = setup()
    const remove = instrumentRedisClient(client, metrics.catalogue.redisCommandDuration)
    await client.get("x").catch(() => {})
    remove()
    await client.get("y").catch(() => {})
    expect(await counts()).toEqual({ get: 1 })
    expect(Object.hasOwn(client, "sendCommand")).toBe(false)
  })
})
