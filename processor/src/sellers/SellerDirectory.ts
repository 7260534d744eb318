/**
 * The processor's seller directory.
 *
 * Redis layout (under the processor's key prefix), all in one hash slot (tag `{sellers}`, see
 * `@dcent/shared/redis/keys`: the upsert script and the pipelined reads span several keys):
 *
 *   seller:{sellers}:<SellerID>            hash  data = seller JSON, industries = JSON array of industry keys
 *   sellers:{sellers}:ids                  set   every SellerID
 *   sellers:{sellers}:industry:<industry>  set   SellerIDs listing the industry (active or not)
 *   sellers:{sellers}:geo:<industry>       GEO   active sellers of the industry at their location
 *
 * Industry keys are the industry trimmed and lower-cased (`industryKey`), so `Electronics`
 * and `electronics ` are one industry. An upsert rewrites all of a seller's entries in one Lua
 * script, atomically: a seller that moves out of an industry leaves that industry's sets, an
 * inactive seller leaves the GEO sets. `nearest` asks the industry's GEO set for the nearest
 * members (GEOSEARCH … ASC COUNT), re-reads each seller, drops any that is no longer active or
 * no longer in the industry, measures straight-line distance with `haversineKm` (so the Redis
 * and in-memory directories agree to the metre), and asks for more when it dropped some.
 *
 * Redis GEO indexes latitudes within ±85.05112878°; sellers (and orders) beyond that are
 * indexed at the nearest indexable latitude, and their distances are still exact.
 */

import type { RedisError, RedisUnavailable } from "@dcent/shared/redis/errors"
import { RedisError as RedisCommandError } from "@dcent/shared/redis/errors"
import { nameTag } from "@dcent/shared/redis/keys"
import { Redis } from "@dcent/shared/redis/Redis"
import { Context, Effect, Exit, Layer, Option, Ref } from "effect"
import { type GeoPoint, haversineKm, maxSurfaceDistanceKm } from "./distance.ts"
import { decodeSellerJson, encodeSellerJson, industryKey, industryKeys, type Seller } from "./Seller.ts"

export type UpsertOutcome = "created" | "updated"

export interface ListFilter {
  /** Only sellers listing this industry (case-insensitive). */
  readonly industry?: string
  /** Only active (`true`) or inactive (`false`) sellers. */
  readonly active?: boolean
}

export interface NearestQuery {
  readonly industry: string
  readonly location: GeoPoint
  /** At most this many sellers (≥ 1). */
  readonly limit: number
  /** Only sellers within this straight-line distance. */
  readonly maxDistanceKm?: number
}

/** A seller with its straight-line distance from the query location, in km (unrounded). */
export type NearbySeller = Seller & { readonly distanceKm: number }

export type DirectoryError = RedisUnavailable | RedisError

export interface SellerDirectoryShape {
  /** Creates or replaces the seller with this `SellerID`; idempotent. */
  readonly upsert: (seller: Seller) => Effect.Effect<UpsertOutcome, DirectoryError>
  readonly get: (sellerId: string) => Effect.Effect<Option.Option<Seller>, DirectoryError>
  /** Sellers matching `filter`, ordered by `SellerID`. */
  readonly list: (filter?: ListFilter) => Effect.Effect<ReadonlyArray<Seller>, DirectoryError>
  /**
   * Active sellers of `industry`, nearest first by straight-line distance (ties by `SellerID`),
   * at most `limit`, within `maxDistanceKm` when given.
   */
  readonly nearest: (query: NearestQuery) => Effect.Effect<ReadonlyArray<NearbySeller>, DirectoryError>
}

/** Nearest first; equal distances by `SellerID`, so both directories order ties alike. */
export const byDistance = (a: NearbySeller, b: NearbySeller): number =>
  a.distanceKm - b.distanceKm || (a.SellerID < b.SellerID ? -1 : a.SellerID > b.SellerID ? 1 : 0)

const bySellerId = (a: Seller, b: Seller) => (a.SellerID < b.SellerID ? -1 : a.SellerID > b.SellerID ? 1 : 0)

const matches = (seller: Seller, filter: ListFilter | undefined) =>
  (filter?.active === undefined || seller.Active === filter.active) &&
  (filter?.industry === undefined || industryKeys(seller).includes(industryKey(filter.industry)))

