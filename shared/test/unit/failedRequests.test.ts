/**
 * The shared failure-reporting middleware (`reportingFailures`) through the real HttpApi stack
 * (as a web handler, no socket, with the common error rendering): which failures are published,
 * with which request and order id, and what the client is answered.
 */
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware } from "effect/http-api"
import { afterAll, beforeEach, describe, expect, it } from "vitest"
import { ErrorDetail } from "../../src/http/errors.ts"
import { type FailedRequest, type RequestFailure, reportingFailures } from "../../src/http/failedRequests.ts"
import { apiRoutes } from "../../src/http/server.ts"

const fields = { code: Schema.String, message: Schema.String, details: Schema.Array(ErrorDetail) }

class Invalid extends Schema.TaggedError<Invalid>()("Invalid", fields, { httpApiStatus: 400 }) {}
class Refused extends Schema.TaggedError<Refused>()("Refused", fields, { httpApiStatus: 409 }) {}

class Reporting extends HttpApiMiddleware.Service<Reporting>()("test/Reporting", { error: Invalid }) {}

const OrderReqID = Schema.String.check(Schema.isPattern(/^ORD-\d+$/))

class OrdersGroup extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("create", "/orders", {
      payload: Schema.Struct({ OrderReqID, SessionID: Schema.optionalKey(Schema.String), Quantity: Schema.Int }),
      success: Schema.Struct({ ok: Schema.Boolean }),
      error: Refused,
    }),
    HttpApiEndpoint.put("pause", "/orders/:OrderReqID/pause", {
      params: { OrderReqID },
      payload: Schema.Struct({ Reason: Schema.String }),
      success: Schema.Struct({ ok: Schema.Boolean }),
    }),
    HttpApiEndpoint.delete("cancel", "/orders", {
      query: { OrderReqID },
      success: Schema.Struct({ ok: Schema.Boolean }),
      error: Refused,
    }),
    HttpApiEndpoint.get("get", "/orders/:OrderReqID", {
      params: { OrderReqID },
      success: Schema.Struct({ ok: Schema.Boolean }),
    }),
  )
  .annotate(HttpApi.PayloadParseOptions, { errors: "all" })
  .middleware(Reporting) {}

class TestApi extends HttpApi.make("test").add(OrdersGroup) {}

const published: Array<{
  readonly operation: string
  readonly failure: RequestFailure
  readonly request: FailedRequest
}> = []

const ReportingLive = Layer.succeed(
  Reporting,
  reportingFailures({
    badRequest: (failure) => new Invalid({ code: failure.code, message: failure.message, details: failure.details }),
    failureOf: (error) =>
      error instanceof Refused
        ? { status: 409, code: error.code, message: error.message, details: error.details }
        : undefined,
    orderIdOf: (candidate) => (/^ORD-\d+$/.test(candidate.trim()) ? candidate.trim() : undefined),
    publish: (endpoint, failure, request) =>
      Effect.sync(() => {
        published.push({ operation: endpoint.identifier, failure, request })
      }),
  }),
)

const refused = new Refused({ code: "order_finalised", message: "order is finalised", details: [] })

const OrdersHandlers = HttpApiBuilder.group(TestApi, "orders", (handlers) =>
  handlers
    .handle("create", ({ payload }) => (payload.Quantity > 100 ? Effect.fail(refused) : Effect.succeed({ ok: true })))
    .handle("pause", () => Effect.succeed({ ok: true }))
    .handle("cancel", () => Effect.fail(refused))
    .handle("get", () => Effect.succeed({ ok: true })),
).pipe(Layer.provide(ReportingLive))

const { handler, dispose } = HttpRouter.toWebHandler(
  apiRoutes(TestApi, OrdersHandlers).pipe(Layer.provide(HttpServer.layerServices)),
  { disableLogger: true },
)
afterAll(() => dispose())

const call = async (method: string, path: string, body?: string, contentType = "application/json") => {
  const response = await handler(
    new Request(`http://test${path}`, {
      method,
      ...(body === undefined ? {} : { body, headers: { "content-type": contentType } }),
    }),
  )
  const text = await response.text()
  return { status: response.status, contentType: response.headers.get("content-type"), body: JSON.parse(text) }
}

