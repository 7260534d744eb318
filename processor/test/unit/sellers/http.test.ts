/**
 * The `sellers` REST group over the in-memory directory, through the same routes, error
 * rendering and OpenAPI document the processor serves (`apiRoutes`), without a socket.
 */
import { Authenticator } from "@dcent/shared/auth/Authenticator"
import { AuthenticationLive } from "@dcent/shared/auth/http"
import { apiRoutes } from "@dcent/shared/http/server"
import { RedisUnavailable } from "@dcent/shared/redis/errors"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SellersOnlyApi } from "../../../src/sellers/api.ts"
import { SellersHandlers } from "../../../src/sellers/http.ts"
import { SellerDirectory } from "../../../src/sellers/SellerDirectory.ts"

const serve = (directory: Layer.Layer<SellerDirectory>) =>
  HttpRouter.toWebHandler(
    apiRoutes(
      SellersOnlyApi,
      SellersHandlers.pipe(
        Layer.provide(directory),
        Layer.provide(AuthenticationLive.pipe(Layer.provide(Authenticator.layerDisabled))),
      ),
    ).pipe(Layer.provide(HttpServer.layerServices)),
    { disableLogger: true },
  )

const seller = (id: string, extra: Record<string, unknown> = {}) => ({
  SellerID: id,
  Name: `Seller ${id}`,
  Industries: ["Electronics"],
  Location: { Lat: 12.9716, Lng: 77.5946 },
  ...extra,
})

