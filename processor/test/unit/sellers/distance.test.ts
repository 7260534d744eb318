import { describe, expect, it } from "vitest"
import { earthRadiusKm, haversineKm, maxSurfaceDistanceKm, roundKm } from "../../../src/sellers/distance.ts"
import { places } from "./fixtures.ts"

describe("haversineKm", () => {
  it("is 0 for the same point", () => {
    expect(haversineKm(places.bangalore, places.bangalore)).toBe(0)
  })

  it.each([
    // Published air distances between the city centres, to within 1 km.
    ["london", "paris", 343.5],
    ["bangalore", "chennai", 290],
    ["bangalore", "mumbai", 845],
    ["bangalore", "delhi", 1740],
    ["mumbai", "delhi", 1148],
  ] as const)("%s → %s ≈ %d km", (from, to, km) => {
    expect(Math.abs(haversineKm(places[from], places[to]) - km)).toBeLessThan(1)
  })

  it("is symmetric", () => {
    expect(haversineKm(places.delhi, places.chennai)).toBeCloseTo(haversineKm(places.chennai, places.delhi), 9)
  })

  it("measures one degree of latitude as 2πR/360", () => {
    expect(haversineKm({ Lat: 0, Lng: 0 }, { Lat: 1, Lng: 0 })).toBeCloseTo((2 * Math.PI * earthRadiusKm) / 360, 6)
  })

  it("crosses the antimeridian the short way", () => {
    expect(haversineKm({ Lat: 0, Lng: 179.5 }, { Lat: 0, Lng: -179.5 })).toBeCloseTo(
      (2 * Math.PI * earthRadiusKm) / 360,
      6,
    )
  })

  it("is half the circumference for antipodes, never NaN", () => {
    expect(haversineKm({ Lat: 0, Lng: 0 }, { Lat: 0, Lng: 180 })).toBeCloseTo(maxSurfaceDistanceKm, 6)
    expect(haversineKm({ Lat: 90, Lng: 0 }, { Lat: -90, Lng: 0 })).toBeCloseTo(maxSurfaceDistanceKm, 6)
    expect(Number.isNaN(haversineKm({ Lat: 45, Lng: 30 }, { Lat: -45, Lng: -150 }))).toBe(false)
  })

  it("rounds reported distances to the metre", () => {
    expect(roundKm(12.34567)).toBe(12.346)
    expect(roundKm(0.0004)).toBe(0)
  })
})
