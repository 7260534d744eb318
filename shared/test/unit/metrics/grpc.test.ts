/**
 * gRPC call metrics on a real nice-grpc server and client in-process: the server middleware (via
 * `GrpcServer` with a `Metrics` registry) and the client middleware record service, method and
 * status code.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { createChannel, createClientFactory, Status } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { OrderNonStreamingServiceDefinition } from "../../../src/generated/dcent/orders/v1/order_non_streaming_service.ts"
import { rpcNames, statusOfError } from "../../../src/grpc/calls.ts"
import { GrpcServer } from "../../../src/grpc/GrpcServer.ts"
import { MetricNames } from "../../../src/metrics/catalogue.ts"
import { rpcClientMetrics } from "../../../src/metrics/grpc.ts"
import { Metrics, type MetricsShape } from "../../../src/metrics/Metrics.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"
import { unimplementedService } from "../../support/unimplementedService.ts"

let scope: Scope.Closeable
let metrics: MetricsShape
let address: string

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
  const server = await Effect.runPromise(
    GrpcServer.make({
      host: "127.0.0.1",
      port: 0,
      services: [unimplementedService(OrderNonStreamingServiceDefinition)],
      shutdownTimeout: "1 second",
    }).pipe(Effect.provide(Layer.succeed(Metrics, metrics)), Scope.provide(scope)),
  )
  address = `127.0.0.1:${server.port}`
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

const total = async (name: string, labels: Record<string, string>) =>
  sumSamples(parseExposition(await metrics.registry.metrics()), name, labels)

describe("gRPC metrics", () => {
  it("splits the method path into service and method", () => {
    expect(rpcNames("/dcent.orders.v1.OrderWatchService/WatchOrder")).toEqual({
      service: "dcent.orders.v1.OrderWatchService",
      method: "WatchOrder",
    })
    expect(rpcNames("NoSlash")).toEqual({ service: "unknown", method: "NoSlash" })
    expect(statusOfError(new Error("boom"))).toBe(Status.UNKNOWN)
    expect(statusOfError(Object.assign(new Error("aborted"), { name: "AbortError" }))).toBe(Status.CANCELLED)
  })

  it("records served and made calls with their status codes (OK and UNIMPLEMENTED)", async () => {
    const channel = createChannel(address)
    try {
      const clients = createClientFactory().use(rpcClientMetrics(metrics.catalogue))
      const health = clients.create(HealthDefinition, channel)
      await health.check({ service: "" })
      await health.check({ service: "" })
      const orders = clients.create(OrderNonStreamingServiceDefinition, channel)
      await expect(orders.pauseOrder({ orderReqId: "ORD-1", transactionUuid: "t", reason: "" })).rejects.toThrow(
        /UNIMPLEMENTED/,
      )
    } finally {
      channel.close()
    }
    const check = { rpc_service: "grpc.health.v1.Health", rpc_method: "Check", rpc_grpc_status_code: "0" }
    const pause = {
      rpc_service: "dcent.orders.v1.OrderNonStreamingService",
      rpc_method: "PauseOrder",
      rpc_grpc_status_code: String(Status.UNIMPLEMENTED),
    }
    for (const name of [MetricNames.rpcServerDuration, MetricNames.rpcClientDuration]) {
      expect(await total(`${name}_count`, check), name).toBe(2)
      expect(await total(`${name}_count`, pause), name).toBe(1)
    }
  })
})
