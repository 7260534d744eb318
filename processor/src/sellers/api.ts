/**
 * The seller directory's REST contract (group `sellers`; handlers in `http.ts`):
 *
 *   POST /api/v1/sellers                 one seller or an array of sellers (at most 500)
 *        201 {Created, Updated, Results: [{SellerID, Outcome}]}   at least one seller was new
 *        200 (same body)                                          every seller existed (updated)
 *        400 common error body, one detail per problem with its path (`body.Location.Lat`)
 *   GET  /api/v1/sellers?industry=&active=   200 {Sellers: [...]} ordered by SellerID
 *   GET  /api/v1/sellers/{SellerID}          200 Seller | 404 common error body
 *
 * Redis down → 503 with the common error body and `Retry-After`.
 */
import { Authentication } from "@dcent/shared/auth/http"
import { ErrorBody, ErrorDetail, errorBody } from "@dcent/shared/http/errors"
import { Schema, SchemaTransformation } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ForbiddenResponse } from "../http/errors.ts"
import { Seller, SellerID, StoredSeller } from "./Seller.ts"

/** No seller with this id. */
export class SellerNotInDirectory extends Schema.TaggedError<SellerNotInDirectory>()("SellerNotInDirectory", {
  SellerID: Schema.String,
}) {
  override get message() {
    return `no seller ${this.SellerID} in the directory`
  }
}

/** The directory's store (Redis) cannot be reached. */
export class DirectoryUnavailable extends Schema.TaggedError<DirectoryUnavailable>()("DirectoryUnavailable", {
  reason: Schema.String,
  retryAfterSeconds: Schema.Int,
}) {
  override get message() {
    return `the seller directory is unavailable: ${this.reason}`
  }
}

const sellerNotFoundPrefix = "no seller "

/** 404 with the common error body. */
export const SellerNotInDirectoryResponse = SellerNotInDirectory.pipe(
  Schema.encodeTo(
    ErrorBody,
    SchemaTransformation.transform({
      decode: (body) => ({
        _tag: "SellerNotInDirectory" as const,
        SellerID:
          body.error.details.find((detail) => detail.path === "SellerID")?.problem.slice(sellerNotFoundPrefix.length) ??
          "",
      }),
      encode: (error) =>
        errorBody("seller_not_found", `${sellerNotFoundPrefix}${error.SellerID} in the directory`, [
          { path: "SellerID", problem: `${sellerNotFoundPrefix}${error.SellerID}` },
        ]),
    }),
  ),
  HttpApiSchema.status(404),
)

/** 503 with the common error body and `Retry-After`. */
export const DirectoryUnavailableResponse = DirectoryUnavailable.pipe(
  HttpApiSchema.encodeToWithHeaders(
    { body: ErrorBody.pipe(HttpApiSchema.status(503)), headers: { "retry-after": Schema.NumberFromString } },
    {
      decode: ({ body, headers }) =>
        new DirectoryUnavailable({
          reason: body.error.details[0]?.problem ?? body.error.message,
          retryAfterSeconds: headers["retry-after"],
        }),
      encode: (error) => ({
        body: errorBody("unavailable", error.message, [{ path: "redis", problem: error.reason }]),
        headers: { "retry-after": error.retryAfterSeconds },
      }),
    },
  ),
)

/**
 * A seller that does not pass validation. The shared error rendering answers such requests
 * before the handler runs (400 `invalid_request`, one detail per problem with its path, e.g.
 * `body.Location.Lat`); this schema documents that answer in the OpenAPI document.
 */
export class InvalidSellers extends Schema.TaggedError<InvalidSellers>()("InvalidSellers", {
  message: Schema.String,
  details: Schema.Array(ErrorDetail),
}) {}

export const InvalidSellersResponse = InvalidSellers.pipe(
  Schema.encodeTo(
    ErrorBody,
    SchemaTransformation.transform({
      decode: (body) => ({
        _tag: "InvalidSellers" as const,
        message: body.error.message,
        details: body.error.details,
      }),
      encode: (error) => errorBody("invalid_request", error.message, error.details),
    }),
  ),
  HttpApiSchema.status(400),
)

export const UpsertOutcome = Schema.Literals(["created", "updated"])

export const UpsertSellersResult = Schema.Struct({
  Created: Schema.Int.annotate({ description: "Sellers that were new" }),
  Updated: Schema.Int.annotate({ description: "Sellers that existed and were replaced" }),
  Results: Schema.Array(Schema.Struct({ SellerID: Schema.String, Outcome: UpsertOutcome })),
}).annotate({ identifier: "UpsertSellersResult" })
export type UpsertSellersResult = typeof UpsertSellersResult.Type

const someCreated = Schema.makeFilter((result: UpsertSellersResult) =>
  result.Created > 0 ? undefined : "Expected at least one created seller",
)

export const SellerList = Schema.Struct({ Sellers: Schema.Array(StoredSeller) }).annotate({ identifier: "SellerList" })

/** At most this many sellers per `POST /api/v1/sellers`. */
export const maxSellersPerRequest = 500

export const UpsertSellersPayload = Schema.Union([
  Seller,
  Schema.Array(Seller).check(Schema.isMinLength(1), Schema.isMaxLength(maxSellersPerRequest)),
])

export class SellersApi extends HttpApiGroup.make("sellers")
  .add(
    HttpApiEndpoint.post("upsert", "/api/v1/sellers", {
      payload: UpsertSellersPayload,
      success: [
        UpsertSellersResult.check(someCreated).pipe(HttpApiSchema.status(201)),
        UpsertSellersResult.pipe(HttpApiSchema.status(200)),
      ],
      error: [InvalidSellersResponse, ForbiddenResponse, DirectoryUnavailableResponse],
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Create or replace sellers",
        description:
          "One seller or an array. Idempotent: posting the same seller again replaces it. 201 when at least one " +
          "seller was new, 200 otherwise. `Location` is `{Lat, Lng}` or GeoJSON `[lng, lat]`; `Active` defaults to true.",
      }),
    ),
    HttpApiEndpoint.get("list", "/api/v1/sellers", {
      query: {
        industry: Schema.optionalKey(Schema.String.annotate({ description: "Only sellers of this industry" })),
        active: Schema.optionalKey(
          Schema.Literals(["true", "false"]).annotate({
            description: "Only active (true) or inactive (false) sellers",
          }),
        ),
      },
      success: SellerList,
      error: [ForbiddenResponse, DirectoryUnavailableResponse],
    }).annotateMerge(OpenApi.annotations({ summary: "List sellers, ordered by SellerID" })),
    HttpApiEndpoint.get("get", "/api/v1/sellers/:SellerID", {
      params: { SellerID },
      success: StoredSeller,
      error: [SellerNotInDirectoryResponse, ForbiddenResponse, DirectoryUnavailableResponse],
    }).annotateMerge(OpenApi.annotations({ summary: "One seller" })),
  )
  // Report every problem of a bad seller, not only the first.
  .annotate(HttpApi.PayloadParseOptions, { errors: "all" })
  .annotateMerge(OpenApi.annotations({ title: "Sellers", description: "The seller directory" }))
  // Operators write and list the directory; a seller reads its own entry (`../auth/policy.ts`).
  .middleware(Authentication) {}

/**
 * An API holding only the sellers group, under the processor API's id, so the handlers built
 * against it (`http.ts`) are the ones `ProcessorApi` needs once it `.add(SellersApi)`.
 */
export class SellersOnlyApi extends HttpApi.make("processor").add(SellersApi) {}
