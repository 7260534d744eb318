/**
 * Rate limits on a small HttpApi behind `Authentication`, without a socket and with a Redis that
 * never answers: every decision is the per-replica fallback's (counted), which enforces the same
 * budgets — `RateLimit-*` headers on allowed responses, 429 + `Retry-After` + the common error
 * body past them, one budget per principal, the cap on open streams held until a stream ends.
 */
import { Effect, Layer, Schema, Stream } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiError, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Redis as IORedis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Authenticator } from "../../../src/auth/Authenticator.ts"
import { Authentication, AuthenticationLive } from "../../../src/auth/http.ts"
import { apiRoutes } from "../../../src/http/server.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import { bucketOf, noRateLimits } from "../../../src/ratelimit/config.ts"
import { RateLimitClass } from "../../../src/ratelimit/http.ts"
import { RateLimits } from "../../../src/ratelimit/RateLimits.ts"
import { Redis, type RedisShape } from "../../../src/redis/Redis.ts"

class Items extends HttpApiGroup.make("items")
  .add(HttpApiEndpoint.get("read", "/items", { success: Schema.Struct({ ok: Schema.Boolean }) }))
  .add(HttpApiEndpoint.post("write", "/items", { success: Schema.Struct({ ok: Schema.Boolean }) }))
  .add(
    HttpApiEndpoint.get("missing", "/missing", {
      success: Schema.Struct({ ok: Schema.Boolean }),
      error: HttpApiError.NotFound,
    }),
  )
  .add(
    HttpApiEndpoint.get("watch", "/watch", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/event-stream" })),
    }).annotate(RateLimitClass, "stream"),
  )
  .middleware(Authentication) {}
class TestApi extends HttpApi.make("test").add(Items) {}

const handlers = HttpApiBuilder.group(TestApi, "items", (h) =>
  h
    .handle("read", () => Effect.succeed({ ok: true }))
    .handle("write", () => Effect.succeed({ ok: true }))
    .handle("missing", () => Effect.fail(new HttpApiError.NotFound()))
    .handle("watch", () =>
      Effect.succeed(
        HttpServerResponse.stream(Stream.concat(Stream.make("data: hi\n\n"), Stream.never).pipe(Stream.encodeText), {
          contentType: "text/event-stream",
        }),
      ),
    ),
)

/** A Redis that never connects: `status` stays `wait`. */
const deadRedis = Layer.sync(Redis, () => {
  const client = new IORedis({ lazyConnect: true })
  return { client, keyPrefix: "test:", url: "redis://dead" } as unknown as RedisShape
})

const settings = {
  ...noRateLimits,
  classes: { ...noRateLimits.classes, read: bucketOf(1, 3), write: bucketOf(1, 2) },
  streamsPerPrincipal: 1,
}

const serve = (metrics: Metrics["Service"]) =>
  HttpRouter.toWebHandler(
    apiRoutes(
      TestApi,
      handlers.pipe(
        Layer.provide(AuthenticationLive),
        Layer.provide(
          Authenticator.layerTest({
            alice: { sub: "BUYER-001", roles: ["buyer"], via: "jwt" },
            bob: { sub: "BUYER-002", roles: ["buyer"], via: "jwt" },
            svc: { sub: "requestor", roles: ["service"], via: "jwt" },
          }),
        ),
        Layer.provide(RateLimits.layerWith(settings)),
        Layer.provide(deadRedis),
        Layer.provide(Layer.succeed(Metrics, metrics)),
      ),
    ).pipe(Layer.provide(HttpServer.layerServices)),
    { disableLogger: true },
  )

let metrics: Metrics["Service"]
let app: ReturnType<typeof serve>

beforeAll(async () => {
  metrics = await Effect.runPromise(Metrics.make("test", { defaultMetrics: false }))
  app = serve(metrics)
})

afterAll(async () => {
  await app.dispose()
})

const call = (method: string, path: string, token: string, signal?: AbortSignal) =>
  app.handler(
    new Request(`http://test.local${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(signal === undefined ? {} : { signal }),
    }),
  )

const counter = async (name: string, labels: string) => {
  const body = (await Effect.runPromise(metrics.exposition)).body
  const line = body.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line === undefined ? 0 : Number(line.split(" ").at(-1))
}

describe("rate limits (REST)", () => {
  it("puts the RateLimit headers on allowed responses and answers 429 past the budget", async () => {
    const first = await call("GET", "/items", "alice")
    expect(first.status).toBe(200)
    expect(first.headers.get("ratelimit-limit")).toBe("3")
    expect(first.headers.get("ratelimit-remaining")).toBe("2")
    expect(Number(first.headers.get("ratelimit-reset"))).toBeGreaterThanOrEqual(1)
    expect(first.headers.get("retry-after")).toBeNull()
    await call("GET", "/items", "alice")
    expect((await call("GET", "/items", "alice")).headers.get("ratelimit-remaining")).toBe("0")

    const refused = await call("GET", "/items", "alice")
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect(refused.headers.get("ratelimit-remaining")).toBe("0")
    const body = (await refused.json()) as { error: { code: string; details: Array<{ path: string }> } }
    expect(body.error.code).toBe("rate_limited")
    expect(body.error.details[0]?.path).toBe("rate_limit.read")
    expect(await counter("dcent_rate_limit_refused_total", 'class="read"')).toBe(1)
    // Redis never answered: every decision was the fallback's, counted.
    expect(await counter("dcent_rate_limit_store_fallbacks_total", 'class="read"')).toBe(4)
  })

  it("keeps one budget per principal and per class; the service principal is not limited", async () => {
    expect((await call("GET", "/items", "bob")).status).toBe(200)
    // An allowed request the handler refuses carries the headers too.
    const missing = await call("GET", "/missing", "bob")
    expect(missing.status).toBe(404)
    expect(missing.headers.get("ratelimit-remaining")).toBe("1")
    expect((await call("POST", "/items", "alice")).status).toBe(200)
    expect((await call("POST", "/items", "alice")).status).toBe(200)
    expect((await call("POST", "/items", "alice")).status).toBe(429)
    for (let i = 0; i < 5; i++) {
      const response = await call("GET", "/items", "svc")
      expect(response.status).toBe(200)
      expect(response.headers.get("ratelimit-limit")).toBeNull()
    }
  })

  it("declares the 429 with Retry-After and RateLimit-* in the OpenAPI document", async () => {
    const document = (await (await app.handler(new Request("http://test.local/openapi.json"))).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>>
    }
    const tooMany = document.paths["/items"]?.post?.responses["429"]
    expect(tooMany).toBeDefined()
    expect(Object.keys(tooMany?.headers ?? {})).toEqual(
      expect.arrayContaining(["retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]),
    )
  })

  it("caps the streams a principal holds open, until one ends", async () => {
    const open = new AbortController()
    const first = await call("GET", "/watch", "bob", open.signal)
    expect(first.status).toBe(200)
    const reader = first.body?.getReader()
    await reader?.read()

    const second = await call("GET", "/watch", "bob")
    expect(second.status).toBe(429)
    expect(second.headers.get("retry-after")).toBe("1")
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe("too_many_streams")
    expect(await counter("dcent_rate_limit_refused_total", 'class="concurrent_streams"')).toBe(1)

    open.abort()
    await reader?.cancel().catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 50))
    const third = await call("GET", "/watch", "bob", AbortSignal.timeout(5_000))
    expect(third.status).toBe(200)
    await third.body?.cancel()
  })
})
