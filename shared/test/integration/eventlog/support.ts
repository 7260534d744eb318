/**
 * Real-Redis helpers for the eventlog, coordination and outbox integration tests: every test
 * gets its own key prefix (`test:<random>:`) so runs never see each other's keys, and the keys
 * are deleted afterwards. The same suites run on one node (`integration`) and on the local Redis
 * Cluster (`integration-cluster`, `onRedisCluster`): every helper here follows that choice.
 */
import { randomUUID } from "node:crypto"
import { Duration, Effect, Layer, Schedule } from "effect"
import { Cluster, Redis as IORedis } from "ioredis"
import { onRedisCluster, redisClusterNodes, redisUrl } from "../../../../test/support/servers.ts"
import { Redis, type RedisClient } from "../../../src/redis/Redis.ts"

export const testPrefix = (label = "t") => `test:${label}:${randomUUID().slice(0, 12)}:`

/** A `Redis` service on the real server, ready (connected) when the layer is built. */
export const redisLayer = (keyPrefix: string): Layer.Layer<Redis> =>
  Layer.effect(
    Redis,
    Effect.gen(function* () {
      const redis = yield* Redis.make(new URL(redisUrl), {
        keyPrefix,
        ...(onRedisCluster ? { clusterNodes: redisClusterNodes.map(({ host, port }) => ({ host, port })) } : {}),
      })
      yield* redis.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
      return redis
    }),
  ).pipe(Layer.orDie)

/** Deletes every key under `keyPrefix` (on a cluster: on each master, one key at a time). */
export const deleteKeys = async (keyPrefix: string) => {
  const client = await rawClient()
  try {
    const nodes = client instanceof Cluster ? client.nodes("master") : [client]
    for (const node of nodes) {
      let cursor = "0"
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000)
        cursor = next
        await Promise.all(keys.map((key) => node.del(key)))
      } while (cursor !== "0")
    }
  } finally {
    client.disconnect()
  }
}

/** A client without prefix, for checks from "outside" (a `Cluster` on the cluster run). */
export const rawClient = async (): Promise<RedisClient> => {
  const client: RedisClient = onRedisCluster
    ? new Cluster(
        redisClusterNodes.map(({ host, port }) => ({ host, port })),
        { lazyConnect: true },
      )
    : new IORedis(redisUrl, { lazyConnect: true })
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
