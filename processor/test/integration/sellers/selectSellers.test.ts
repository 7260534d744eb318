/**
 * Seller selection end to end on real servers: the Redis directory and a road-distance
 * provider on a local HTTP server, configured through the environment as in production.
 */
import { ConfigProvider, Effect, Layer } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { haversineKm, roundKm } from "../../../src/sellers/distance.ts"
import { RoadDistance } from "../../../src/sellers/RoadDistance.ts"
import { SellerDirectory } from "../../../src/sellers/SellerDirectory.ts"
import { SellerSelection } from "../../../src/sellers/selectSellers.ts"
import { electronicsFromBangalore, indianSellers, places } from "../../unit/sellers/fixtures.ts"
import { deleteKeys, type FakeServer, redisLayer, startFakeServer, testPrefix } from "./support.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()))
})

const start = async (reply: FakeServer["reply"]) => {
  const server = await startFakeServer(reply)
  cleanups.push(server.close)
  return server
}

/** Production wiring (`layer`s reading the environment) over a fresh Redis prefix. */
const selection = (env: Record<string, string>) => {
  const prefix = testPrefix("select")
  cleanups.push(() => deleteKeys(prefix))
  const directory = SellerDirectory.layer.pipe(Layer.provide(redisLayer(prefix)))
  return SellerSelection.layer.pipe(
    Layer.provideMerge(directory),
    Layer.provide(RoadDistance.layer),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
  )
}

const seedAndSelect = (layer: ReturnType<typeof selection>, maxSellers?: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const directory = yield* SellerDirectory
      for (const s of indianSellers) yield* directory.upsert(s)
      const select = yield* SellerSelection
      return yield* select.select({
        orderReqId: "ORD-IT-1",
        industry: "Electronics",
        location: places.bangalore,
        ...(maxSellers === undefined ? {} : { maxSellers }),
      })
    }).pipe(Effect.provide(layer)),
  )

describe("seller selection on Redis with a road-distance provider", () => {
  it("uses straight-line distances without DISTANCE_API_URL, FIND_MAX_SEL sellers", async () => {
    const selected = await seedAndSelect(selection({ FIND_MAX_SEL: "4" }))
    expect(selected.map((s) => s.SellerID)).toEqual(electronicsFromBangalore.slice(0, 4))
    expect(new Set(selected.map((s) => s.DistanceSource))).toEqual(new Set(["straight_line"]))
  })

  it("re-ranks by road distance from DISTANCE_API_URL", async () => {
    // Roads: Chennai made much longer than Hyderabad.
    const server = await start((request) => {
      const { destinations } = JSON.parse(request.body) as { destinations: Array<{ lat: number; lng: number }> }
      return {
        status: 200,
        json: {
          distancesKm: destinations.map((d) =>
            d.lat === places.chennai.Lat ? 900 : haversineKm(places.bangalore, { Lat: d.lat, Lng: d.lng }) * 1.25,
          ),
        },
      }
    })
    const selected = await seedAndSelect(selection({ DISTANCE_API_URL: `${server.origin}/matrix` }), 4)
    // Hyderabad ~500 × 1.25 = ~625 km, then Chennai at 900 km (Mumbai ~845 × 1.25 = ~1056 km).
    expect(selected.map((s) => s.SellerID)).toEqual(["S-BANGALORE", "S-MYSORE", "S-HYDERABAD", "S-CHENNAI"])
    expect(selected[3]?.DistanceKm).toBe(900)
    expect(new Set(selected.map((s) => s.DistanceSource))).toEqual(new Set(["road"]))
    expect(server.requests).toHaveLength(1)
  })

  it("falls back to straight line, recorded per seller, when the provider times out", async () => {
    const server = await start(() => "hang")
    const started = Date.now()
    const selected = await seedAndSelect(
      selection({ DISTANCE_API_URL: `${server.origin}/matrix`, DISTANCE_API_TIMEOUT_MS: "200" }),
      3,
    )
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(selected.map((s) => s.SellerID)).toEqual(electronicsFromBangalore.slice(0, 3))
    for (const s of selected) {
      expect(s).toMatchObject({
        DistanceSource: "straight_line_fallback",
        DistanceFallbackReason: "timed out after 200ms",
      })
      const location = indianSellers.find((x) => x.SellerID === s.SellerID)!.Location
      expect(s.DistanceKm).toBe(roundKm(haversineKm(places.bangalore, location)))
    }
  })
})
