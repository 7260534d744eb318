import { Effect, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { describe, expect, it } from "vitest"
import {
  googleChatText,
  makeSellerNotifier,
  type OrderToNotify,
  SellerNotifier,
  sellerNotifyEntries,
} from "../../../src/notifications/SellerNotifier.ts"
import type { SelectedSeller } from "../../../src/sellers/selectSellers.ts"

const order: OrderToNotify = {
  OrderReqID: "ORD-001",
  SessionID: "SESSION-123",
  NotificationType: "GChat",
  Industry: "Electronics",
  Priority: "HIGH",
}

const sellers: ReadonlyArray<SelectedSeller> = [
  { SellerID: "SELLER-001", Name: "Acme", DistanceKm: 3.456, DistanceSource: "road" },
  {
    SellerID: "SELLER-002",
    Name: "Bolt",
    DistanceKm: 290.2,
    DistanceSource: "straight_line_fallback",
    DistanceFallbackReason: "timed out after 2s",
    ChatWebhookURL: "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
  },
]

const event = {
  eventId: "0b7c8f0e-1111-4222-8333-944445555666",
  seq: 2,
  occurredAt: "2030-01-02T03:04:05.000Z",
  status: "SellersSelected" as const,
}

describe("SELLER_NOTIFY outbox entries", () => {
  const entries = sellerNotifyEntries({ order, sellers, event })

  it("builds one entry per seller, keyed by the OrderReqID, in the sellers' order", () => {
    expect(entries).toHaveLength(2)
    expect(entries.map((e) => [e.topic, e.key])).toEqual([
      ["SELLER_NOTIFY", "ORD-001"],
      ["SELLER_NOTIFY", "ORD-001"],
    ])
  })

  it("carries the spec's payload and headers, with a stable per-seller EventID", () => {
    const [first, second] = entries
    expect(JSON.parse(first!.payload)).toEqual({
      EventID: `${event.eventId}:SELLER-001`,
      OrderReqID: "ORD-001",
      SessionID: "SESSION-123",
      Key: "PRP_REQUEST",
      Message: expect.stringContaining("ORD-001"),
      Timestamp: event.occurredAt,
      Seq: 2,
      Status: "SellersSelected",
      SellerID: "SELLER-001",
      SellerName: "Acme",
      DistanceKm: 3.456,
      DistanceSource: "road",
      Industry: "Electronics",
      Priority: "HIGH",
      NotificationType: "GChat",
    })
    expect(first!.headers).toMatchObject({ "event-type": "PRP_REQUEST", "event-id": `${event.eventId}:SELLER-001` })
    expect(JSON.parse(second!.payload)).toMatchObject({
      EventID: `${event.eventId}:SELLER-002`,
      SellerID: "SELLER-002",
      DistanceSource: "straight_line_fallback",
      DistanceFallbackReason: "timed out after 2s",
    })
    // Built again, the entries are the same (the outbox may rebuild them on a retried commit).
    expect(sellerNotifyEntries({ order, sellers, event })).toEqual(entries)
  })

  it("never puts a seller's webhook URL in a message", () => {
    expect(entries.map((e) => e.payload).join("")).not.toContain("chat.googleapis.com")
  })

  it("is what the service's notifySelected returns", async () => {
    const viaService = await Effect.runPromise(
      Effect.flatMap(SellerNotifier, (notifier) => notifier.notifySelected({ order, sellers, event })).pipe(
        Effect.provide(SellerNotifier.layer),
      ),
    )
    expect(viaService).toEqual(entries)
  })

  it("is empty for no sellers", () => {
    expect(sellerNotifyEntries({ order, sellers: [], event })).toEqual([])
  })
})

describe("Google Chat text", () => {
  it("names the seller and the order", () => {
    const text = googleChatText(order, sellers[0]!)
    expect(text).toContain("*New order request ORD-001*")
    expect(text).toContain("Acme (SELLER-001)")
    expect(text).toContain("Priority: HIGH")
    expect(text).toContain("3.46 km (by road)")
  })
})

describe("SellerNotifier.postGoogleChat without a network", () => {
  const notifierWith = (status: number) =>
    Layer.effect(SellerNotifier, makeSellerNotifier({ retries: 0 })).pipe(
      Layer.provide(
        Layer.succeed(
          HttpClient.HttpClient,
          HttpClient.make((req) => Effect.succeed(HttpClientResponse.fromWeb(req, new Response(null, { status })))),
        ),
      ),
    )

  const post = (status: number, input: Parameters<SellerNotifier["Service"]["postGoogleChat"]>[0]) =>
    Effect.runPromise(
      Effect.flatMap(SellerNotifier, (notifier) => notifier.postGoogleChat(input)).pipe(
        Effect.provide(notifierWith(status)),
      ),
    )

  it("reports sent, failed with a reason, and skipped per seller", async () => {
    expect(await post(200, { order, sellers })).toEqual([
      { SellerID: "SELLER-001", status: "skipped", reason: "seller has no ChatWebhookURL" },
      { SellerID: "SELLER-002", status: "sent" },
    ])
    expect(await post(400, { order, sellers })).toEqual([
      { SellerID: "SELLER-001", status: "skipped", reason: "seller has no ChatWebhookURL" },
      { SellerID: "SELLER-002", status: "failed", reason: "HTTP 400" },
    ])
    expect(await post(200, { order: { ...order, NotificationType: "SMS" }, sellers })).toEqual([
      { SellerID: "SELLER-001", status: "skipped", reason: "notification type is SMS" },
      { SellerID: "SELLER-002", status: "skipped", reason: "notification type is SMS" },
    ])
  })
})
