/** Real places for seller tests (WGS 84). */
import type { Seller } from "../../../src/sellers/Seller.ts"

export const places = {
  bangalore: { Lat: 12.9716, Lng: 77.5946 },
  mysore: { Lat: 12.2958, Lng: 76.6394 },
  chennai: { Lat: 13.0827, Lng: 80.2707 },
  hyderabad: { Lat: 17.385, Lng: 78.4867 },
  mumbai: { Lat: 19.076, Lng: 72.8777 },
  delhi: { Lat: 28.6139, Lng: 77.209 },
  london: { Lat: 51.5074, Lng: -0.1278 },
  paris: { Lat: 48.8566, Lng: 2.3522 },
} as const

export type Place = keyof typeof places

export const seller = (
  id: string,
  place: Place,
  industries: ReadonlyArray<string> = ["Electronics"],
  extra: Partial<Seller> = {},
): Seller => ({
  SellerID: id,
  Name: `Seller ${id}`,
  Industries: industries,
  Location: places[place],
  Active: true,
  ...extra,
})

/** One electronics seller in each Indian city, plus an inactive one in Bangalore itself. */
export const indianSellers: ReadonlyArray<Seller> = [
  seller("S-DELHI", "delhi"),
  seller("S-MUMBAI", "mumbai"),
  seller("S-CHENNAI", "chennai"),
  seller("S-HYDERABAD", "hyderabad"),
  seller("S-MYSORE", "mysore"),
  seller("S-BANGALORE", "bangalore", ["electronics", "Textiles"]),
  seller("S-BANGALORE-INACTIVE", "bangalore", ["Electronics"], { Active: false }),
  seller("S-TEXTILES-MUMBAI", "mumbai", ["Textiles"]),
]

/** From Bangalore, by straight line: the order every directory must return for electronics. */
export const electronicsFromBangalore = ["S-BANGALORE", "S-MYSORE", "S-CHENNAI", "S-HYDERABAD", "S-MUMBAI", "S-DELHI"]