const present = (sellers: ReadonlyArray<Seller | undefined>): Array<Seller> =>
  sellers.flatMap((seller) => (seller === undefined ? [] : [seller]))

const validLimit = (limit: number) => (Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0)

/** The in-memory directory's answer to `nearest`; the Redis directory must agree with it. */
const nearestOf = (sellers: Iterable<Seller>, query: NearestQuery): ReadonlyArray<NearbySeller> => {
  const key = industryKey(query.industry)
  const max = query.maxDistanceKm ?? Number.POSITIVE_INFINITY
  const found: Array<NearbySeller> = []
  for (const seller of sellers) {
    if (!seller.Active || !industryKeys(seller).includes(key)) continue
    const distanceKm = haversineKm(query.location, seller.Location)
    if (distanceKm <= max) found.push({ ...seller, distanceKm })
  }
  return found.sort(byDistance).slice(0, validLimit(query.limit))
}

// Redis GEO cannot index the polar caps.
const maxGeoLatitude = 85.05112878
const geoLat = (lat: number) => Math.max(-maxGeoLatitude, Math.min(maxGeoLatitude, lat))

/** Rewrites a seller's hash and index entries atomically. Returns 1 when created, 0 when updated. */
const upsertScript = `
local prefix, id, data, keysJson, active, lng, lat = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local old = redis.call('HGET', KEYS[1], 'industries')
local newKeys = cjson.decode(keysJson)
local keep = {}
for _, k in ipairs(newKeys) do keep[k] = true end
if old then
  for _, k in ipairs(cjson.decode(old)) do
    if not keep[k] then
      redis.call('SREM', prefix .. 'sellers:{sellers}:industry:' .. k, id)
      redis.call('ZREM', prefix .. 'sellers:{sellers}:geo:' .. k, id)
    end
  end
end
for _, k in ipairs(newKeys) do
  redis.call('SADD', prefix .. 'sellers:{sellers}:industry:' .. k, id)
  if active == '1' then
    redis.call('GEOADD', prefix .. 'sellers:{sellers}:geo:' .. k, lng, lat, id)
  else
    redis.call('ZREM', prefix .. 'sellers:{sellers}:geo:' .. k, id)
  end
end
redis.call('HSET', KEYS[1], 'data', data, 'industries', keysJson)
redis.call('SADD', KEYS[2], id)
if old then return 0 end
return 1
`

/** The directory's hash tag (the upsert script builds the industry keys with it too). */
const directoryTag = nameTag("sellers")
export const sellerKey = (sellerId: string) => `seller:${directoryTag}:${sellerId}`
export const sellerIdsKey = `sellers:${directoryTag}:ids`
export const industrySetKey = (industry: string) => `sellers:${directoryTag}:industry:${industryKey(industry)}`
export const geoKey = (industry: string) => `sellers:${directoryTag}:geo:${industryKey(industry)}`

/** How many GEO members to ask for per wanted seller on the first search. */
const overfetch = 2

