/** The Redis seller directory against the real Redis of infra/local/stack.sh. */
import { Effect, Layer } from "effect"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import {
  geoKey,
  industrySetKey,
  SellerDirectory,
  sellerIdsKey,
  sellerKey,
} from "../../../src/sellers/SellerDirectory.ts"
import { sellerDirectoryContract } from "../../unit/sellers/directoryContract.ts"
import { places, seller } from "../../unit/sellers/fixtures.ts"
import { deleteKeys, rawClient, redisLayer, testPrefix } from "./support.ts"

const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

const newPrefix = () => {
  const prefix = testPrefix("sellers")
  prefixes.push(prefix)
  return prefix
}

const directoryLayer = (prefix: string) => SellerDirectory.layer.pipe(Layer.provide(redisLayer(prefix)))

sellerDirectoryContract("redis", () => directoryLayer(newPrefix()))

describe("SellerDirectory on Redis: layout", () => {
  const raw = rawClient()
  afterAll(async () => {
    ;(await raw).disconnect()
  })

  const run = <A, E>(prefix: string, effect: Effect.Effect<A, E, SellerDirectory>) =>
    Effect.runPromise(effect.pipe(Effect.provide(directoryLayer(prefix))))

  it("keeps the documented keys: hash, id set, industry set, GEO set (GEOADD lng lat)", async () => {
    const prefix = newPrefix()
    await run(
      prefix,
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        yield* directory.upsert(seller("S-BLR", "bangalore", ["Electronics", " electronics", "Textiles"]))
      }),
    )
    const client = await raw
    expect(await client.hkeys(`${prefix}${sellerKey("S-BLR")}`)).toEqual(expect.arrayContaining(["data", "industries"]))
    expect(JSON.parse((await client.hget(`${prefix}${sellerKey("S-BLR")}`, "industries")) ?? "")).toEqual([
      "electronics",
      "textiles",
    ])
    expect(await client.smembers(`${prefix}${sellerIdsKey}`)).toEqual(["S-BLR"])
    expect(await client.smembers(`${prefix}${industrySetKey("electronics")}`)).toEqual(["S-BLR"])
    const [position] = await client.geopos(`${prefix}${geoKey("textiles")}`, "S-BLR")
    expect(Number(position?.[0])).toBeCloseTo(places.bangalore.Lng, 4)
    expect(Number(position?.[1])).toBeCloseTo(places.bangalore.Lat, 4)
  })

  it("moving a seller to another industry removes it from the old GEO and industry sets", async () => {
    const prefix = newPrefix()
    await run(
      prefix,
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        yield* directory.upsert(seller("S-MOVE", "chennai", ["Electronics"]))
        yield* directory.upsert(seller("S-MOVE", "chennai", ["Textiles"]))
      }),
    )
    const client = await raw
    expect(await client.zcard(`${prefix}${geoKey("electronics")}`)).toBe(0)
    expect(await client.scard(`${prefix}${industrySetKey("electronics")}`)).toBe(0)
    expect(await client.zrange(`${prefix}${geoKey("textiles")}`, "0", "-1")).toEqual(["S-MOVE"])
  })

  it("an inactive seller leaves the GEO set but stays listed", async () => {
    const prefix = newPrefix()
    await run(
      prefix,
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        yield* directory.upsert(seller("S-OFF", "mumbai"))
        yield* directory.upsert(seller("S-OFF", "mumbai", ["Electronics"], { Active: false }))
      }),
    )
    const client = await raw
    expect(await client.zcard(`${prefix}${geoKey("electronics")}`)).toBe(0)
    expect(await client.smembers(`${prefix}${industrySetKey("electronics")}`)).toEqual(["S-OFF"])
  })

  it("skips a seller whose record is missing or unreadable instead of failing the search", async () => {
    const prefix = newPrefix()
    const client = await raw
    await run(
      prefix,
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        yield* directory.upsert(seller("S-GOOD", "chennai"))
        yield* directory.upsert(seller("S-BROKEN", "bangalore"))
      }),
    )
    await client.hset(`${prefix}${sellerKey("S-BROKEN")}`, "data", "{not json")
    await client.geoadd(
      `${prefix}${geoKey("electronics")}`,
      String(places.mysore.Lng),
      String(places.mysore.Lat),
      "S-GHOST",
    )
    const found = await run(
      prefix,
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        return yield* directory.nearest({ industry: "Electronics", location: places.bangalore, limit: 1 })
      }),
    )
    expect(found.map((s) => s.SellerID)).toEqual(["S-GOOD"])
  })

  it("keeps 20 concurrent upserts of one seller consistent (one hash, one GEO entry)", async () => {
    const prefix = newPrefix()
    const outcomes = await run(
      prefix,
      Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) =>
          Effect.flatMap(SellerDirectory, (directory) =>
            directory.upsert(seller("S-RACE", i % 2 === 0 ? "chennai" : "mumbai", [i % 2 === 0 ? "A" : "B"])),
          ),
        { concurrency: "unbounded" },
      ),
    )
    expect(outcomes.filter((o) => o === "created")).toHaveLength(1)
    const client = await raw
    const final = JSON.parse((await client.hget(`${prefix}${sellerKey("S-RACE")}`, "industries")) ?? "[]")
    const other = final[0] === "a" ? "b" : "a"
    expect(await client.zcard(`${prefix}${geoKey(final[0] as string)}`)).toBe(1)
    expect(await client.zcard(`${prefix}${geoKey(other as string)}`)).toBe(0)
  })
})
