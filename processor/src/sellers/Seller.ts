/**
 * A seller in the processor's directory, as it travels on the wire (PascalCase, as in the spec):
 *
 *   {
 *     "SellerID": "SELLER-001",
 *     "Name": "Acme Traders",
 *     "Industries": ["Electronics"],
 *     "Location": {"Lat": 12.9716, "Lng": 77.5946},      // or GeoJSON order: [77.5946, 12.9716]
 *     "ChatWebhookURL": "https://chat.googleapis.com/v1/spaces/.../messages?key=...&token=...",
 *     "Email": "sales@acme.example",
 *     "Active": true                                      // default true
 *   }
 *
 * Decoding validates every field (problems are reported with their path, e.g. `Location.Lat`)
 * and normalises `Location` to `{Lat, Lng}`; encoding always writes `{Lat, Lng}`.
 */
import { Effect, Schema, SchemaTransformation } from "effect"

const nonBlank = Schema.makeFilter(
  (value: string) => (value.trim() === "" ? "Expected a non-blank string" : undefined),
  {
    toJsonSchema: () => ({ pattern: "\\S" }),
  },
)

/** `SellerID`: 1–128 characters, no whitespace or control characters. */
export const SellerID = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(128),
  Schema.makeFilter(
    (value: string) =>
      // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
      /[\s\u0000-\u001f\u007f]/.test(value) ? "Expected an id without whitespace or control characters" : undefined,
    { toJsonSchema: () => ({ pattern: "^[^\\s\\u0000-\\u001f\\u007f]+$" }) },
  ),
).annotate({ description: "Unique seller id, e.g. SELLER-001", examples: ["SELLER-001"] })

/** An industry name, e.g. `Electronics`; compared case-insensitively (see `industryKey`). */
export const Industry = Schema.String.check(nonBlank, Schema.isMaxLength(100)).annotate({
  description: "Industry name; matched case-insensitively, ignoring surrounding spaces",
  examples: ["Electronics"],
})

/** The key an industry is indexed and matched under: trimmed, lower case. */
export const industryKey = (industry: string): string => industry.trim().toLowerCase()

export const Latitude = Schema.Finite.check(Schema.isBetween({ minimum: -90, maximum: 90 })).annotate({
  description: "Latitude in degrees, -90 to 90",
})
export const Longitude = Schema.Finite.check(Schema.isBetween({ minimum: -180, maximum: 180 })).annotate({
  description: "Longitude in degrees, -180 to 180",
})

/** `{Lat, Lng}` in degrees. */
export const LatLng = Schema.Struct({ Lat: Latitude, Lng: Longitude }).annotate({ identifier: "LatLng" })
export type LatLng = typeof LatLng.Type

/** GeoJSON position order `[lng, lat]`, decoded to `{Lat, Lng}`. */
const GeoJsonPosition = Schema.Tuple([Longitude, Latitude])
  .annotate({ identifier: "GeoJsonPosition", description: "GeoJSON position `[lng, lat]`" })
  .pipe(
    Schema.decodeTo(
      Schema.toType(LatLng),
      SchemaTransformation.transform({
        decode: ([Lng, Lat]) => ({ Lat, Lng }),
        encode: ({ Lat, Lng }) => [Lng, Lat] as const,
      }),
    ),
  )

/** `{Lat, Lng}` or a GeoJSON `[lng, lat]` pair; always `{Lat, Lng}` once decoded. */
export const Location = Schema.Union([LatLng, GeoJsonPosition]).annotate({
  description: "`{Lat, Lng}` in degrees, or a GeoJSON position `[lng, lat]`",
})

/** An absolute http(s) URL. */
export const HttpUrl = Schema.String.check(
  Schema.isMaxLength(2048),
  Schema.makeFilter(
    (value: string) => {
      if (!URL.canParse(value)) return "Expected an absolute URL"
      const { protocol } = new URL(value)
      return protocol === "https:" || protocol === "http:" ? undefined : `Expected an http(s) URL, got ${protocol}//`
    },
    { toJsonSchema: () => ({ format: "uri", pattern: "^https?://[^\\s]+$" }) },
  ),
)

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u

export const Email = Schema.String.check(
  Schema.isMaxLength(254),
  Schema.makeFilter(
    (value: string) => (emailPattern.test(value) ? undefined : "Expected an e-mail address like name@example.com"),
    { toJsonSchema: () => ({ format: "email", pattern: emailPattern.source }) },
  ),
)

export const Seller = Schema.Struct({
  SellerID,
  Name: Schema.String.check(nonBlank, Schema.isMaxLength(200)),
  Industries: Schema.Array(Industry).check(Schema.isMinLength(1), Schema.isMaxLength(50)),
  Location,
  ChatWebhookURL: Schema.optionalKey(
    HttpUrl.annotate({ description: "Google Chat incoming webhook; posted to when an order asks for GChat" }),
  ),
  Email: Schema.optionalKey(Email),
  Active: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true))).annotate({
    description: "Inactive sellers are never selected (default true)",
  }),
}).annotate({
  identifier: "SellerInput",
  description: "A seller as posted: `Location` may be `{Lat, Lng}` or GeoJSON `[lng, lat]`; `Active` defaults to true",
})

export type Seller = typeof Seller.Type
export type SellerEncoded = typeof Seller.Encoded

/** A seller as stored and returned: `Location` is always `{Lat, Lng}`. */
export const StoredSeller = Schema.Struct({
  ...Seller.fields,
  Location: LatLng,
}).annotate({ identifier: "Seller", description: "A seller in the processor's directory" })

export const decodeSeller = Schema.decodeUnknownEffect(Seller)
export const decodeSellerSync = Schema.decodeUnknownSync(Seller)

/** Stored form (JSON string) ↔ `Seller`. */
export const SellerJson = Schema.fromJsonString(StoredSeller)
export const encodeSellerJson = Schema.encodeSync(SellerJson)
export const decodeSellerJson = Schema.decodeUnknownExit(SellerJson)

/** The industry keys of a seller, without duplicates, in the order given. */
export const industryKeys = (seller: Pick<Seller, "Industries">): ReadonlyArray<string> => [
  ...new Set(seller.Industries.map(industryKey)),
]
