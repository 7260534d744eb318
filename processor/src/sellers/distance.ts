/**
 * Distances between two points on the Earth and where a distance came from.
 *
 * Straight-line distance is the great-circle (haversine) distance on a sphere of the Earth's
 * mean radius; it is what the seller directory ranks by. A road distance, when a provider is
 * configured (`RoadDistance.ts`), replaces it; a road lookup that fails falls back to the
 * straight line and says so (`straight_line_fallback` with the reason). A distance is never a
 * made-up constant.
 */

/** A point in degrees: latitude in [-90, 90], longitude in [-180, 180]. */
export interface GeoPoint {
  readonly Lat: number
  readonly Lng: number
}

/** Mean Earth radius (IUGG), in km. */
export const earthRadiusKm = 6371.0088

/** Half the Earth's circumference: no two points are farther apart along the surface. */
export const maxSurfaceDistanceKm = Math.PI * earthRadiusKm

const toRadians = (degrees: number) => (degrees * Math.PI) / 180

/** Great-circle distance between `a` and `b` in km (haversine formula). */
export const haversineKm = (a: GeoPoint, b: GeoPoint): number => {
  const dLat = toRadians(b.Lat - a.Lat)
  const dLng = toRadians(b.Lng - a.Lng)
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(a.Lat)) * Math.cos(toRadians(b.Lat)) * Math.sin(dLng / 2) ** 2
  // Rounding can push h a hair above 1 for antipodal points.
  return 2 * earthRadiusKm * Math.asin(Math.sqrt(Math.min(1, h)))
}

/**
 * - `straight_line`: haversine; no road-distance provider is configured.
 * - `road`: the road-distance provider's answer.
 * - `straight_line_fallback`: haversine because the provider failed (timeout, error, open
 *   circuit, no route); `reason` says which.
 */
export type DistanceSource = "straight_line" | "road" | "straight_line_fallback"

export const distanceSources: ReadonlyArray<DistanceSource> = ["straight_line", "road", "straight_line_fallback"]

export type Distance =
  | { readonly km: number; readonly source: "straight_line" | "road" }
  | { readonly km: number; readonly source: "straight_line_fallback"; readonly reason: string }

/** Distances are reported to the metre. */
export const roundKm = (km: number): number => Math.round(km * 1000) / 1000
