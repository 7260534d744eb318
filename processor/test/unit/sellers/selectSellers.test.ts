/**
 * Seller selection over the in-memory directory: ordering, limits, the distance limit,
 * inactive and other-industry sellers, road re-ranking, and the fallback recorded per seller
 * when the road provider fails.
 */
import { Effect, Layer, Option, Ref } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { describe, expect, it } from "vitest"
import { type Distance, haversineKm, roundKm } from "../../../src/sellers/distance.ts"
import { makeHttp, RoadDistance, type RoadDistanceShape } from "../../../src/sellers/RoadDistance.ts"
import { SellerDirectory } from "../../../src/sellers/SellerDirectory.ts"
import {
  roadCandidates,
  type SelectRequest,
  SellerSelection,
  type SellerSelectionOptions,
} from "../../../src/sellers/selectSellers.ts"
import { electronicsFromBangalore, indianSellers, places, seller } from "./fixtures.ts"

const defaults: SellerSelectionOptions = { findMaxSel: 10, maxSellerDistanceKm: Option.none() }

const request = (extra: Partial<SelectRequest> = {}): SelectRequest => ({
  orderReqId: "ORD-001",
  industry: "Electronics",
  location: places.bangalore,
  ...extra,
})

const select = (
  req: SelectRequest,
  options: { selection?: SellerSelectionOptions; road?: Layer.Layer<RoadDistance> } = {},
) =>
  Effect.runPromise(
    Effect.flatMap(SellerSelection, (selection) => selection.select(req)).pipe(
      Effect.provide(
        SellerSelection.layerWith(options.selection ?? defaults).pipe(
          Layer.provide(SellerDirectory.layerMemoryWith(indianSellers)),
          Layer.provide(options.road ?? RoadDistance.layerStraightLine),
        ),
      ),
    ),
  )

const ids = (selected: ReadonlyArray<{ SellerID: string }>) => selected.map((s) => s.SellerID)

/** A road provider that answers from a table (km by seller location), recording what it was asked. */
const fakeRoad = (roadKm: (destination: { Lat: number; Lng: number }) => number | null) =>
  Effect.gen(function* () {
    const asked = yield* Ref.make<Array<number>>([])
    const layer = Layer.succeed(RoadDistance, {
      enabled: true,
      roadDistancesKm: (_, destinations) => Effect.succeed(destinations.map(roadKm)),
      measure: (origin, destinations) =>
        Ref.update(asked, (all) => [...all, destinations.length]).pipe(
          Effect.as(
            destinations.map((destination): Distance => {
              const km = roadKm(destination)
              return km === null
                ? { km: haversineKm(origin, destination), source: "straight_line_fallback", reason: "no road route" }
                : { km, source: "road" }
            }),
          ),
        ),
    } satisfies RoadDistanceShape)
    return { layer, asked }
  })

/** The real HTTP provider over a client that always answers `status`. */
const failingRoad = (status: number) =>
  Layer.effect(RoadDistance, makeHttp({ url: "http://distances.test/matrix", retries: 0 })).pipe(
    Layer.provide(
      Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((req) => Effect.succeed(HttpClientResponse.fromWeb(req, new Response(null, { status })))),
      ),
    ),
  )

