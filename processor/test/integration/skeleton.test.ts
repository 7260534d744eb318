/**
 * The processor as a real process against the real Kafka and Redis: probes, API documents,
 * gRPC health and reflection, configuration errors, readiness without Redis, and SIGTERM.
 */
import { type Channel, createChannel, createClient, Status } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { OrderStreamingServiceDefinition } from "../../../shared/src/generated/dcent/orders/v1/order_streaming_service.ts"
import {
  fileContainingSymbol,
  fileContainingSymbolV1Alpha,
  listServices,
  listServicesV1Alpha,
} from "../../../test/support/grpc.ts"
import { expectApiDocuments, expectNotReadyWithoutRedis, readyz } from "../../../test/support/http.ts"
import { freePort } from "../../../test/support/ports.ts"
import { runToExit } from "../../../test/support/processes.ts"
import { kafkaUrl, redisUrl } from "../../../test/support/servers.ts"
import { type RunningProcessor, startProcessor } from "../../../test/support/services.ts"

const SERVING = 1
const NOT_SERVING = 2

describe("processor skeleton", () => {
  let processor: RunningProcessor
  let channel: Channel

  beforeAll(async () => {
    processor = await startProcessor({ env: { BROKER_URL: kafkaUrl, REDIS_URL: redisUrl } })
    channel = createChannel(processor.grpcAddress)
  })

  afterAll(async () => {
    channel?.close()
    await processor?.stop()
  })

  it("answers /healthz 200 {status: ok}", async () => {
    const response = await fetch(`${processor.httpUrl}/healthz`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: "ok" })
  })

  it("answers /readyz 200 once Kafka, Redis and the topics are there and gRPC listens", async () => {
    const body = await readyz(processor)
    expect(body.checks.map((check) => [check.name, check.ok])).toEqual([
      ["draining", true],
      ["kafka", true],
      ["redis", true],
      ["topics", true],
      ["grpc", true],
    ])
  })

  it("serves /docs and /openapi.json", async () => {
    await expectApiDocuments(processor.httpUrl, "dCent Communicator — Processor")
  })

  it("reports SERVING over the standard gRPC health service", async () => {
    const health = createClient(HealthDefinition, channel)
    expect((await health.check({ service: "" }, { signal: AbortSignal.timeout(5_000) })).status).toBe(SERVING)
    expect((await health.check({ service: "dcent.orders.v1.OrderStreamingService" })).status).toBe(SERVING)
  })

  it("lists and describes the order services over server reflection", async () => {
    const services = await listServices(channel)
    expect(services).toEqual(
      expect.arrayContaining([
        "dcent.orders.v1.OrderStreamingService",
        "dcent.orders.v1.OrderNonStreamingService",
        "grpc.health.v1.Health",
      ]),
    )
    const files = await fileContainingSymbol(channel, "dcent.orders.v1.OrderStreamingService")
    expect(files.length).toBeGreaterThan(0)
    expect(Buffer.from(files[0]!).toString("latin1")).toContain("dcent/orders/v1/order_streaming_service.proto")
  })

  it("answers grpc.reflection.v1alpha clients (grpcio-reflection, older grpcurl) the same", async () => {
    const address = processor.grpcAddress
    expect((await listServicesV1Alpha(address)).sort()).toEqual((await listServices(channel)).sort())
    const files = await fileContainingSymbolV1Alpha(address, "dcent.orders.v1.OrderStreamingService")
    expect(files.map((file) => file.name)).toContain("dcent/orders/v1/order_streaming_service.proto")
  })

  it("answers INVALID_ARGUMENT (naming the field) for an order stream request without an order id", async () => {
    const orders = createClient(OrderStreamingServiceDefinition, channel)
    const call = async () => {
      for await (const _ of orders.processOrderStream({ orderReqId: "" })) {
        // no events expected
      }
    }
    await expect(call()).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringContaining("order_req_id"),
    })
  })

  it("goes NOT_SERVING on SIGTERM and exits 0 within a few seconds", async () => {
    const health = createClient(HealthDefinition, createChannel(processor.grpcAddress))
    const abort = new AbortController()
    const seen: Array<number> = []
    let stopping: ReturnType<RunningProcessor["stop"]> | undefined
    try {
      for await (const update of health.watch({ service: "" }, { signal: abort.signal })) {
        seen.push(update.status)
        if (update.status === SERVING && stopping === undefined) stopping = processor.stop({ timeoutMs: 15_000 })
        if (update.status === NOT_SERVING) abort.abort()
      }
    } catch {
      // aborted by us or cancelled by the shutdown
    }
    expect(seen).toEqual([SERVING, NOT_SERVING])
    const exit = await stopping
    expect(exit, processor.output()).toMatchObject({ code: 0, signal: null, killed: false })
    expect(exit?.durationMs).toBeLessThan(10_000)
  })
})

describe("processor configuration errors", () => {
  it.each([
    ["PROCESSOR_HTTP_PORT", "abc"],
    ["GRPC_SERVER_PORT", "70000"],
    ["MAX_CONCURRENT_TASKS", "-1"],
    ["BROKER_URL", "foo://x"],
    ["REDIS_URL", "http://127.0.0.1:6379"],
  ])("%s=%s stops start-up with exit 1 and a one-line message naming it", async (name, value) => {
    const result = await runToExit("processor", { BROKER_URL: kafkaUrl, REDIS_URL: redisUrl, [name]: value })
    expect(result.timedOut).toBe(false)
    expect(result.code, result.stderr).toBe(1)
    expect(result.stderr).toContain(name)
    expect(result.stderr).toMatch(/^processor: invalid configuration: /)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).not.toMatch(/^\s+at /m)
  })
})

describe("processor without Redis", () => {
  it("starts, stays alive and answers /readyz 503 naming redis, with Retry-After", async () => {
    const closedPort = await freePort()
    const processor = await startProcessor({
      name: "processor-no-redis",
      env: { BROKER_URL: kafkaUrl, REDIS_URL: `redis://127.0.0.1:${closedPort}` },
    })
    try {
      await expectNotReadyWithoutRedis(processor)
    } finally {
      const exit = await processor.stop()
      expect(exit.code, processor.output()).toBe(0)
    }
  })
})
