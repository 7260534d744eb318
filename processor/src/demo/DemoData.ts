/**
 * Demo data (`DEMO_DATA=true`): registers demo sellers at start-up (idempotent upserts), so the
 * seed README's curl examples work as written. They match the requestor's demo order `ORD-001`
 * (industry Electronics, Bengaluru 12.9716, 77.5946): `SELLER-001` is the nearest seller.
 */
import { Effect, Layer, Schedule } from "effect"
import { ProcessorConfig } from "../config.ts"
import type { Seller } from "../sellers/Seller.ts"
import { SellerDirectory } from "../sellers/SellerDirectory.ts"

export const demoSellers: ReadonlyArray<Seller> = [
  {
    SellerID: "SELLER-001",
    Name: "Bengaluru Electronics Mart",
    Industries: ["Electronics"],
    Location: { Lat: 12.9716, Lng: 77.5946 },
    Email: "sales@seller-001.example",
    Active: true,
  },
  {
    SellerID: "SELLER-002",
    Name: "Whitefield Components",
    Industries: ["Electronics"],
    Location: { Lat: 12.9698, Lng: 77.75 },
    Email: "sales@seller-002.example",
    Active: true,
  },
  {
    SellerID: "SELLER-003",
    Name: "Mysuru Power Systems",
    Industries: ["Electronics", "Electrical"],
    Location: { Lat: 12.2958, Lng: 76.6394 },
    Active: true,
  },
  {
    SellerID: "SELLER-004",
    Name: "Chennai Steel Traders",
    Industries: ["Steel"],
    Location: { Lat: 13.0827, Lng: 80.2707 },
    Active: true,
  },
]

/** Registers the demo sellers in the background once Redis answers (a no-op without `DEMO_DATA`). */
export const DemoDataLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    if (!config.demoData) return
    const directory = yield* SellerDirectory
    yield* Effect.forEach(demoSellers, (seller) => directory.upsert(seller), { discard: true }).pipe(
      Effect.retry(Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")])),
      Effect.tap(() =>
        Effect.logInfo("demo sellers registered").pipe(
          Effect.annotateLogs({ sellers: demoSellers.map((seller) => seller.SellerID).join(",") }),
        ),
      ),
      Effect.forkScoped,
    )
  }),
)
