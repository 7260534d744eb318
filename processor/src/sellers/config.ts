/**
 * Settings of seller selection, read from the environment. A bad value fails with a
 * `ConfigError` naming the variable (`formatConfigError` turns it into one line).
 *
 * - `FIND_MAX_SEL` (10): sellers selected per order.
 * - `MAX_SELLER_DISTANCE_KM` (unset = no limit): only sellers within this distance are selected.
 * - `DISTANCE_API_URL` (unset = straight-line only): road-distance provider, see `RoadDistance.ts`.
 * - `DISTANCE_API_TIMEOUT_MS` (2000): bound on one call to the road-distance provider.
 *
 * An empty value (`DISTANCE_API_URL=`) counts as unset, as compose files often write it.
 */
import { positiveInt } from "@dcent/shared/config/env"
import { Config, Option, Schema } from "effect"

const PositiveFinite = Schema.Finite.check(Schema.isGreaterThan(0))

const HttpUrlString = Schema.String.check(
  Schema.makeFilter((value: string) => {
    if (!URL.canParse(value))
      return "Expected an absolute http:// or https:// URL (e.g. http://127.0.0.1:8090/distances)"
    const { protocol } = new URL(value)
    return protocol === "http:" || protocol === "https:"
      ? undefined
      : `Expected a URL starting with http:// or https://, got ${protocol}//`
  }),
)

/** An optional variable; unset or empty is `None`, anything else must satisfy `schema`. */
const optional = <A>(name: string, schema: Schema.Codec<A, string>): Config.Config<Option.Option<A>> =>
  Config.option(Config.String(name)).pipe(
    Config.flatMap((raw) =>
      Option.isNone(raw) || raw.value.trim() === ""
        ? Config.succeed(Option.none())
        : Config.schema(schema, name).pipe(Config.map(Option.some)),
    ),
  )

export const sellersConfig = Config.all({
  /** `FIND_MAX_SEL` (10): sellers selected per order. */
  findMaxSel: positiveInt("FIND_MAX_SEL", 10),
  /** `MAX_SELLER_DISTANCE_KM`: only sellers within this many km; `None` = no limit. */
  maxSellerDistanceKm: optional(
    "MAX_SELLER_DISTANCE_KM",
    Schema.NumberFromString.pipe(Schema.decodeTo(PositiveFinite)),
  ),
  /** `DISTANCE_API_URL`: the road-distance provider; `None` = straight-line distances only. */
  distanceApiUrl: optional("DISTANCE_API_URL", HttpUrlString),
  /** `DISTANCE_API_TIMEOUT_MS` (2000): bound on one call to the road-distance provider. */
  distanceApiTimeoutMs: positiveInt("DISTANCE_API_TIMEOUT_MS", 2000),
})

export type SellersConfig = Config.Success<typeof sellersConfig>
