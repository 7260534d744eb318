/**
 * The demo sellers (`demo/data/sellers.json`) are valid sellers, and with the demo orders they make
 * the seed README's curl work: SELLER-001 is among ORD-001's nearest sellers of its industry.
 */
import { demoDataPath, loadDemoArray } from "@dcent/shared/demo/demoData"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { loadDemoSellers } from "../../../src/demo/DemoData.ts"
import { SellerDirectory } from "../../../src/sellers/SellerDirectory.ts"

const DemoOrder = Schema.Struct({
  OrderReqID: Schema.String,
  Industry: Schema.String,
  Location: Schema.Struct({ Lat: Schema.Number, Lng: Schema.Number }),
})

describe("demo sellers", () => {
  it("load with the seller schema; SELLER-001 is among ORD-001's three nearest sellers", async () => {
    const sellers = await Effect.runPromise(loadDemoSellers())
    const orders = await Effect.runPromise(loadDemoArray(demoDataPath("orders.json"), DemoOrder))
    const order = orders.find((candidate) => candidate.OrderReqID === "ORD-001")
    expect(order).toBeDefined()
    const nearest = await Effect.runPromise(
      Effect.gen(function* () {
        const directory = yield* SellerDirectory
        return yield* directory.nearest({
          industry: order!.Industry,
          location: { Lat: order!.Location.Lat, Lng: order!.Location.Lng },
          limit: 3,
        })
      }).pipe(Effect.provide(SellerDirectory.layerMemoryWith(sellers))),
    )
    expect(nearest.map((seller) => seller.SellerID)).toContain("SELLER-001")
  })

  it("fail with a message naming the file when it is invalid", async () => {
    await expect(Effect.runPromise(loadDemoSellers(demoDataPath("orders.json")))).rejects.toThrow(
      /invalid demo data in .*orders\.json/,
    )
  })
})