describe("sellers REST group", () => {
  let app: ReturnType<typeof serve>
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await app.handler(
      new Request(`http://processor.test${path}`, {
        method,
        ...(body === undefined
          ? {}
          : {
              body: typeof body === "string" ? body : JSON.stringify(body),
              headers: { "content-type": "application/json" },
            }),
      }),
    )
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
  }

  beforeAll(() => {
    app = serve(SellerDirectory.layerMemory)
  })
  afterAll(async () => {
    await app.dispose()
  })

  it("creates one seller: 201, then 200 when posted again (idempotent)", async () => {
    const first = await call("POST", "/api/v1/sellers", seller("SELLER-001", { Location: [77.5946, 12.9716] }))
    expect(first.status).toBe(201)
    expect(first.body).toEqual({ Created: 1, Updated: 0, Results: [{ SellerID: "SELLER-001", Outcome: "created" }] })

    const again = await call("POST", "/api/v1/sellers", seller("SELLER-001"))
    expect(again.status).toBe(200)
    expect(again.body).toEqual({ Created: 0, Updated: 1, Results: [{ SellerID: "SELLER-001", Outcome: "updated" }] })
  })

  it("accepts an array: 201 when any seller is new", async () => {
    const response = await call("POST", "/api/v1/sellers", [
      seller("SELLER-001"),
      seller("SELLER-002", { Industries: ["Textiles"], Active: false }),
    ])
    expect(response.status).toBe(201)
    expect(response.body).toMatchObject({ Created: 1, Updated: 1 })
  })

  it("gets a seller with Location as {Lat, Lng} and Active defaulted", async () => {
    const response = await call("GET", "/api/v1/sellers/SELLER-001")
    expect(response.status).toBe(200)
    expect(response.body).toEqual({
      SellerID: "SELLER-001",
      Name: "Seller SELLER-001",
      Industries: ["Electronics"],
      Location: { Lat: 12.9716, Lng: 77.5946 },
      Active: true,
    })
  })

  it("answers 404 with the common error body for an unknown seller", async () => {
    const response = await call("GET", "/api/v1/sellers/SELLER-404")
    expect(response.status).toBe(404)
    expect(response.body).toEqual({
      error: {
        code: "seller_not_found",
        message: "no seller SELLER-404 in the directory",
        details: [{ path: "SellerID", problem: "no seller SELLER-404" }],
      },
    })
  })

  it("lists sellers, filtered by industry (case-insensitive) and active", async () => {
    const all = await call("GET", "/api/v1/sellers")
    expect(all.status).toBe(200)
    expect(all.body.Sellers.map((s: { SellerID: string }) => s.SellerID)).toEqual(["SELLER-001", "SELLER-002"])

    const textiles = await call("GET", "/api/v1/sellers?industry=textiles")
    expect(textiles.body.Sellers.map((s: { SellerID: string }) => s.SellerID)).toEqual(["SELLER-002"])

    const active = await call("GET", "/api/v1/sellers?active=true")
    expect(active.body.Sellers.map((s: { SellerID: string }) => s.SellerID)).toEqual(["SELLER-001"])
  })

  it("answers 400 with every problem and its field path for a bad seller", async () => {
    const response = await call(
      "POST",
      "/api/v1/sellers",
      seller("", { Location: { Lat: 91, Lng: 77 }, ChatWebhookURL: "not a url", Email: "nope", Industries: [] }),
    )
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe("invalid_request")
    const paths = response.body.error.details.map((detail: { path: string }) => detail.path)
    expect(paths).toEqual(
      expect.arrayContaining([
        "body.SellerID",
        "body.Industries",
        "body.Location.Lat",
        "body.ChatWebhookURL",
        "body.Email",
      ]),
    )
  })

  it("answers 400 naming the array index of a bad seller in an array", async () => {
    const response = await call("POST", "/api/v1/sellers", [seller("OK-1"), seller("BAD", { Location: [200, 0] })])
    expect(response.status).toBe(400)
    expect(response.body.error.details).toEqual([
      expect.objectContaining({ path: expect.stringMatching(/^body\.?\[1\]\.Location\[0\]$/) }),
    ])
    // Nothing of a rejected request is stored.
    expect((await call("GET", "/api/v1/sellers/OK-1")).status).toBe(404)
  })

  it("answers 400 (never 500) for a body that is not JSON", async () => {
    const response = await call("POST", "/api/v1/sellers", "{not json")
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe("invalid_request")
  })

  it("answers 503 with Retry-After when the directory's Redis is down", async () => {
    const down = serve(
      Layer.succeed(SellerDirectory, {
        upsert: () => Effect.fail(new RedisUnavailable({ url: "redis://127.0.0.1:1", reason: "connection refused" })),
        get: () => Effect.fail(new RedisUnavailable({ url: "redis://127.0.0.1:1", reason: "connection refused" })),
        list: () => Effect.fail(new RedisUnavailable({ url: "redis://127.0.0.1:1", reason: "connection refused" })),
        nearest: () => Effect.fail(new RedisUnavailable({ url: "redis://127.0.0.1:1", reason: "connection refused" })),
      }),
    )
    try {
      const response = await down.handler(new Request("http://processor.test/api/v1/sellers/SELLER-001"))
      expect(response.status).toBe(503)
      expect(response.headers.get("retry-after")).toBe("5")
      expect(await response.json()).toEqual({
        error: {
          code: "unavailable",
          message: "the seller directory is unavailable: connection refused",
          details: [{ path: "redis", problem: "connection refused" }],
        },
      })
    } finally {
      await down.dispose()
    }
  })

  it("documents the three endpoints in the OpenAPI document", async () => {
    const response = await call("GET", "/openapi.json")
    expect(response.status).toBe(200)
    expect(Object.keys(response.body.paths)).toEqual(
      expect.arrayContaining(["/api/v1/sellers", "/api/v1/sellers/{SellerID}"]),
    )
    expect(Object.keys(response.body.paths["/api/v1/sellers"].post.responses)).toEqual(
      expect.arrayContaining(["200", "201", "400", "503"]),
    )
    // Input and stored forms are distinct, named schemas (no `Seller_1`).
    expect(Object.keys(response.body.components.schemas)).toEqual(
      expect.arrayContaining(["Seller", "SellerInput", "LatLng", "GeoJsonPosition", "ErrorBody"]),
    )
    expect(Object.keys(response.body.components.schemas)).not.toContain("Seller_1")
  })
})
