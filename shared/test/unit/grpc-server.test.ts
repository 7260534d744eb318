/** The gRPC server layer in-process on a free port: health, reflection, UNIMPLEMENTED stubs, shutdown. */
import { Effect, Exit, Scope } from "effect"
import { type Channel, createChannel, createClient, Status } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fileContainingSymbolV1Alpha, listServices, listServicesV1Alpha } from "../../../test/support/grpc.ts"
import { OrderStreamingServiceDefinition } from "../../src/generated/dcent/orders/v1/order_streaming_service.ts"
import { loadDescriptorSet } from "../../src/grpc/descriptor.ts"
import { GrpcServer } from "../../src/grpc/GrpcServer.ts"
import { unimplementedService } from "../support/unimplementedService.ts"

const SERVING = 1
const NOT_SERVING = 2

let scope: Scope.Closeable
let channel: Channel
let port: number

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    Effect.gen(function* () {
      const descriptorSet = yield* loadDescriptorSet()
      return yield* GrpcServer.make({
        host: "127.0.0.1",
        port: 0,
        descriptorSet,
        services: [unimplementedService(OrderStreamingServiceDefinition)],
        shutdownTimeout: "1 second",
      })
    }).pipe(Scope.provide(scope)),
  )
  port = server.port
  channel = createChannel(`127.0.0.1:${port}`)
})

afterAll(async () => {
  channel?.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

describe("GrpcServer", () => {
  it("reports SERVING for the server and each hosted service", async () => {
    const health = createClient(HealthDefinition, channel)
    expect((await health.check({ service: "" })).status).toBe(SERVING)
    expect((await health.check({ service: OrderStreamingServiceDefinition.fullName })).status).toBe(SERVING)
  })

  it("lists the hosted services and health over reflection", async () => {
    const services = await listServices(channel)
    expect(services).toEqual(
      expect.arrayContaining([OrderStreamingServiceDefinition.fullName, "grpc.health.v1.Health"]),
    )
  })

  it("answers grpc.reflection.v1alpha clients too: lists the services, resolves a method's file", async () => {
    const address = `127.0.0.1:${port}`
    expect(await listServicesV1Alpha(address)).toEqual(await listServices(channel))
    const files = await fileContainingSymbolV1Alpha(
      address,
      `${OrderStreamingServiceDefinition.fullName}.ProcessOrderStream`,
    )
    const file = files.find((candidate) => candidate.name === "dcent/orders/v1/order_streaming_service.proto")
    expect(file?.service.map((service) => service.name)).toEqual(["OrderStreamingService"])
    expect(file?.service[0]?.method.map((method) => method.name)).toContain("ProcessOrderStream")
  })

  it("answers UNIMPLEMENTED for a stub service", async () => {
    const orders = createClient(OrderStreamingServiceDefinition, channel)
    const call = async () => {
      for await (const _ of orders.processOrderStream({ orderReqId: "ORD-1" })) {
        // no events expected
      }
    }
    await expect(call()).rejects.toMatchObject({ code: Status.UNIMPLEMENTED })
  })

  it("goes NOT_SERVING when released, before it stops", async () => {
    const health = createClient(HealthDefinition, channel)
    const abort = new AbortController()
    const seen: Array<number> = []
    const watching = (async () => {
      try {
        for await (const update of health.watch({ service: "" }, { signal: abort.signal })) {
          seen.push(update.status)
          if (update.status === SERVING) void Effect.runPromise(Scope.close(scope, Exit.void))
          if (update.status === NOT_SERVING) abort.abort()
        }
      } catch {
        // aborted or cancelled by the shutdown
      }
    })()
    await watching
    expect(seen).toEqual([SERVING, NOT_SERVING])
  })
})
