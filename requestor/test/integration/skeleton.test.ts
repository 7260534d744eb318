/**
 * The requestor as a real process against the real Kafka and Redis: probes, API documents,
 * the public gRPC server (health, reflection), configuration errors, readiness without Redis,
 * and SIGTERM.
 */
import { type Channel, createChannel, createClient } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  fileContainingSymbol,
  fileContainingSymbolV1Alpha,
  listServices,
  listServicesV1Alpha,
} from "../../../test/support/grpc.ts"
import { type HealthServer, startHealthServer } from "../../../test/support/healthServer.ts"
import { type ErrorBody, expectApiDocuments, expectNotReadyWithoutRedis, readyz } from "../../../test/support/http.ts"
import { freePort } from "../../../test/support/ports.ts"
import { runToExit } from "../../../test/support/processes.ts"
import { kafkaUrl, redisUrl } from "../../../test/support/servers.ts"
import { type RunningRequestor, startRequestor } from "../../../test/support/services.ts"

/** `HealthCheckResponse.ServingStatus.SERVING` */
const SERVING = 1

/** A processor that answers the requestor's readiness probe (the `processor` check). */
let processor: HealthServer
beforeAll(async () => {
  processor = await startHealthServer()
})
afterAll(async () => {
  await processor?.close()
})

