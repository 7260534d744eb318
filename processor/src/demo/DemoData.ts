/**
 * Demo data (`DEMO_DATA=true`): registers the sellers of `demo/data/sellers.json` at start-up
 * (idempotent upserts), so the original dCent README's curl examples work as written on a fresh stack. The
 * requestor registers the matching orders (`demo/data/orders.json`, `ORD-001` has `SELLER-001`
 * among its nearest sellers). `make demo` loads the same files through the REST APIs.
 */
import { demoDataPath, loadDemoArray } from "@dcent/shared/demo/demoData"
import { Effect, Layer, Schedule } from "effect"
import { ProcessorConfig } from "../config.ts"
import { Seller } from "../sellers/Seller.ts"
import { SellerDirectory } from "../sellers/SellerDirectory.ts"

/** The demo sellers (`demo/data/sellers.json`), validated like `POST /api/v1/sellers`. */
export const loadDemoSellers = (path: string = demoDataPath("sellers.json")) => loadDemoArray(path, Seller)

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
