/**
 * Google Chat webhook posts against a real local HTTP server: success, a 500 that recovers on
 * retry, a hanging server hitting the timeout, the circuit opening after repeated failures, the
 * concurrency bound, and skipped sellers.
 */
import { Effect, Tracer } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import {
  type ChatPostResult,
  type OrderToNotify,
  SellerNotifier,
  type SellerNotifierOptions,
} from "../../../src/notifications/SellerNotifier.ts"
import type { SelectedSeller } from "../../../src/sellers/selectSellers.ts"
import { type FakeServer, startFakeServer } from "../sellers/support.ts"

const servers: Array<FakeServer> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

const start = async (reply?: FakeServer["reply"]) => {
  const server = await startFakeServer(reply)
  servers.push(server)
  return server
}

const order: OrderToNotify = {
  OrderReqID: "ORD-001",
  SessionID: "SESSION-123",
  NotificationType: "GChat",
  Industry: "Electronics",
  Priority: "HIGH",
}

const sellerAt = (id: string, webhook?: string): SelectedSeller => ({
  SellerID: id,
  Name: `Acme ${id}`,
  DistanceKm: 12.345,
  DistanceSource: "road",
  ...(webhook === undefined ? {} : { ChatWebhookURL: webhook }),
})

/** The path and query of a Google Chat webhook (credentials in the query). */
const webhookPath = "/v1/spaces/AAAA/messages?key=secret-key&token=secret-token"

/** Runs `f` with one notifier instance (its breaker lasts for the whole of `f`). */
const withNotifier = <A>(
  options: SellerNotifierOptions,
  f: (notifier: SellerNotifier["Service"]) => Effect.Effect<A>,
): Promise<A> =>
  Effect.runPromise(Effect.flatMap(SellerNotifier, f).pipe(Effect.provide(SellerNotifier.layerWith(options))))

