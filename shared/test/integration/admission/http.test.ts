/**
 * REST admission control on a real server (`serveApi`, Node's HTTP server on a free port), with
 * the whole middleware stack of the services: with the bound at N, N + k concurrent slow requests
 * get k answers 503 `overloaded` + `Retry-After` while the N are still held (so at once, without
 * doing their work); the probes and `/metrics` still answer; afterwards the server answers
 * normally. A second server shows the wait queue: a queued request is served once a slot frees.
 */
import { Duration, Effect, Exit, Layer, Schema, Scope } from "effect"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { afterEach, describe, expect, it } from "vitest"
import { freePort } from "../../../../test/support/ports.ts"
import type { HttpAdmissionLimits } from "../../../src/admission/config.ts"
import { serveApi } from "../../../src/http/server.ts"
import { MetricsHttpLive } from "../../../src/metrics/http.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

class SlowApi extends HttpApiGroup.make("slow").add(
  HttpApiEndpoint.get("slow", "/api/v1/slow", { success: Schema.Struct({ ok: Schema.Boolean }) }),
) {}
class HealthApi extends HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("healthz", "/healthz", { success: Schema.Struct({ status: Schema.String }) }),
) {}
class TestApi extends HttpApi.make("admission-test").add(SlowApi).add(HealthApi) {}

/** Holds `/api/v1/slow` requests until `open()`; counts the ones whose handler ran. */
const makeGate = () => {
  let open = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  let started = 0
  const waiters: Array<{ count: number; resolve: () => void }> = []
  return {
    open,
    started: () => started,
    /** Resolves once `count` handlers have started. */
    reached: (count: number) =>
      new Promise<void>((resolve) => {
        if (started >= count) resolve()
        else waiters.push({ count, resolve })
      }),
    handler: Effect.promise(async () => {
      started += 1
      for (const waiter of waiters.filter((w) => started >= w.count)) waiter.resolve()
      await opened
      return { ok: true }
    }),
  }
}

interface Running {
  readonly url: string
  readonly gate: ReturnType<typeof makeGate>
  readonly metrics: () => Promise<string>
}

const scopes: Array<Scope.Closeable> = []
afterEach(async () => {
  for (const scope of scopes.splice(0)) await Effect.runPromise(Scope.close(scope, Exit.void))
})

const start = async (admission: HttpAdmissionLimits): Promise<Running> => {
  const gate = makeGate()
  const port = await freePort()
  const handlers = Layer.mergeAll(
    HttpApiBuilder.group(TestApi, "slow", (h) => h.handle("slow", () => gate.handler)),
    HttpApiBuilder.group(TestApi, "health", (h) => h.handle("healthz", () => Effect.succeed({ status: "ok" }))),
  )
  const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
  const scope = Effect.runSync(Scope.make())
  scopes.push(scope)
  await Effect.runPromise(
    Layer.build(
      serveApi(TestApi, handlers, { host: "127.0.0.1", port, admission, shutdownTimeout: "1 second" }, MetricsHttpLive),
    ).pipe(Effect.provide(Layer.succeed(Metrics, metrics)), Scope.provide(scope)),
  )
  return { url: `http://127.0.0.1:${port}`, gate, metrics: () => metrics.registry.metrics() }
}

const limits = (overrides: Partial<HttpAdmissionLimits>): HttpAdmissionLimits => ({
  maxInFlight: 4,
  // A fixed bound here; the adaptive one is unit-tested (`Limiter.test.ts`, `vegasLimit.test.ts`).
  adaptive: false,
  minInFlight: 1,
  maxQueue: 0,
  queueTimeout: Duration.seconds(5),
  retryAfterSeconds: 2,
  ...overrides,
})

describe("REST admission control", () => {
  it("with the bound at N, answers k of N + k concurrent slow requests 503 overloaded + Retry-After at once", async () => {
    const bound = 4
    const extra = 3
    const server = await start(limits({ maxInFlight: bound, maxQueue: 0 }))
    const slow = Array.from({ length: bound }, () => fetch(`${server.url}/api/v1/slow`))
    await server.gate.reached(bound)

    const refused = await Promise.all(Array.from({ length: extra }, () => fetch(`${server.url}/api/v1/slow`)))
    // Answered while the N are still held: refused at once, their handlers never ran.
    expect(server.gate.started()).toBe(bound)
    for (const response of refused) {
      expect(response.status).toBe(503)
      expect(response.headers.get("retry-after")).toBe("2")
      const body = (await response.json()) as { error: { code: string; message: string; details: unknown[] } }
      expect(body.error.code).toBe("overloaded")
      expect(body.error.details).toEqual([{ path: "http", problem: expect.stringContaining("4 already in flight") }])
    }

    // The probes and the scrape are exempt.
    const health = await fetch(`${server.url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: "ok" })
    const scrape = await fetch(`${server.url}/metrics`)
    expect(scrape.status).toBe(200)
    const during = parseExposition(await scrape.text())
    expect(sumSamples(during, "dcent_admission_in_flight", { entry: "http" })).toBe(bound)
    expect(sumSamples(during, "dcent_admission_refused_total", { entry: "http", reason: "capacity" })).toBe(extra)
    expect(sumSamples(during, "dcent_admission_limit", { entry: "http" })).toBe(bound)

    // The load ends: the held requests finish, and the server answers normally again.
    server.gate.open()
    for (const response of await Promise.all(slow)) expect(response.status).toBe(200)
    const again = await Promise.all(Array.from({ length: bound }, () => fetch(`${server.url}/api/v1/slow`)))
    for (const response of again) expect(response.status).toBe(200)
    const after = parseExposition(await server.metrics())
    expect(sumSamples(after, "dcent_admission_in_flight", { entry: "http" })).toBe(0)
    // Refused before routing: counted as requests with status 503 and route `unmatched`.
    expect(
      sumSamples(after, "http_server_request_duration_seconds_count", { route: "unmatched", status_code: "503" }),
    ).toBe(extra)
  })

  it("queues up to HTTP_MAX_QUEUE requests and serves them once a slot frees; refuses beyond the queue", async () => {
    const server = await start(limits({ maxInFlight: 2, maxQueue: 2 }))
    const held = [fetch(`${server.url}/api/v1/slow`), fetch(`${server.url}/api/v1/slow`)]
    await server.gate.reached(2)
    const queued = [fetch(`${server.url}/api/v1/slow`), fetch(`${server.url}/api/v1/slow`)]
    // Wait until both are in the queue (read from the gauge, not from time).
    for (let i = 0; i < 200; i++) {
      const samples = parseExposition(await server.metrics())
      if (sumSamples(samples, "dcent_admission_queued", { entry: "http" }) === 2) break
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(sumSamples(parseExposition(await server.metrics()), "dcent_admission_queued", { entry: "http" })).toBe(2)
    const beyond = await fetch(`${server.url}/api/v1/slow`)
    expect(beyond.status).toBe(503)
    expect(beyond.headers.get("retry-after")).toBe("2")
    expect(server.gate.started()).toBe(2)

    server.gate.open()
    for (const response of await Promise.all([...held, ...queued])) expect(response.status).toBe(200)
    expect(server.gate.started()).toBe(4)
  })
})
