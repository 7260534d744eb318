/**
 * `subscribeToChannel` on the real Redis (one node in `integration`, the local Redis Cluster in
 * `integration-cluster`): a subscriber whose connection breaks subscribes again and says so
 * (`onSubscribed`), so its caller re-reads what was published meanwhile; on a cluster, one whose
 * node stays away moves to another node.
 */
import { randomUUID } from "node:crypto"
import { Effect, Schedule } from "effect"
import { Cluster } from "ioredis"
import { afterEach, describe, expect, it } from "vitest"
import { type FaultProxy, startFaultProxy } from "../../../../test/support/faultProxy.ts"
import { onRedisCluster, redisClusterNodes, redisUrl } from "../../../../test/support/servers.ts"
import { Redis, type RedisClient } from "../../../src/redis/Redis.ts"
import { subscribeToChannel } from "../../../src/redis/subscriber.ts"
import { eventually, rawClient, testPrefix } from "../eventlog/support.ts"

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Kills, on every node, the connections named `name`; how many. */
const killConnections = async (raw: RedisClient, name: string) => {
  const nodes = raw instanceof Cluster ? raw.nodes("all") : [raw]
  let killed = 0
  for (const node of nodes) {
    const list = (await node.client("LIST")) as string
    for (const line of list.split("\n")) {
      if (!line.includes(` name=${name} `)) continue
      const id = Number(/(?:^|\s)id=(\d+)/.exec(line)?.[1])
      killed += Number(await node.client("KILL", "ID", String(id)))
    }
  }
  return killed
}

/** A subscriber on `redis` recording its messages and subscriptions. */
const listen = (redis: Redis["Service"], channel: string, connectionName: string) =>
  Effect.gen(function* () {
    const heard: Array<string> = []
    let subscriptions = 0
    yield* subscribeToChannel(redis, {
      channel,
      connectionName,
      onMessage: (message) => heard.push(message),
      onSubscribed: () => {
        subscriptions += 1
      },
    })
    return { heard, subscriptions: () => subscriptions }
  })

/** Publishes `message` until `heard` has it (a subscription may still be on its way). */
const publishUntilHeard = (raw: RedisClient, channel: string, message: string, heard: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const deadline = Date.now() + 10_000
    while (!heard.includes(message)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`"${message}" never heard on ${channel}`))
      yield* Effect.promise(() => raw.publish(channel, message))
      yield* Effect.sleep("50 millis")
    }
  })

/** Waits for the subscriber's first subscription, then until it hears the channel. */
const subscribedAndHearing = (
  subscriber: { readonly heard: ReadonlyArray<string>; readonly subscriptions: () => number },
  raw: RedisClient,
  channel: string,
) =>
  Effect.gen(function* () {
    yield* eventually(
      () => subscriber.subscriptions() === 1,
      10_000,
      () => "the first subscription",
    )
    yield* publishUntilHeard(raw, channel, "before", subscriber.heard)
  })

/** The ports of the nodes holding a connection named `name`. */
const nodesWith = async (raw: RedisClient, name: string) => {
  const nodes = raw instanceof Cluster ? raw.nodes("all") : [raw]
  const ports: Array<number | undefined> = []
  for (const node of nodes) {
    if (((await node.client("LIST")) as string).includes(` name=${name} `)) ports.push(node.options.port)
  }
  return ports
}

/** A `Redis` of the test; connected unless `connected` is false (it has then found no node yet). */
const makeRedis = (clusterNodes?: ReadonlyArray<{ host: string; port: number }>, connected = true) =>
  Effect.gen(function* () {
    const redis = yield* Redis.make(new URL(redisUrl), {
      keyPrefix: testPrefix("sub"),
      ...(onRedisCluster ? { clusterNodes: clusterNodes ?? redisClusterNodes } : {}),
    })
    if (connected) yield* redis.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
    return redis
  })

describe("subscribeToChannel", () => {
  it("subscribes again after its connection is killed, says so, and hears the channel again", async () => {
    const raw = await rawClient()
    cleanups.push(async () => raw.disconnect())
    const channel = `test-channel-${randomUUID()}`
    const name = `test-subscriber-${randomUUID().slice(0, 8)}`
    await Effect.runPromise(
      Effect.gen(function* () {
        const redis = yield* makeRedis()
        const subscriber = yield* listen(redis, channel, name)
        yield* subscribedAndHearing(subscriber, raw, channel)

        expect(yield* Effect.promise(() => killConnections(raw, name))).toBe(1)
        yield* eventually(
          () => subscriber.subscriptions() === 2,
          10_000,
          () => `a second subscription (${subscriber.subscriptions()} so far)`,
        )
        yield* publishUntilHeard(raw, channel, "after", subscriber.heard)
        expect(subscriber.subscriptions()).toBe(2)
      }).pipe(Effect.scoped),
    )
  }, 30_000)

  it.runIf(onRedisCluster)(
    "moves to another node when its node stays away, and says so",
    async () => {
      const raw = await rawClient()
      cleanups.push(async () => raw.disconnect())
      const [first, ...others] = redisClusterNodes
      // The first seed is a proxy to a real node: the subscriber starts there, then the proxy goes away.
      const proxy: FaultProxy = await startFaultProxy([`${first?.host}:${first?.port}`])
      cleanups.push(() => proxy.close())
      const channel = `test-channel-${randomUUID()}`
      const name = `test-subscriber-${randomUUID().slice(0, 8)}`
      await Effect.runPromise(
        Effect.gen(function* () {
          // Subscribed before the client has found the cluster's nodes: it starts at the first seed.
          const redis = yield* makeRedis([{ host: "127.0.0.1", port: proxy.port }, ...others], false)
          const subscriber = yield* listen(redis, channel, name)
          yield* subscribedAndHearing(subscriber, raw, channel)
          expect(yield* Effect.promise(() => nodesWith(raw, name))).toEqual([first?.port])

          yield* Effect.promise(() => proxy.close())
          yield* eventually(
            () => subscriber.subscriptions() === 2,
            15_000,
            () => `a subscription on another node (${subscriber.subscriptions()} so far)`,
          )
          yield* publishUntilHeard(raw, channel, "after", subscriber.heard)
          const now = yield* Effect.promise(() => nodesWith(raw, name))
          expect(now).toHaveLength(1)
          expect(now).not.toContain(first?.port)
        }).pipe(Effect.scoped),
      )
    },
    40_000,
  )
})