describe("SellerNotifier.postGoogleChat", () => {
  it("posts {text} naming the seller and the order, and reports sent", async () => {
    const server = await start(() => ({ status: 200, json: { name: "spaces/AAAA/messages/1" } }))
    const results = await withNotifier({}, (notifier) =>
      notifier.postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${server.origin}${webhookPath}`)] }),
    )
    expect(results).toEqual([{ SellerID: "SELLER-001", status: "sent" }])
    expect(server.requests).toHaveLength(1)
    const [request] = server.requests
    expect(request?.method).toBe("POST")
    expect(request?.url).toBe(webhookPath)
    expect(request?.headers["content-type"]).toBe("application/json; charset=UTF-8")
    const body = JSON.parse(request?.body ?? "")
    expect(Object.keys(body)).toEqual(["text"])
    expect(body.text).toContain("ORD-001")
    expect(body.text).toContain("SELLER-001")
    expect(body.text).toContain("Acme SELLER-001")
    expect(body.text).toContain("12.3 km (by road)")
  })

  it("retries a 500 and reports sent once the webhook recovers", async () => {
    const server = await start((_, index) => (index < 2 ? { status: 500 } : { status: 200 }))
    const results = await withNotifier({ retries: 2, retryBaseDelay: "10 millis" }, (notifier) =>
      notifier.postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${server.origin}${webhookPath}`)] }),
    )
    expect(results).toEqual([{ SellerID: "SELLER-001", status: "sent" }])
    expect(server.requests).toHaveLength(3)
  })

  it("gives up after the bounded retries with the last reason, never echoing the webhook URL", async () => {
    const server = await start(() => ({ status: 503 }))
    const results = await withNotifier({ retries: 1, retryBaseDelay: "10 millis" }, (notifier) =>
      notifier.postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${server.origin}${webhookPath}`)] }),
    )
    expect(results).toEqual([{ SellerID: "SELLER-001", status: "failed", reason: "HTTP 503" }])
    expect(server.requests).toHaveLength(2)
  })

  it("does not retry a 4xx: the webhook answered", async () => {
    const server = await start(() => ({ status: 404 }))
    const results = await withNotifier({ retries: 3, retryBaseDelay: "10 millis" }, (notifier) =>
      notifier.postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${server.origin}${webhookPath}`)] }),
    )
    expect(results).toEqual([{ SellerID: "SELLER-001", status: "failed", reason: "HTTP 404" }])
    expect(server.requests).toHaveLength(1)
  })

  it("times out a hanging webhook, attempt by attempt, and reports failed", async () => {
    const server = await start(() => "hang")
    const started = Date.now()
    const results = await withNotifier(
      { webhookTimeout: "150 millis", retries: 1, retryBaseDelay: "10 millis" },
      (notifier) =>
        notifier.postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${server.origin}${webhookPath}`)] }),
    )
    expect(results).toEqual([{ SellerID: "SELLER-001", status: "failed", reason: "timed out after 150ms" }])
    expect(server.requests).toHaveLength(2)
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it("opens the circuit after repeated failures and stops calling the webhook host", async () => {
    const server = await start(() => ({ status: 500 }))
    const sellers = Array.from({ length: 6 }, (_, i) => sellerAt(`SELLER-${i}`, `${server.origin}${webhookPath}`))
    const results = await withNotifier(
      { retries: 0, failureThreshold: 3, openDuration: "1 minute", concurrency: 1 },
      (notifier) => notifier.postGoogleChat({ order, sellers }),
    )
    expect(server.requests).toHaveLength(3)
    expect(results.slice(0, 3)).toEqual(
      sellers.slice(0, 3).map((s) => ({ SellerID: s.SellerID, status: "failed", reason: "HTTP 500" })),
    )
    for (const result of results.slice(3)) {
      expect(result).toMatchObject({ status: "failed", reason: expect.stringMatching(/^circuit open \(retry in /) })
    }
  })

  it("runs at most `concurrency` posts at once", async () => {
    const server = await start(() => ({ status: 200, delayMs: 100 }))
    const sellers = Array.from({ length: 10 }, (_, i) => sellerAt(`SELLER-${i}`, `${server.origin}${webhookPath}`))
    const results = await withNotifier({ concurrency: 4 }, (notifier) => notifier.postGoogleChat({ order, sellers }))
    expect(results.map((r) => r.status)).toEqual(Array(10).fill("sent"))
    expect(results.map((r) => r.SellerID)).toEqual(sellers.map((s) => s.SellerID))
    expect(server.maxInFlight()).toBe(4)
  })

  it("bounds concurrency across calls for different orders too", async () => {
    const server = await start(() => ({ status: 200, delayMs: 100 }))
    const sellers = (n: number) =>
      Array.from({ length: 4 }, (_, i) => sellerAt(`SELLER-${n}-${i}`, `${server.origin}${webhookPath}`))
    const results = await withNotifier({ concurrency: 3 }, (notifier) =>
      Effect.all(
        [1, 2, 3].map((n) =>
          notifier.postGoogleChat({ order: { ...order, OrderReqID: `ORD-${n}` }, sellers: sellers(n) }),
        ),
        { concurrency: "unbounded" },
      ),
    )
    expect(results.flat().every((r: ChatPostResult) => r.status === "sent")).toBe(true)
    expect(server.maxInFlight()).toBe(3)
  })

  it("skips sellers without a webhook and orders that do not ask for GChat", async () => {
    const server = await start()
    const results = await withNotifier({}, (notifier) =>
      Effect.all([
        notifier.postGoogleChat({
          order,
          sellers: [sellerAt("SELLER-A"), sellerAt("SELLER-B", `${server.origin}${webhookPath}`)],
        }),
        notifier.postGoogleChat({
          order: { ...order, NotificationType: "Email" },
          sellers: [sellerAt("SELLER-C", `${server.origin}${webhookPath}`)],
        }),
      ]),
    )
    expect(results).toEqual([
      [
        { SellerID: "SELLER-A", status: "skipped", reason: "seller has no ChatWebhookURL" },
        { SellerID: "SELLER-B", status: "sent" },
      ],
      [{ SellerID: "SELLER-C", status: "skipped", reason: "notification type is Email" }],
    ])
    expect(server.requests).toHaveLength(1)
  })

  it("keeps the webhook's key and token out of spans", async () => {
    const server = await start()
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      },
    })
    await withNotifier({}, (notifier) =>
      notifier
        .postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${server.origin}${webhookPath}`)] })
        .pipe(Effect.withTracer(tracer)),
    )
    const attributes = spans.flatMap((span) => [...span.attributes.entries()])
    const full = attributes.find(([name]) => name === "url.full")
    expect(full?.[1]).toMatch(/\?key=REDACTED&token=REDACTED$/)
    expect(JSON.stringify(attributes)).not.toContain("secret-")
  })

  it("reports a refused connection as failed, without the URL", async () => {
    const server = await start()
    const origin = server.origin
    await server.close()
    servers.splice(servers.indexOf(server), 1)
    const results = await withNotifier({ retries: 0 }, (notifier) =>
      notifier.postGoogleChat({ order, sellers: [sellerAt("SELLER-001", `${origin}${webhookPath}`)] }),
    )
    expect(results[0]).toMatchObject({ status: "failed", reason: expect.stringMatching(/^connection failed/) })
    expect(JSON.stringify(results)).not.toContain("secret")
  })
})
