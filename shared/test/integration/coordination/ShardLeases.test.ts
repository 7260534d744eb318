/**
 * ShardLeases against the real Redis; each member is its own Redis layer (its own connections),
 * as in separate processes. Waits are for the change asserted on (the `onChange` calls), never
 * for a fixed time.
 */
import { Effect, Exit, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { type ShardChange, shardKeys, shardLeases, shardOf } from "../../../src/coordination/ShardLeases.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { deleteKeys, rawClient, redisLayer, testPrefix } from "../eventlog/support.ts"

/** Polls `condition` every 10 ms until it holds, or fails after `ms`. */
const eventually = async (condition: () => Promise<boolean>, ms: number, describe: () => string) => {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${describe()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const newPrefix = () => {
  const prefix = testPrefix("shards")
  prefixes.push(prefix)
  return prefix
}

const name = "test-set"
const shards = 6
// Claims every 100 ms keep the tests quick; the 2 s lease leaves room for a stall of the test
// process (a 600 ms lease, renewed every 200 ms, expired under a loaded CI run: a member stopped
// its shards as it must, and the test read that as a loss it did not expect).
const ttlMs = 2_000
const claimEveryMs = 100

/** One member: its own Redis layer and scope; `changes` records every onChange. */
const member = async (prefix: string, owner: string, leaseTtlMs = ttlMs, renewEveryMs = claimEveryMs) => {
  const scope = Effect.runSync(Scope.make())
  scopes.push(scope)
  const changes: Array<ShardChange> = []
  const leases = await Effect.runPromise(
    Effect.gen(function* () {
      const redis = yield* Redis
      return yield* shardLeases(redis, {
        name,
        shards,
        owner,
        ttlMs: leaseTtlMs,
        renewEveryMs,
        onChange: (change) => Effect.sync(() => changes.push(change)),
      })
    }).pipe(Effect.provide(redisLayer(prefix)), Scope.provide(scope)),
  )
  const owned = () => Effect.runPromise(leases.owned).then((set) => [...set].sort((x, y) => x - y))
  return { owner, scope, leases, changes, owned }
}

const redisNowMs = async () => {
  const client = await rawClient()
  try {
    const [seconds, micros] = await client.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  } finally {
    client.disconnect()
  }
}

describe("shardOf", () => {
  it("is stable and spreads keys over every shard", () => {
    expect(shardOf("ORD-001", 64)).toBe(shardOf("ORD-001", 64))
    const counts = new Array(8).fill(0)
    for (let n = 0; n < 8_000; n++) counts[shardOf(`ORD-${n}`, 8)] += 1
    for (const count of counts) expect(count).toBeGreaterThan(800)
  })
})

describe("ShardLeases", () => {
  it("shares the shards fairly among the members, every shard owned exactly once", async () => {
    const prefix = newPrefix()
    const a = await member(prefix, "a")
    await eventually(
      () => a.owned().then((owned) => owned.length === shards),
      10_000,
      () => "a alone owning every shard",
    )
    const b = await member(prefix, "b")
    const c = await member(prefix, "c")
    await eventually(
      async () => [(await a.owned()).length, (await b.owned()).length, (await c.owned()).length].join() === "2,2,2",
      10_000,
      () => "two shards each",
    )
    const all = [...(await a.owned()), ...(await b.owned()), ...(await c.owned())].sort((x, y) => x - y)
    expect(all).toEqual([0, 1, 2, 3, 4, 5])
    // Redis agrees with what each member believes.
    const client = await rawClient()
    const owners = await client.hgetall(`${prefix}${shardKeys(name).owners}`)
    client.disconnect()
    for (const m of [a, b, c]) {
      for (const shard of await m.owned()) expect(owners[String(shard)]).toBe(m.owner)
    }
    // a gave shards back (lost them to balance) and never lost any other way.
    expect(a.changes.flatMap((change) => change.lost)).toHaveLength(4)
  })

  it("a member that stops releases its shards at once; the others take them without waiting for the TTL", async () => {
    const prefix = newPrefix()
    // A long TTL: the take-over must come well before it.
    const longTtlMs = 5_000
    const a = await member(prefix, "a", longTtlMs)
    const b = await member(prefix, "b", longTtlMs)
    await eventually(
      async () => (await a.owned()).length === 3 && (await b.owned()).length === 3,
      10_000,
      () => "three shards each",
    )
    const released = await redisNowMs()
    await Effect.runPromise(Scope.close(a.scope, Exit.void))
    expect(a.changes.at(-1)?.lost).toHaveLength(3)
    await eventually(
      () => b.owned().then((owned) => owned.length === shards),
      10_000,
      () => "b owning every shard",
    )
    // Taken on the release announcement, not when a's leases would have expired.
    expect((await redisNowMs()) - released).toBeLessThan(longTtlMs)
  })

  it("a member that stops stays out: no claim of its own after the release puts it back", async () => {
    const prefix = newPrefix()
    const keys = shardKeys(name)
    const client = await rawClient()
    try {
      for (let round = 0; round < 5; round++) {
        // Claiming back to back, so a scheduled claim is waiting for the lock when the release runs.
        const a = await member(prefix, `a${round}`, ttlMs, 10)
        await eventually(
          () => a.owned().then((owned) => owned.length > 0),
          10_000,
          () => `a${round} owning shards`,
        )
        await Effect.runPromise(Scope.close(a.scope, Exit.void))
        // Let any claim that was queued behind the release reach Redis.
        await new Promise((resolve) => setTimeout(resolve, 50))
        expect(await client.zscore(`${prefix}${keys.members}`, `a${round}`)).toBeNull()
        expect(Object.values(await client.hgetall(`${prefix}${keys.owners}`))).not.toContain(`a${round}`)
      }
    } finally {
      client.disconnect()
    }
  })

  it("a shard taken by another owner is reported lost at the next claim, and taken back once it expires", async () => {
    const prefix = newPrefix()
    const a = await member(prefix, "a")
    await eventually(
      () => a.owned().then((owned) => owned.length === shards),
      10_000,
      () => "a owning every shard",
    )
    // As if a third replica had taken shard 4 after a's lease expired (e.g. a long pause).
    const client = await rawClient()
    await client.hset(`${prefix}${shardKeys(name).owners}`, "4", "intruder")
    await client.hset(`${prefix}${shardKeys(name).expiry}`, "4", String((await redisNowMs()) + 2 * ttlMs))
    client.disconnect()
    await eventually(
      async () => a.changes.some((change) => change.lost.includes(4)),
      10_000,
      () => "shard 4 reported lost",
    )
    // The intruder never claims: its lease expires and a takes the shard back.
    await eventually(
      () => a.owned().then((owned) => owned.includes(4)),
      10_000,
      () => "shard 4 taken back",
    )
  })

  it("a dead member's shards are taken over when its leases expire", async () => {
    const prefix = newPrefix()
    // A member that claimed every shard and then died (no release): written as it would have.
    const client = await rawClient()
    const expires = String((await redisNowMs()) + ttlMs)
    const keys = shardKeys(name)
    await client.zadd(`${prefix}${keys.members}`, expires, "dead")
    for (let shard = 0; shard < shards; shard++) {
      await client.hset(`${prefix}${keys.owners}`, String(shard), "dead")
      await client.hset(`${prefix}${keys.expiry}`, String(shard), expires)
    }
    client.disconnect()
    const b = await member(prefix, "b")
    // While the dead member's leases run, b gets nothing (every shard is held).
    expect(await b.owned()).toEqual([])
    await eventually(
      () => b.owned().then((owned) => owned.length === shards),
      10_000,
      () => "b owning every shard after the expiry",
    )
    expect(b.changes.flatMap((change) => change.lost)).toEqual([])
  })
})
