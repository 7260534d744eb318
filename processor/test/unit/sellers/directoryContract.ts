/**
 * What every `SellerDirectory` must do. Run against the in-memory directory (unit) and the
 * Redis one (integration), so callers tested with `layerMemory` see what production does.
 */
import { Effect, type Layer, Option } from "effect"
import { describe, expect, it } from "vitest"
import { haversineKm } from "../../../src/sellers/distance.ts"
import { SellerDirectory } from "../../../src/sellers/SellerDirectory.ts"
import { electronicsFromBangalore, indianSellers, places, seller } from "./fixtures.ts"

export type DirectoryLayer = () => Layer.Layer<SellerDirectory>

export const sellerDirectoryContract = (name: string, makeLayer: DirectoryLayer) => {
  const run = <A, E>(effect: Effect.Effect<A, E, SellerDirectory>) =>
    Effect.runPromise(effect.pipe(Effect.provide(makeLayer())))

  const seeded = <A, E>(effect: Effect.Effect<A, E, SellerDirectory>) =>
    run(
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        for (const s of indianSellers) yield* directory.upsert(s)
        return yield* effect
      }),
    )

  describe(`SellerDirectory contract: ${name}`, () => {
    it("upsert is idempotent: created, then updated, one record", () =>
      run(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const s = seller("S-1", "bangalore")
          expect(yield* directory.upsert(s)).toBe("created")
          expect(yield* directory.upsert(s)).toBe("updated")
          expect(yield* directory.upsert({ ...s, Name: "Renamed" })).toBe("updated")
          expect(yield* directory.get("S-1")).toEqual(Option.some({ ...s, Name: "Renamed" }))
          expect((yield* directory.list()).map((x) => x.SellerID)).toEqual(["S-1"])
          expect(yield* directory.get("S-unknown")).toEqual(Option.none())
        }),
      ))

    it("keeps every field, optional ones included", () =>
      run(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const s = seller("S-2", "chennai", ["Electronics", "Textiles"], {
            ChatWebhookURL: "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t",
            Email: "sales@s2.example",
          })
          yield* directory.upsert(s)
          expect(yield* directory.get("S-2")).toEqual(Option.some(s))
        }),
      ))

    it("nearest: active sellers of the industry, nearest first, with straight-line distances", () =>
      seeded(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const found = yield* directory.nearest({ industry: "Electronics", location: places.bangalore, limit: 10 })
          expect(found.map((s) => s.SellerID)).toEqual(electronicsFromBangalore)
          for (const s of found) {
            expect(s.distanceKm).toBeCloseTo(haversineKm(places.bangalore, s.Location), 6)
          }
          expect(found[0]?.distanceKm).toBe(0)
          expect(found[2]?.distanceKm).toBeGreaterThan(280)
          expect(found[2]?.distanceKm).toBeLessThan(300)
        }),
      ))

    it("nearest: limit, maxDistanceKm, other origins", () =>
      seeded(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const ids = (query: Parameters<typeof directory.nearest>[0]) =>
            directory.nearest(query).pipe(Effect.map((found) => found.map((s) => s.SellerID)))
          expect(yield* ids({ industry: "Electronics", location: places.bangalore, limit: 3 })).toEqual(
            electronicsFromBangalore.slice(0, 3),
          )
          // Chennai is ~290 km from Bangalore, Hyderabad ~500 km.
          expect(
            yield* ids({ industry: "Electronics", location: places.bangalore, limit: 10, maxDistanceKm: 300 }),
          ).toEqual(["S-BANGALORE", "S-MYSORE", "S-CHENNAI"])
          expect(
            yield* ids({ industry: "Electronics", location: places.bangalore, limit: 10, maxDistanceKm: 100 }),
          ).toEqual(["S-BANGALORE"])
          expect(yield* ids({ industry: "Electronics", location: places.delhi, limit: 2 })).toEqual([
            "S-DELHI",
            "S-MUMBAI",
          ])
          expect(yield* ids({ industry: "Electronics", location: places.bangalore, limit: 0 })).toEqual([])
        }),
      ))

    it("nearest: industry is matched case-insensitively; other industries and unknown ones are separate", () =>
      seeded(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const ids = (industry: string) =>
            directory
              .nearest({ industry, location: places.mumbai, limit: 10 })
              .pipe(Effect.map((found) => found.map((s) => s.SellerID)))
          expect(yield* ids(" TEXTILES ")).toEqual(["S-TEXTILES-MUMBAI", "S-BANGALORE"])
          expect(yield* ids("Plumbing")).toEqual([])
        }),
      ))

    it("nearest: fills the limit past inactive sellers", () =>
      run(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          // Ten inactive sellers right at the origin, two active ones farther away.
          for (let i = 0; i < 10; i++) {
            yield* directory.upsert(seller(`S-OFF-${i}`, "bangalore", ["Electronics"], { Active: false }))
          }
          yield* directory.upsert(seller("S-ON-CHENNAI", "chennai"))
          yield* directory.upsert(seller("S-ON-MUMBAI", "mumbai"))
          const found = yield* directory.nearest({ industry: "electronics", location: places.bangalore, limit: 2 })
          expect(found.map((s) => s.SellerID)).toEqual(["S-ON-CHENNAI", "S-ON-MUMBAI"])
        }),
      ))

    it("upsert moves a seller between industries and (in)activity", () =>
      run(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const nearestIds = (industry: string) =>
            directory
              .nearest({ industry, location: places.bangalore, limit: 10 })
              .pipe(Effect.map((found) => found.map((s) => s.SellerID)))
          yield* directory.upsert(seller("S-MOVER", "chennai", ["Electronics"]))
          expect(yield* nearestIds("Electronics")).toEqual(["S-MOVER"])

          yield* directory.upsert(seller("S-MOVER", "mumbai", ["Textiles"]))
          expect(yield* nearestIds("Electronics")).toEqual([])
          expect(yield* nearestIds("Textiles")).toEqual(["S-MOVER"])
          expect((yield* directory.list({ industry: "Electronics" })).map((s) => s.SellerID)).toEqual([])
          expect((yield* directory.list({ industry: "Textiles" })).map((s) => s.SellerID)).toEqual(["S-MOVER"])
          const moved = yield* directory.nearest({ industry: "Textiles", location: places.bangalore, limit: 1 })
          expect(moved[0]?.distanceKm).toBeCloseTo(haversineKm(places.bangalore, places.mumbai), 6)

          yield* directory.upsert(seller("S-MOVER", "mumbai", ["Textiles"], { Active: false }))
          expect(yield* nearestIds("Textiles")).toEqual([])
          expect((yield* directory.list({ industry: "Textiles" })).map((s) => s.SellerID)).toEqual(["S-MOVER"])

          yield* directory.upsert(seller("S-MOVER", "mumbai", ["Textiles"], { Active: true }))
          expect(yield* nearestIds("Textiles")).toEqual(["S-MOVER"])
        }),
      ))

    it("list filters by industry and activity, ordered by SellerID", () =>
      seeded(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          const ids = (filter?: Parameters<typeof directory.list>[0]) =>
            directory.list(filter).pipe(Effect.map((found) => found.map((s) => s.SellerID)))
          expect(yield* ids()).toEqual(indianSellers.map((s) => s.SellerID).sort())
          expect(yield* ids({ industry: "textiles" })).toEqual(["S-BANGALORE", "S-TEXTILES-MUMBAI"])
          expect(yield* ids({ active: false })).toEqual(["S-BANGALORE-INACTIVE"])
          expect(yield* ids({ industry: "Electronics", active: true })).toEqual([...electronicsFromBangalore].sort())
        }),
      ))

    it("breaks distance ties by SellerID", () =>
      run(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          for (const id of ["S-C", "S-A", "S-B"]) yield* directory.upsert(seller(id, "chennai"))
          const found = yield* directory.nearest({ industry: "Electronics", location: places.bangalore, limit: 3 })
          expect(found.map((s) => s.SellerID)).toEqual(["S-A", "S-B", "S-C"])
        }),
      ))

    it("handles sellers near the poles (beyond Redis GEO's ±85.05°) with exact distances", () =>
      run(
        Effect.gen(function* () {
          const directory = yield* SellerDirectory
          yield* directory.upsert({ ...seller("S-POLE", "london"), Location: { Lat: 89.5, Lng: 10 } })
          const found = yield* directory.nearest({
            industry: "Electronics",
            location: { Lat: 88, Lng: 0 },
            limit: 1,
          })
          expect(found.map((s) => s.SellerID)).toEqual(["S-POLE"])
          expect(found[0]?.distanceKm).toBeCloseTo(haversineKm({ Lat: 88, Lng: 0 }, { Lat: 89.5, Lng: 10 }), 6)
        }),
      ))
  })
}