const makeRedis = Effect.gen(function* () {
  const redis = yield* Redis

  /** Reads sellers by id, in order; missing or unreadable ones are `undefined`. */
  const load = (ids: ReadonlyArray<string>) =>
    ids.length === 0
      ? Effect.succeed<ReadonlyArray<Seller | undefined>>([])
      : redis
          .use("HGET seller", (client) => {
            const pipeline = client.pipeline()
            for (const id of ids) pipeline.hget(sellerKey(id), "data")
            return pipeline.exec()
          })
          .pipe(
            Effect.flatMap((results) =>
              Effect.forEach(results ?? [], ([error, value], index) => {
                const id = ids[index]
                if (error !== null) {
                  return Effect.fail(new RedisCommandError({ command: "HGET seller", reason: error.message }))
                }
                if (typeof value !== "string") return Effect.succeed(undefined)
                const decoded = decodeSellerJson(value)
                if (Exit.isSuccess(decoded)) return Effect.succeed(decoded.value)
                return Effect.logWarning("unreadable seller record skipped").pipe(
                  Effect.annotateLogs({ sellerId: id, key: sellerKey(id ?? "") }),
                  Effect.as(undefined),
                )
              }),
            ),
          )

  const upsert = Effect.fn("SellerDirectory.upsert")(function* (seller: Seller) {
    yield* Effect.annotateCurrentSpan({ sellerId: seller.SellerID })
    const created = yield* redis.use("EVAL seller upsert", (client) =>
      client.eval(
        upsertScript,
        2,
        sellerKey(seller.SellerID),
        sellerIdsKey,
        redis.keyPrefix,
        seller.SellerID,
        encodeSellerJson(seller),
        JSON.stringify(industryKeys(seller)),
        seller.Active ? "1" : "0",
        String(seller.Location.Lng),
        String(geoLat(seller.Location.Lat)),
      ),
    )
    return created === 1 ? ("created" as const) : ("updated" as const)
  })

  const get = Effect.fn("SellerDirectory.get")(function* (sellerId: string) {
    const [seller] = yield* load([sellerId])
    return Option.fromNullishOr(seller)
  })

  const list = Effect.fn("SellerDirectory.list")(function* (filter?: ListFilter) {
    const ids = yield* redis.use("SMEMBERS", (client) =>
      client.smembers(filter?.industry === undefined ? sellerIdsKey : industrySetKey(filter.industry)),
    )
    const sellers = yield* load(ids)
    return present(sellers)
      .filter((seller) => matches(seller, filter))
      .sort(bySellerId)
  })

  const nearest = Effect.fn("SellerDirectory.nearest")(function* (query: NearestQuery) {
    const limit = validLimit(query.limit)
    yield* Effect.annotateCurrentSpan({ industry: query.industry, limit })
    if (limit === 0) return []
    const key = industryKey(query.industry)
    const maxKm = query.maxDistanceKm ?? maxSurfaceDistanceKm
    // Redis measures on a slightly different sphere; search a little wider and filter exactly below.
    const radiusKm = maxKm * 1.001 + 0.01
    let count = limit * overfetch
    for (;;) {
      const ids = (yield* redis.use("GEOSEARCH", (client) =>
        client.geosearch(
          geoKey(key),
          "FROMLONLAT",
          query.location.Lng,
          geoLat(query.location.Lat),
          "BYRADIUS",
          radiusKm,
          "km",
          "ASC",
          "COUNT",
          count,
        ),
      )) as Array<string>
      const sellers = yield* load(ids)
      const found = nearestOf(present(sellers), { ...query, limit })
      // Enough sellers, or the GEO set has no more members in range.
      if (found.length >= limit || ids.length < count) return found
      count *= 2
    }
  })

  return SellerDirectory.of({ upsert, get, list, nearest })
})

const makeMemory = (initial: ReadonlyArray<Seller>) =>
  Effect.gen(function* () {
    const state = yield* Ref.make(new Map(initial.map((seller) => [seller.SellerID, seller])))
    return SellerDirectory.of({
      upsert: (seller) =>
        Ref.modify(state, (sellers): [UpsertOutcome, Map<string, Seller>] => [
          sellers.has(seller.SellerID) ? "updated" : "created",
          new Map(sellers).set(seller.SellerID, seller),
        ]),
      get: (sellerId) => Ref.get(state).pipe(Effect.map((sellers) => Option.fromNullishOr(sellers.get(sellerId)))),
      list: (filter) =>
        Ref.get(state).pipe(
          Effect.map((sellers) => [...sellers.values()].filter((seller) => matches(seller, filter)).sort(bySellerId)),
        ),
      nearest: (query) => Ref.get(state).pipe(Effect.map((sellers) => nearestOf(sellers.values(), query))),
    })
  })

export class SellerDirectory extends Context.Service<SellerDirectory, SellerDirectoryShape>()(
  "dcent/processor/SellerDirectory",
) {
  /** The Redis directory (uses the `Redis` service's key prefix). */
  static readonly layer: Layer.Layer<SellerDirectory, never, Redis> = Layer.effect(SellerDirectory, makeRedis)

  /** An in-memory directory for tests of callers; same ordering and filtering as the Redis one. */
  static readonly layerMemory: Layer.Layer<SellerDirectory> = Layer.effect(SellerDirectory, makeMemory([]))

  /** An in-memory directory holding `sellers` to begin with. */
  static readonly layerMemoryWith = (sellers: ReadonlyArray<Seller>): Layer.Layer<SellerDirectory> =>
    Layer.effect(SellerDirectory, makeMemory(sellers))
}
