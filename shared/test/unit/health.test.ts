/**
 * The health endpoints and the common error body, through the real HttpApi stack (as a web
 * handler, no socket) with stub dependency checks.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { TestClock } from "effect/testing"
import { HealthApi } from "../../src/health/api.ts"
import { alive, ready } from "../../src/health/handlers.ts"
import { Readiness, type ReadinessCheck, runCheck } from "../../src/health/Readiness.ts"
import { ErrorBody } from "../../src/http/errors.ts"
import { apiRoutes } from "../../src/http/server.ts"

class EchoApi extends HttpApiGroup.make("echo").add(
  HttpApiEndpoint.post("echo", "/echo", {
    payload: Schema.Struct({ name: Schema.String, quantity: Schema.Int }),
    success: Schema.Struct({ name: Schema.String }),
  }),
) {}

class TestApi extends HttpApi.make("test").add(HealthApi).add(EchoApi) {}

/** Mutable stub dependencies. */
const state = { redis: "up" as "up" | "down" | "hang", kafka: true }

const checks: ReadonlyArray<ReadinessCheck> = [
  {
    name: "kafka",
    check: Effect.suspend(() => (state.kafka ? Effect.void : Effect.fail(new Error("broker unreachable")))),
  },
  {
    name: "redis",
    check: Effect.suspend(() =>
      state.redis === "up"
        ? Effect.void
        : state.redis === "down"
          ? Effect.fail(new Error("connect ECONNREFUSED"))
          : Effect.never,
    ),
  },
]

const HealthHandlers = HttpApiBuilder.group(
  TestApi,
  "health",
  Effect.fn(function* (handlers) {
    const readiness = yield* Readiness
    return handlers.handleAll({ healthz: () => alive, readyz: () => ready(readiness) })
  }),
).pipe(Layer.provide(Layer.succeed(Readiness, Readiness.make(checks, { timeout: "200 millis" }))))

const EchoHandlers = HttpApiBuilder.group(TestApi, "echo", (handlers) =>
  handlers.handle("echo", ({ payload }) => Effect.succeed({ name: payload.name })),
)

const { handler, dispose } = HttpRouter.toWebHandler(
  apiRoutes(TestApi, Layer.mergeAll(HealthHandlers, EchoHandlers)).pipe(Layer.provide(HttpServer.layerServices)),
  { disableLogger: true },
)
afterAll(() => dispose())

const get = (path: string) => handler(new Request(`http://test${path}`))
const decodeErrorBody = Schema.decodeUnknownSync(ErrorBody)

describe("/healthz", () => {
  it("answers 200 {status: ok}", async () => {
    const response = await get("/healthz")
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: "ok" })
  })
})

describe("/readyz", () => {
  it("answers 200 with every check when all dependencies answer", async () => {
    state.redis = "up"
    state.kafka = true
    const response = await get("/readyz")
    expect(response.status).toBe(200)
    const body = (await response.json()) as { status: string; checks: Array<{ name: string; ok: boolean }> }
    expect(body.status).toBe("ready")
    expect(body.checks.map((check) => [check.name, check.ok])).toEqual([
      ["kafka", true],
      ["redis", true],
    ])
  })

  it("answers 503, names the failed dependency and sets Retry-After", async () => {
    state.redis = "down"
    const response = await get("/readyz")
    expect(response.status).toBe(503)
    expect(response.headers.get("retry-after")).toBe("5")
    const body = decodeErrorBody(await response.json())
    expect(body.error.code).toBe("not_ready")
    expect(body.error.message).toBe("not ready: redis unavailable")
    expect(body.error.details).toEqual([{ path: "redis", problem: "connect ECONNREFUSED" }])
  })

  it("bounds a check that does not answer", async () => {
    state.redis = "hang"
    state.kafka = false
    const started = Date.now()
    const response = await get("/readyz")
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(response.status).toBe(503)
    const body = decodeErrorBody(await response.json())
    expect(body.error.details).toEqual([
      { path: "kafka", problem: "broker unreachable" },
      { path: "redis", problem: "no answer within 200ms" },
    ])
  })
})

describe("runCheck", () => {
  it.effect("times a check on the clock and cuts off one that does not answer at the timeout", () =>
    Effect.gen(function* () {
      const slow = yield* Effect.forkChild(runCheck({ name: "slow", check: Effect.sleep("30 millis") }, "200 millis"))
      const hung = yield* Effect.forkChild(runCheck({ name: "hung", check: Effect.never }, "200 millis"))
      yield* TestClock.adjust("30 millis")
      expect(yield* Fiber.join(slow)).toEqual({ name: "slow", ok: true, durationMs: 30 })
      yield* TestClock.adjust("169 millis")
      expect(hung.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(hung)).toEqual({
        name: "hung",
        ok: false,
        problem: "no answer within 200ms",
        durationMs: 200,
      })
    }),
  )
})

describe("common error body", () => {
  it("renders an unknown route as 404 not_found", async () => {
    const response = await get("/nope")
    expect(response.status).toBe(404)
    expect(decodeErrorBody(await response.json()).error.code).toBe("not_found")
  })

  it("renders an invalid request body as 400 invalid_request with one detail per problem", async () => {
    const response = await handler(
      new Request("http://test/echo", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "x", quantity: 1.5 }),
      }),
    )
    expect(response.status).toBe(400)
    const body = decodeErrorBody(await response.json())
    expect(body.error.code).toBe("invalid_request")
    expect(body.error.details).toEqual([{ path: "body.quantity", problem: expect.stringMatching(/integer/i) }])
  })

  it("renders a body not sent as JSON (curl -d without a Content-Type) as 415 unsupported_media_type", async () => {
    for (const contentType of ["application/x-www-form-urlencoded", "text/plain"]) {
      const response = await handler(
        new Request("http://test/echo", {
          method: "POST",
          headers: { "content-type": contentType },
          body: JSON.stringify({ name: "x", quantity: 1 }),
        }),
      )
      expect(response.status, contentType).toBe(415)
      expect(response.headers.get("content-type")).toMatch(/^application\/json/)
      expect(decodeErrorBody(await response.json())).toEqual({
        error: {
          code: "unsupported_media_type",
          message: "send JSON with Content-Type: application/json",
          details: [],
        },
      })
    }
  })
})

describe("API documents", () => {
  it("serves the OpenAPI document with the health paths", async () => {
    const response = await get("/openapi.json")
    expect(response.status).toBe(200)
    const document = (await response.json()) as {
      openapi: string
      paths: Record<string, { get: { responses: Record<string, unknown> } }>
    }
    expect(document.openapi).toMatch(/^3\./)
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/healthz", "/readyz"]))
    expect(Object.keys(document.paths["/readyz"]?.get.responses ?? {})).toEqual(expect.arrayContaining(["200", "503"]))
  })

  it("serves interactive docs at /docs", async () => {
    const response = await get("/docs")
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/text\/html/)
    expect(await response.text()).toMatch(/<html/i)
  })
})
