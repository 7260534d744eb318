/**
 * Seller selection for an order (spec: "Processing on the processor", step 2): the active
 * sellers of the order's industry, nearest first, at most `FIND_MAX_SEL`, optionally within
 * `MAX_SELLER_DISTANCE_KM`.
 *
 * Candidates come from the directory by straight-line distance. With a road-distance provider
 * a few extra candidates are fetched and re-ranked by road distance (a road is never shorter
 * than the straight line, so no seller outside the candidates can be nearer by road); without
 * one, or when it fails, the straight-line distance is used and each seller's `DistanceSource`
 * says which (`straight_line`, `road`, `straight_line_fallback` with `DistanceFallbackReason`).
 */
import { Context, Effect, Layer, Option } from "effect"
import { sellersConfig } from "./config.ts"
import { type DistanceSource, type GeoPoint, roundKm } from "./distance.ts"
import { RoadDistance } from "./RoadDistance.ts"
import { type DirectoryError, SellerDirectory } from "./SellerDirectory.ts"

export interface SelectRequest {
  readonly orderReqId: string
  readonly industry: string
  readonly location: GeoPoint
  /** At most this many sellers; default `FIND_MAX_SEL`. */
  readonly maxSellers?: number
  /** Only sellers within this many km; default `MAX_SELLER_DISTANCE_KM` (unset: no limit). */
  readonly maxDistanceKm?: number
}

/** One selected seller, as recorded in the order's `SelectedSellers` and the `SellersSelected` event. */
export interface SelectedSeller {
  readonly SellerID: string
  readonly Name: string
  /** km, rounded to the metre. */
  readonly DistanceKm: number
  readonly DistanceSource: DistanceSource
  /** Why the road distance was not used; only with `straight_line_fallback`. */
  readonly DistanceFallbackReason?: string
  readonly ChatWebhookURL?: string
  readonly Email?: string
}

/** How far a selected seller is, as every message naming it says: km, how measured, why the fallback if used. */
export const distanceOf = (seller: SelectedSeller) => ({
  DistanceKm: seller.DistanceKm,
  DistanceSource: seller.DistanceSource,
  ...(seller.DistanceFallbackReason === undefined ? {} : { DistanceFallbackReason: seller.DistanceFallbackReason }),
})

/** A selected seller without its contact details: what the order stores and `SellersSelected` lists. */
export const withoutContacts = (seller: SelectedSeller) => ({
  SellerID: seller.SellerID,
  Name: seller.Name,
  ...distanceOf(seller),
})

export interface SellerSelectionShape {
  /** Nearest first; an empty array when no seller qualifies. */
  readonly select: (request: SelectRequest) => Effect.Effect<ReadonlyArray<SelectedSeller>, DirectoryError>
}

export interface SellerSelectionOptions {
  /** Default for `maxSellers` (`FIND_MAX_SEL`). */
  readonly findMaxSel: number
  /** Default for `maxDistanceKm` (`MAX_SELLER_DISTANCE_KM`). */
  readonly maxSellerDistanceKm: Option.Option<number>
}

/** How many straight-line candidates to re-rank by road distance for `wanted` sellers. */
export const roadCandidates = (wanted: number): number => wanted + Math.min(50, Math.max(5, wanted))

export const makeSellerSelection = (options: SellerSelectionOptions) =>
  Effect.gen(function* () {
    const directory = yield* SellerDirectory
    const road = yield* RoadDistance

    const select = Effect.fn("Sellers.select")(function* (request: SelectRequest) {
      const maxSellers = Math.floor(request.maxSellers ?? options.findMaxSel)
      const maxDistanceKm = request.maxDistanceKm ?? Option.getOrUndefined(options.maxSellerDistanceKm)
      yield* Effect.annotateCurrentSpan({
        orderReqId: request.orderReqId,
        industry: request.industry,
        maxSellers,
        maxDistanceKm: maxDistanceKm ?? "none",
        roadDistance: road.enabled,
      })
      if (!(maxSellers >= 1)) return []

      const candidates = yield* directory.nearest({
        industry: request.industry,
        location: request.location,
        limit: road.enabled ? roadCandidates(maxSellers) : maxSellers,
        ...(maxDistanceKm === undefined ? {} : { maxDistanceKm }),
      })
      const distances = yield* road.measure(
        request.location,
        candidates.map((seller) => seller.Location),
      )
      const selected = candidates
        .map((seller, index) => ({ seller, distance: distances[index] }))
        .flatMap(({ seller, distance }) => {
          if (distance === undefined || (maxDistanceKm !== undefined && distance.km > maxDistanceKm)) return []
          const entry: SelectedSeller = {
            SellerID: seller.SellerID,
            Name: seller.Name,
            DistanceKm: distance.km,
            DistanceSource: distance.source,
            ...(distance.source === "straight_line_fallback" ? { DistanceFallbackReason: distance.reason } : {}),
            ...(seller.ChatWebhookURL === undefined ? {} : { ChatWebhookURL: seller.ChatWebhookURL }),
            ...(seller.Email === undefined ? {} : { Email: seller.Email }),
          }
          return [entry]
        })
        .sort((a, b) => a.DistanceKm - b.DistanceKm || (a.SellerID < b.SellerID ? -1 : a.SellerID > b.SellerID ? 1 : 0))
        .slice(0, maxSellers)
        .map((entry) => ({ ...entry, DistanceKm: roundKm(entry.DistanceKm) }))

      yield* Effect.annotateCurrentSpan({
        candidates: candidates.length,
        selected: selected.length,
        distanceSources: [...new Set(selected.map((entry) => entry.DistanceSource))].join(","),
      })
      yield* Effect.logDebug("sellers selected").pipe(
        Effect.annotateLogs({
          orderReqId: request.orderReqId,
          industry: request.industry,
          selected: selected
            .map((entry) => `${entry.SellerID}@${entry.DistanceKm}km/${entry.DistanceSource}`)
            .join(" "),
        }),
      )
      return selected
    })

    return SellerSelection.of({ select })
  })

export class SellerSelection extends Context.Service<SellerSelection, SellerSelectionShape>()(
  "dcent/processor/SellerSelection",
) {
  /** Defaults from `FIND_MAX_SEL` and `MAX_SELLER_DISTANCE_KM`. */
  static readonly layer = Layer.effect(
    SellerSelection,
    Effect.gen(function* () {
      const config = yield* sellersConfig
      return yield* makeSellerSelection({
        findMaxSel: config.findMaxSel,
        maxSellerDistanceKm: config.maxSellerDistanceKm,
      })
    }),
  )

  static readonly layerWith = (options: SellerSelectionOptions) =>
    Layer.effect(SellerSelection, makeSellerSelection(options))
}
