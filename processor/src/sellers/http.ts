/**
 * Handlers of the `sellers` group (contract in `api.ts`). Built against `SellersOnlyApi`, which
 * has the processor API's id, so this layer is what `ProcessorApi` needs once it adds
 * `SellersApi`:
 *
 *   ProcessorApi: HttpApi.make("processor").add(HealthApi).add(SellersApi)
 *   ApiHandlers:  Layer.mergeAll(HealthHandlers, SellersHandlers)   // needs SellerDirectory
 */
import { isTransientRedisFailure } from "@dcent/shared/redis/Redis"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { makeRestAuthorization } from "../auth/http.ts"
import { DirectoryUnavailable, SellerNotInDirectory, SellersOnlyApi, type UpsertSellersResult } from "./api.ts"
import type { Seller } from "./Seller.ts"
import { type DirectoryError, SellerDirectory } from "./SellerDirectory.ts"

/** Seconds a client should wait before retrying when Redis is down. */
export const retryAfterSeconds = 5

/** Redis down or a connection lost mid-command → 503; any other Redis failure is a bug or bad data → 500 (logged). */
const orUnavailable = <A>(effect: Effect.Effect<A, DirectoryError>): Effect.Effect<A, DirectoryUnavailable> =>
  Effect.catch(effect, (error) =>
    isTransientRedisFailure(error)
      ? Effect.fail(new DirectoryUnavailable({ reason: error.reason, retryAfterSeconds }))
      : Effect.die(error),
  )

export const SellersHandlers = HttpApiBuilder.group(
  SellersOnlyApi,
  "sellers",
  Effect.fn(function* (handlers) {
    const directory = yield* SellerDirectory
    const { authorize } = yield* makeRestAuthorization
    return handlers.handleAll({
      upsert: ({ payload }) =>
        Effect.gen(function* () {
          const sellers: ReadonlyArray<Seller> = Array.isArray(payload) ? payload : [payload as Seller]
          // One at a time, in order: a seller listed twice is created, then updated.
          const results = yield* Effect.forEach(sellers, (seller) =>
            directory.upsert(seller).pipe(Effect.map((Outcome) => ({ SellerID: seller.SellerID, Outcome }))),
          )
          const created = results.filter((result) => result.Outcome === "created").length
          yield* Effect.logInfo("sellers upserted").pipe(
            Effect.annotateLogs({ created, updated: results.length - created }),
          )
          return { Created: created, Updated: results.length - created, Results: results } satisfies UpsertSellersResult
        }).pipe(orUnavailable, (upsert) =>
          authorize("POST /api/v1/sellers", "upsertSellers").pipe(Effect.andThen(upsert)),
        ),
      list: ({ query }) =>
        authorize("GET /api/v1/sellers", "listSellers").pipe(
          Effect.andThen(
            directory
              .list({
                ...(query.industry === undefined ? {} : { industry: query.industry }),
                ...(query.active === undefined ? {} : { active: query.active === "true" }),
              })
              .pipe(
                Effect.map((sellers) => ({ Sellers: sellers })),
                orUnavailable,
              ),
          ),
        ),
      get: ({ params }) =>
        authorize("GET /api/v1/sellers/:SellerID", "readSeller", { sellerId: params.SellerID }).pipe(
          Effect.andThen(orUnavailable(directory.get(params.SellerID))),
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(new SellerNotInDirectory({ SellerID: params.SellerID })),
              onSome: Effect.succeed,
            }),
          ),
        ),
    })
  }),
)
