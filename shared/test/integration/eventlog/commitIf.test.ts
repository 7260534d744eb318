/**
 * `OrderEventLog.commitIf` against the real Redis: a state transition and its outbox entry are
 * committed by exactly one of many concurrent writers on separate connections (replicas).
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { OrderEventLog, outboxStreamKey } from "../../../src/orders/OrderEventLog.ts"
import { keyShardOf, orderTag } from "../../../src/redis/keys.ts"
import { deleteKeys, rawClient, redisLayer, testPrefix } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

/** `count` event logs on their own connections, one prefix. */
const replicas = async (count: number) => {
  const prefix = testPrefix("commitif")
  prefixes.push(prefix)
  const logs: Array<typeof OrderEventLog.Service> = []
  for (let index = 0; index < count; index++) {
    const scope = Effect.runSync(Scope.make())
    scopes.push(scope)
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.provideMerge(OrderEventLog.layer, redisLayer(prefix)), scope),
    )
    logs.push(Context.get(context, OrderEventLog))
  }
  return { prefix, logs }
}

/** An order's hash, in its hash slot; O2 is an order of O1's shard (one commit may read both). */
const O2 = Array.from({ length: 1000 }, (_, i) => `O${i + 2}`).find(
  (id) => keyShardOf(id) === keyShardOf("O1"),
) as string
const orderKey = (id: string) => `order:${orderTag(id)}:${id}`
const outbox = outboxStreamKey(keyShardOf("O1"))

const submit = (replica: number) => ({
  writes: [
    { op: "hset", key: orderKey("O1"), field: "status", value: "SUBMITTED" } as const,
    { op: "hset", key: orderKey("O1"), field: "by", value: String(replica) } as const,
  ],
  extraOutbox: [{ topic: "ACKS", key: "O1", headers: {}, payload: `ack from ${replica}` }],
})
const unsubmitted = [{ key: orderKey("O1"), field: "status", oneOf: ["", "REGISTERED"] }]

describe("OrderEventLog.commitIf", () => {
  it("commits a transition exactly once among 20 concurrent writers on 4 connections", async () => {
    const { prefix, logs } = await replicas(4)
    const results = await Effect.runPromise(
      Effect.forEach(
        Array.from({ length: 20 }, (_, index) => index),
        (index) =>
          (logs[index % logs.length] as typeof OrderEventLog.Service).commitIf("O1", unsubmitted, submit(index)),
        { concurrency: "unbounded" },
      ),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    const winner = results.indexOf(true)
    const redis = await rawClient()
    try {
      expect(await redis.hgetall(`${prefix}${orderKey("O1")}`)).toEqual({ status: "SUBMITTED", by: String(winner) })
      const entries = await redis.xrange(`${prefix}${outbox}`, "-", "+")
      expect(entries.map(([, fields]) => fields[fields.indexOf("payload") + 1])).toEqual([`ack from ${winner}`])
    } finally {
      redis.disconnect()
    }
  })

  it('checks field values: absent counts as "", other values refuse, nothing is written on refusal', async () => {
    const { prefix, logs } = await replicas(1)
    const log = logs[0] as typeof OrderEventLog.Service
    const redis = await rawClient()
    try {
      await redis.hset(`${prefix}${orderKey("O1")}`, "status", "REGISTERED")
      expect(
        await Effect.runPromise(log.commitIf("O1", [{ key: orderKey("O1"), field: "status", oneOf: [""] }], submit(1))),
      ).toBe(false)
      expect(await redis.hget(`${prefix}${orderKey("O1")}`, "status")).toBe("REGISTERED")
      expect(await redis.exists(`${prefix}${outbox}`)).toBe(0)
      expect(await Effect.runPromise(log.commitIf("O1", unsubmitted, submit(1)))).toBe(true)
      expect(await Effect.runPromise(log.commitIf("O1", unsubmitted, submit(2)))).toBe(false)
      expect(await redis.xlen(`${prefix}${outbox}`)).toBe(1)
      // Several conditions must all hold.
      expect(
        await Effect.runPromise(
          log.commitIf(
            O2,
            [
              { key: orderKey(O2), field: "status", oneOf: [""] },
              { key: orderKey("O1"), field: "status", oneOf: ["REGISTERED"] },
            ],
            { writes: [{ op: "hset", key: orderKey(O2), field: "status", value: "X" }] },
          ),
        ),
      ).toBe(false)
      expect(await redis.exists(`${prefix}${orderKey(O2)}`)).toBe(0)
    } finally {
      redis.disconnect()
    }
  })
})