beforeEach(() => {
  published.length = 0
})

describe("reportingFailures", () => {
  it("turns a schema error into the typed 400 and publishes it with the request as sent", async () => {
    const body = { OrderReqID: "ORD-1", SessionID: "S-1", Quantity: "many" }
    const response = await call("POST", "/orders", JSON.stringify(body))
    expect(response.status).toBe(400)
    expect(response.body).toMatchObject({
      code: "invalid_request",
      message: "the request body is invalid",
      details: [{ path: "body.Quantity", problem: expect.any(String) }],
    })
    expect(published).toEqual([
      {
        operation: "create",
        failure: {
          status: 400,
          code: "invalid_request",
          message: "the request body is invalid",
          details: [{ path: "body.Quantity", problem: expect.any(String) }],
        },
        request: { request: body, orderReqId: "ORD-1", sessionId: "S-1" },
      },
    ])
  })

  it("publishes a malformed JSON body as its raw text, without an order id", async () => {
    const response = await call("POST", "/orders", "{not json")
    expect([response.status, response.body.code]).toEqual([400, "invalid_request"])
    expect(published.map(({ request }) => request)).toEqual([
      { request: "{not json", orderReqId: undefined, sessionId: undefined },
    ])
  })

  it("takes the order id from the path, then from the query", async () => {
    await call("PUT", "/orders/ORD-7/pause", JSON.stringify({ Reason: 42 }))
    const cancel = await call("DELETE", "/orders?OrderReqID=ORD-8")
    expect([cancel.status, cancel.body.code]).toEqual([409, "order_finalised"])
    expect(published.map(({ operation, failure, request }) => [operation, failure.status, request])).toEqual([
      ["pause", 400, { request: { Reason: 42 }, orderReqId: "ORD-7", sessionId: undefined }],
      ["cancel", 409, { request: { OrderReqID: "ORD-8" }, orderReqId: "ORD-8", sessionId: undefined }],
    ])
  })

  it("ignores an order id that is not valid", async () => {
    await call("POST", "/orders", JSON.stringify({ OrderReqID: "not an id", Quantity: 1 }))
    expect(published.map(({ request }) => request.orderReqId)).toEqual([undefined])
  })

  it("publishes the service's own errors it selects, answered unchanged", async () => {
    const response = await call("POST", "/orders", JSON.stringify({ OrderReqID: "ORD-2", Quantity: 101 }))
    expect([response.status, response.body.code]).toEqual([409, "order_finalised"])
    expect(published.map(({ failure }) => failure)).toEqual([
      { status: 409, code: "order_finalised", message: "order is finalised", details: [] },
    ])
  })

  it("publishes a body not sent as JSON (415, the common error body)", async () => {
    const body = { OrderReqID: "ORD-3", Quantity: 1 }
    const response = await call("POST", "/orders", JSON.stringify(body), "application/x-www-form-urlencoded")
    expect(response.status).toBe(415)
    expect(response.contentType).toMatch(/^application\/json/)
    expect(response.body).toEqual({
      error: { code: "unsupported_media_type", message: "send JSON with Content-Type: application/json", details: [] },
    })
    expect(published.map(({ failure, request }) => [failure.status, failure.code, request.orderReqId])).toEqual([
      [415, "unsupported_media_type", "ORD-3"],
    ])
  })

  it("answers a GET's schema error with the typed 400 but publishes nothing", async () => {
    const response = await call("GET", "/orders/nope")
    expect(response.status).toBe(400)
    expect(response.body.details.map((detail: { path: string }) => detail.path)).toEqual(["path.OrderReqID"])
    expect(published).toEqual([])
  })

  it("publishes nothing for a success", async () => {
    const response = await call("POST", "/orders", JSON.stringify({ OrderReqID: "ORD-4", Quantity: 1 }))
    expect(response.status).toBe(200)
    expect(published).toEqual([])
  })
})
