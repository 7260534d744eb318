/**
 * Real-Redis helpers for the eventlog, coordination and outbox integration tests: every test
 * gets its own key prefix (`test:<random>:`) so runs never see each other's keys, and the keys
 * are deleted afterwards.
 */
import { randomUUID } from "node:crypto"
import { Duration, Effect, Layer, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { redisUrl } from "../../../../test/support/servers.ts"
import { Redis } from "../../../src/redis/Redis.ts"

export const testPrefix = (label = "t") => `test:${label}:${randomUUID().slice(0, 12)}:`

/** A `Redis` service on the real server, ready (connected) when the layer is built. */
export const redisLayer = (keyPrefix: string): Layer.Layer<Redis> =>
  Layer.effect(
    Redis,
    Effect.gen(function* () {
      const redis = yield* Redis.make(new URL(redisUrl), { keyPrefix })
      yield* redis.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
      return redis
    }),
  ).pipe(Layer.orDie)

/** Deletes every key under `keyPrefix`. */
export const deleteKeys = async (keyPrefix: string) => {
  const client = new IORedis(redisUrl, { lazyConnect: true })
  await client.connect()
  try {
    let cursor = "0"
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== "0")
  } finally {
    client.disconnect()
  }
}

/** A client without prefix, for checks from "outside". */
export const rawClient = async () => {
  const client = new IORedis(redisUrl, { lazyConnect: true })
  await client.connect()
  return client
}

/** Polls `condition` until true or fails after `ms`. */
export const eventually = (condition: () => boolean, ms: number, describe: () => string = () => "condition") =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline)
        return yield* Effect.die(new Error(`timed out after ${ms} ms waiting for ${describe()}`))
      yield* Effect.sleep(Duration.millis(10))
    }
  })
