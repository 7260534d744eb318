/** The demo orders (`demo/data/orders.json`) are valid registrations and include the seed's ORD-001. */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { loadDemoOrders } from "../../src/orders/demo.ts"

describe("demo orders", () => {
  it("load with the registration schema and include the seed README's ORD-001", async () => {
    const orders = await Effect.runPromise(loadDemoOrders())
    expect(orders.map((order) => order.orderReqId)).toContain("ORD-001")
    expect(orders.find((order) => order.orderReqId === "ORD-001")).toMatchObject({
      sessionId: "SESSION-123",
      notificationType: "GChat",
      location: { lat: 12.9716, lng: 77.5946 },
    })
  })

  it("fail with a message naming the file when it is missing", async () => {
    await expect(Effect.runPromise(loadDemoOrders("/no/such/orders.json"))).rejects.toThrow(/\/no\/such\/orders\.json/)
  })
})
