/**
 * REST metrics through the real HttpApi stack (as a web handler, no socket): the request
 * histogram carries the route template and the status the error rendering produced, `/metrics`
 * serves the text exposition and is not counted itself.
 */
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { afterAll, describe, expect, it } from "vitest"
import { apiRoutes } from "../../../src/http/server.ts"
import { MetricNames } from "../../../src/metrics/catalogue.ts"
import { MetricsHttpLive } from "../../../src/metrics/http.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"

class ItemsApi extends HttpApiGroup.make("items").add(
  HttpApiEndpoint.get("item", "/api/v1/items/:ItemID", {
    params: { ItemID: Schema.String },
    success: Schema.Struct({ id: Schema.String }),
  }),
) {}

class TestApi extends HttpApi.make("test").add(ItemsApi) {}

const ItemsHandlers = HttpApiBuilder.group(TestApi, "items", (handlers) =>
  handlers.handle("item", ({ params }) => Effect.succeed({ id: params.ItemID })),
)

const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))

const { handler, dispose } = HttpRouter.toWebHandler(
  apiRoutes(TestApi, ItemsHandlers, MetricsHttpLive).pipe(
    Layer.provide(Layer.succeed(Metrics, metrics)),
    Layer.provide(HttpServer.layerServices),
  ),
  { disableLogger: true },
)
afterAll(() => dispose())

const get = (path: string) => handler(new Request(`http://test${path}`))

const requestSamples = async () => {
  const json = await metrics.catalogue.httpRequestDuration.get()
  return json.values
    .filter((value) => value.metricName === `${MetricNames.httpRequestDuration}_count`)
    .map((value) => ({ ...value.labels, count: value.value }))
}

describe("HTTP request metrics", () => {
  it("records the route template (not the raw path), the method and the status", async () => {
    expect((await get("/api/v1/items/A-1")).status).toBe(200)
    expect((await get("/api/v1/items/B-2")).status).toBe(200)
    expect(await requestSamples()).toContainEqual({
      method: "GET",
      route: "/api/v1/items/:ItemID",
      status_code: "200",
      count: 2,
    })
    const routes = (await requestSamples()).map((sample) => sample.route)
    expect(routes.some((route) => String(route).includes("A-1"))).toBe(false)
  })

  it("labels requests no route matched as `unmatched` with the rendered 404", async () => {
    expect((await get("/nowhere/at/all")).status).toBe(404)
    expect(await requestSamples()).toContainEqual({ method: "GET", route: "unmatched", status_code: "404", count: 1 })
  })

  it("leaves no request active once answered", async () => {
    const json = await metrics.catalogue.httpActiveRequests.get()
    expect(json.values.find((value) => value.labels.method === "GET")?.value).toBe(0)
  })

  it("serves /metrics in the Prometheus text format and does not count it", async () => {
    const response = await get("/metrics")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/)
    const body = await response.text()
    expect(body).toContain(`# TYPE ${MetricNames.httpRequestDuration} histogram`)
    expect(body).toMatch(/http_server_request_duration_seconds_count\{[^}]*route="\/api\/v1\/items\/:ItemID"/)
    expect(body).toContain('service="test"')
    await get("/metrics")
    expect((await requestSamples()).some((sample) => String(sample.route).includes("metrics"))).toBe(false)
  })

  it("keeps /metrics out of the OpenAPI document", async () => {
    const document = (await (await get("/openapi.json")).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(document.paths)).not.toContain("/metrics")
  })
})
