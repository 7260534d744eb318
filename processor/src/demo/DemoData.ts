/**
 * Demo data (`DEMO_DATA=true`): registers the sellers of `demo/data/sellers.json` at start-up
 * (idempotent upserts), so the seed README's curl examples work as written on a fresh stack. The
 * requestor registers the matching orders (`demo/data/orders.json`, `ORD-001` has `SELLER-001`
 * among its nearest sellers). `make demo` loads the same files through the REST APIs.
 */
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { Effect, Layer, Schedule, Schema } from "effect"
import { ProcessorConfig } from "../config.ts"
import { Seller } from "../sellers/Seller.ts"
import { SellerDirectory } from "../sellers/SellerDirectory.ts"

/** `demo/data/sellers.json` at the repository root. */
export const demoSellersPath = fileURLToPath(new URL("../../../demo/data/sellers.json", import.meta.url))

const decodeSellers = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Array(Seller)))

/** The demo sellers, validated like `POST /api/v1/sellers`. */
export const loadDemoSellers = (path: string = demoSellersPath): Effect.Effect<ReadonlyArray<Seller>, Error> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) => new Error(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`),
  }).pipe(
    Effect.flatMap((text) =>
      decodeSellers(text).pipe(
        Effect.mapError((error) => new Error(`invalid demo sellers in ${path}: ${error.message}`)),
      ),
    ),
  )

/** Registers the demo sellers in the background once Redis answers (a no-op without `DEMO_DATA`). */
export const DemoDataLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    if (!config.demoData) return
    const directory = yield* SellerDirectory
    yield* loadDemoSellers().pipe(
      Effect.flatMap((sellers) =>
        Effect.forEach(sellers, (seller) => directory.upsert(seller), { discard: true }).pipe(
          Effect.retry(Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")])),
          Effect.as(sellers),
        ),
      ),
      Effect.tap((sellers) =>
        Effect.logInfo("demo sellers registered").pipe(
          Effect.annotateLogs({ sellers: sellers.map((seller) => seller.SellerID).join(",") }),
        ),
      ),
      Effect.catchCause((cause) => Effect.logError("demo sellers not registered", cause)),
      Effect.forkScoped,
    )
  }),
)