describe("requestor skeleton", () => {
  let requestor: RunningRequestor
  let channel: Channel

  beforeAll(async () => {
    // Its public gRPC server gets a free port (`startRequestor`): the default 50052 may be taken.
    requestor = await startRequestor({
      env: { BROKER_URL: kafkaUrl, REDIS_URL: redisUrl, PROCESSOR_GRPC_URL: processor.address },
    })
    channel = createChannel(requestor.grpcAddress)
  })

  afterAll(async () => {
    channel?.close()
    await requestor?.stop()
  })

  it("answers /healthz 200 {status: ok}", async () => {
    const response = await fetch(`${requestor.httpUrl}/healthz`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: "ok" })
  })

  it("answers /readyz 200 once Kafka, Redis and the topics are there", async () => {
    const body = await readyz(requestor)
    expect(body.checks.map((check) => [check.name, check.ok])).toEqual([
      ["draining", true],
      ["kafka", true],
      ["redis", true],
      ["topics", true],
      ["processor", true],
    ])
  })

  it("answers /readyz 503 naming the processor while it is not SERVING, and 200 once it is again", async () => {
    processor.setServing(false)
    try {
      let response = await fetch(`${requestor.httpUrl}/readyz`)
      for (let i = 0; i < 40 && response.status !== 503; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        response = await fetch(`${requestor.httpUrl}/readyz`)
      }
      expect(response.status).toBe(503)
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/)
      const body = (await response.json()) as ErrorBody
      expect(body.error.details).toEqual([{ path: "processor", problem: expect.stringContaining("NOT_SERVING") }])
    } finally {
      processor.setServing(true)
    }
    await readyz(requestor)
  })

  it("serves /docs and /openapi.json with the order endpoints", async () => {
    await expectApiDocuments(requestor.httpUrl, "dCent Communicator — Requestor")
    const document = (await (await fetch(`${requestor.httpUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/orders",
        "/api/v1/orders/{OrderReqID}",
        "/api/v1/orders/{OrderReqID}/events",
        "/api/v1/initiate",
        "/api/v1/followup",
        "/api/v1/finalize/{OrderReqID}",
        "/api/v1/pause/{OrderReqID}",
        "/api/v1/resume/{OrderReqID}",
      ]),
    )
  })

  it("serves WatchOrder with gRPC health and reflection", async () => {
    const health = createClient(HealthDefinition, channel)
    expect((await health.check({ service: "" }, { signal: AbortSignal.timeout(5_000) })).status).toBe(SERVING)
    expect((await health.check({ service: "dcent.orders.v1.OrderWatchService" })).status).toBe(SERVING)
    expect(await listServices(channel)).toEqual(
      expect.arrayContaining(["dcent.orders.v1.OrderWatchService", "grpc.health.v1.Health"]),
    )
    const files = await fileContainingSymbol(channel, "dcent.orders.v1.OrderWatchService")
    expect(Buffer.from(files[0]!).toString("latin1")).toContain("dcent/orders/v1/order_watch_service.proto")
  })

  it("resolves WatchOrder over grpc.reflection.v1alpha too", async () => {
    const address = requestor.grpcAddress
    expect(await listServicesV1Alpha(address)).toEqual(expect.arrayContaining(["dcent.orders.v1.OrderWatchService"]))
    const files = await fileContainingSymbolV1Alpha(address, "dcent.orders.v1.OrderWatchService.WatchOrder")
    const file = files.find((candidate) => candidate.name === "dcent/orders/v1/order_watch_service.proto")
    const method = file?.service[0]?.method.find((candidate) => candidate.name === "WatchOrder")
    expect(method).toMatchObject({ inputType: ".dcent.orders.v1.WatchOrderRequest", serverStreaming: true })
  })

  it("answers unknown routes with the common error body", async () => {
    const response = await fetch(`${requestor.httpUrl}/no-such-route`)
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({
      error: { code: "not_found", message: "no route for GET /no-such-route", details: [] },
    })
  })

  it("exits 0 within a few seconds on SIGTERM", async () => {
    const exit = await requestor.stop({ timeoutMs: 15_000 })
    expect(exit, requestor.output()).toMatchObject({ code: 0, signal: null, killed: false })
    expect(exit.durationMs).toBeLessThan(10_000)
  })
})

describe("requestor configuration errors", () => {
  it.each([
    ["REQUESTOR_HTTP_PORT", "abc"],
    ["BROKER_URL", "foo://x"],
    ["REDIS_URL", "not a url"],
    ["LOG_LEVEL", "loud"],
    ["REQUESTOR_GRPC_PORT", "0"],
    ["PROCESSOR_GRPC_URL", "processor"],
  ])("%s=%s stops start-up with exit 1 and a one-line message naming it", async (name, value) => {
    const result = await runToExit("requestor", { BROKER_URL: kafkaUrl, REDIS_URL: redisUrl, [name]: value })
    expect(result.timedOut).toBe(false)
    expect(result.code, result.stderr).toBe(1)
    expect(result.stderr).toContain(name)
    expect(result.stderr).toMatch(/^requestor: invalid configuration: /)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).not.toMatch(/^\s+at /m)
  })
})

describe("requestor without Redis", () => {
  it("starts, stays alive and answers /readyz 503 naming redis, with Retry-After", async () => {
    const closedPort = await freePort()
    const requestor = await startRequestor({
      name: "requestor-no-redis",
      env: {
        BROKER_URL: kafkaUrl,
        REDIS_URL: `redis://127.0.0.1:${closedPort}`,
        PROCESSOR_GRPC_URL: processor.address,
      },
    })
    try {
      await expectNotReadyWithoutRedis(requestor)
    } finally {
      const exit = await requestor.stop()
      expect(exit.code, requestor.output()).toBe(0)
    }
  })
})

describe("requestor without Kafka", () => {
  it("starts anyway and answers /readyz 503 naming the broker and the topics", async () => {
    const closedPort = await freePort()
    const requestor = await startRequestor({
      name: "requestor-no-kafka",
      env: {
        BROKER_URL: `kafka://127.0.0.1:${closedPort}`,
        REDIS_URL: redisUrl,
        PROCESSOR_GRPC_URL: processor.address,
      },
    })
    try {
      const response = await fetch(`${requestor.httpUrl}/readyz`)
      expect(response.status).toBe(503)
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/)
      const body = (await response.json()) as ErrorBody
      expect(body.error.details.map((detail) => detail.path)).toEqual(["kafka", "topics"])
      expect(body.error.details[0]?.problem).toContain(`kafka://127.0.0.1:${closedPort} is unreachable`)
    } finally {
      const exit = await requestor.stop()
      expect(exit.code, requestor.output()).toBe(0)
    }
  })
})