describe("SellerSelection.select", () => {
  it("selects active sellers of the industry, nearest first, with straight-line distances", async () => {
    const selected = await select(request())
    expect(ids(selected)).toEqual(electronicsFromBangalore)
    for (const s of selected) {
      const location = indianSellers.find((x) => x.SellerID === s.SellerID)!.Location
      expect(s.DistanceKm).toBe(roundKm(haversineKm(places.bangalore, location)))
      expect(s.DistanceSource).toBe("straight_line")
      expect(s).not.toHaveProperty("DistanceFallbackReason")
    }
    expect(selected[0]).toEqual({
      SellerID: "S-BANGALORE",
      Name: "Seller S-BANGALORE",
      DistanceKm: 0,
      DistanceSource: "straight_line",
    })
  })

  it("never selects inactive sellers or sellers of other industries", async () => {
    const selected = ids(await select(request()))
    expect(selected).not.toContain("S-BANGALORE-INACTIVE")
    expect(selected).not.toContain("S-TEXTILES-MUMBAI")
    expect(ids(await select(request({ industry: "textiles", location: places.mumbai })))).toEqual([
      "S-TEXTILES-MUMBAI",
      "S-BANGALORE",
    ])
    expect(await select(request({ industry: "Plumbing" }))).toEqual([])
  })

  it("selects at most maxSellers, defaulting to FIND_MAX_SEL", async () => {
    expect(ids(await select(request({ maxSellers: 2 })))).toEqual(electronicsFromBangalore.slice(0, 2))
    expect(ids(await select(request(), { selection: { ...defaults, findMaxSel: 3 } }))).toEqual(
      electronicsFromBangalore.slice(0, 3),
    )
    expect(await select(request({ maxSellers: 0 }))).toEqual([])
  })

  it("keeps to maxDistanceKm, defaulting to MAX_SELLER_DISTANCE_KM", async () => {
    expect(ids(await select(request({ maxDistanceKm: 300 })))).toEqual(["S-BANGALORE", "S-MYSORE", "S-CHENNAI"])
    expect(ids(await select(request(), { selection: { ...defaults, maxSellerDistanceKm: Option.some(150) } }))).toEqual(
      ["S-BANGALORE", "S-MYSORE"],
    )
    // The request's own limit wins over the configured one.
    expect(
      ids(
        await select(request({ maxDistanceKm: 600 }), {
          selection: { ...defaults, maxSellerDistanceKm: Option.some(150) },
        }),
      ),
    ).toEqual(["S-BANGALORE", "S-MYSORE", "S-CHENNAI", "S-HYDERABAD"])
  })

  it("carries the seller's webhook and e-mail for the notifications", async () => {
    const selected = await Effect.runPromise(
      Effect.flatMap(SellerSelection, (selection) => selection.select(request())).pipe(
        Effect.provide(
          SellerSelection.layerWith(defaults).pipe(
            Layer.provide(
              SellerDirectory.layerMemoryWith([
                seller("S-HOOK", "chennai", ["Electronics"], {
                  ChatWebhookURL: "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
                  Email: "s@hook.example",
                }),
              ]),
            ),
            Layer.provide(RoadDistance.layerStraightLine),
          ),
        ),
      ),
    )
    expect(selected[0]).toMatchObject({
      ChatWebhookURL: "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
      Email: "s@hook.example",
    })
  })

  it("re-ranks extra straight-line candidates by road distance", async () => {
    // By road, Chennai is made farther than Hyderabad.
    const road = await Effect.runPromise(
      fakeRoad((d) => {
        const straight = haversineKm(places.bangalore, d)
        return d.Lat === places.chennai.Lat ? 700 : straight * 1.2
      }),
    )
    const selected = await select(request({ maxSellers: 4 }), { road: road.layer })
    expect(ids(selected)).toEqual(["S-BANGALORE", "S-MYSORE", "S-HYDERABAD", "S-CHENNAI"])
    expect(selected.map((s) => s.DistanceSource)).toEqual(["road", "road", "road", "road"])
    expect(selected[3]?.DistanceKm).toBe(700)
    // It asked about more candidates than it selected (all six electronics sellers here).
    expect(await Effect.runPromise(Ref.get(road.asked))).toEqual([Math.min(6, roadCandidates(4))])
  })

  it("applies maxDistanceKm to the road distance", async () => {
    const road = await Effect.runPromise(fakeRoad((d) => haversineKm(places.bangalore, d) * 1.5))
    // Mysore is ~128 km straight, ~192 km by road; Chennai ~290 / ~435.
    const selected = await select(request({ maxDistanceKm: 200 }), { road: road.layer })
    expect(ids(selected)).toEqual(["S-BANGALORE", "S-MYSORE"])
  })

  it("records a straight-line fallback, with the reason, for every seller when the provider fails", async () => {
    const selected = await select(request({ maxSellers: 3 }), { road: failingRoad(503) })
    expect(ids(selected)).toEqual(electronicsFromBangalore.slice(0, 3))
    for (const s of selected) {
      expect(s.DistanceSource).toBe("straight_line_fallback")
      expect(s.DistanceFallbackReason).toBe("HTTP 503")
      const location = indianSellers.find((x) => x.SellerID === s.SellerID)!.Location
      // The real straight-line distance, never a made-up constant.
      expect(s.DistanceKm).toBe(roundKm(haversineKm(places.bangalore, location)))
    }
  })

  it("records the fallback per seller when only some have no road route", async () => {
    const road = await Effect.runPromise(
      fakeRoad((d) => (d.Lat === places.mysore.Lat ? null : haversineKm(places.bangalore, d) * 1.1)),
    )
    const selected = await select(request({ maxSellers: 3 }), { road: road.layer })
    const mysore = selected.find((s) => s.SellerID === "S-MYSORE")
    expect(mysore).toMatchObject({ DistanceSource: "straight_line_fallback", DistanceFallbackReason: "no road route" })
    expect(selected.filter((s) => s.DistanceSource === "road")).toHaveLength(2)
  })
})
