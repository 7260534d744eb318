/**
 * Server reflection as real third-party clients see it, on both gRPC servers (the processor's
 * order services, the requestor's public `WatchOrder`): `grpcurl` (built from the Go module proxy;
 * reflection v1, falling back to v1alpha) and the official Python client `grpcio-reflection`
 * (PyPI; it speaks only v1alpha) list the services and resolve the streaming method to its
 * request and response types. An unknown service is reported as such by both.
 */
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { repoRoot } from "../../support/processes.ts"
import { type RunningProcessor, type RunningRequestor, startProcessor, startRequestor } from "../../support/services.ts"
import { reflectionPython, runTool, toolPath } from "../../support/thirdPartyTools.ts"

let processor: RunningProcessor
let requestor: RunningRequestor

beforeAll(async () => {
  processor = await startProcessor()
  requestor = await startRequestor({ env: { PROCESSOR_GRPC_URL: processor.grpcAddress } })
})
afterAll(async () => {
  await requestor?.stop()
  await processor?.stop()
})

const grpcurl = (address: string, ...args: Array<string>) =>
  runTool(toolPath("grpcurl"), ["-plaintext", "-max-time", "10", address, ...args])

interface PythonAnswer {
  readonly services: ReadonlyArray<string>
  readonly method: null | {
    readonly fullName: string
    readonly file: string
    readonly input: string
    readonly output: string
    readonly clientStreaming: boolean
    readonly serverStreaming: boolean
  }
}

const pythonReflection = async (address: string, service: string, method: string): Promise<PythonAnswer> => {
  const run = await runTool(reflectionPython(), [
    join(repoRoot, "test/integration/tools/grpc_reflection_client.py"),
    address,
    service,
    method,
  ])
  expect(run.code, run.stderr).toBe(0)
  return JSON.parse(run.stdout) as PythonAnswer
}

const servers = [
  {
    name: "requestor",
    address: () => requestor.grpcAddress,
    services: ["dcent.orders.v1.OrderWatchService", "grpc.health.v1.Health"],
    service: "dcent.orders.v1.OrderWatchService",
    method: "WatchOrder",
    input: "dcent.orders.v1.WatchOrderRequest",
    output: "dcent.orders.v1.WatchOrderResponse",
    file: "dcent/orders/v1/order_watch_service.proto",
  },
  {
    name: "processor",
    address: () => processor.grpcAddress,
    services: [
      "dcent.orders.v1.OrderNonStreamingService",
      "dcent.orders.v1.OrderStreamingService",
      "grpc.health.v1.Health",
    ],
    service: "dcent.orders.v1.OrderStreamingService",
    method: "ProcessOrderStream",
    input: "dcent.orders.v1.OrderStreamRequest",
    output: "dcent.orders.v1.OrderStreamResponse",
    file: "dcent/orders/v1/order_streaming_service.proto",
  },
]

describe.each(servers)("the $name's gRPC server", (server) => {
  it("grpcurl lists its services and describes its streaming method", async () => {
    const list = await grpcurl(server.address(), "list")
    expect(list.code, list.stderr).toBe(0)
    const listed = list.stdout.trim().split("\n")
    expect(listed).toEqual(expect.arrayContaining(server.services))

    const describeMethod = await grpcurl(server.address(), "describe", `${server.service}.${server.method}`)
    expect(describeMethod.code, describeMethod.stderr).toBe(0)
    expect(describeMethod.stdout).toContain(
      `rpc ${server.method} ( .${server.input} ) returns ( stream .${server.output} );`,
    )
  })

  it("grpcurl reports an unknown service as an error", async () => {
    const run = await grpcurl(server.address(), "describe", "dcent.orders.v1.NoSuchService")
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain("dcent.orders.v1.NoSuchService")
  })

  it("the Python grpcio-reflection client (v1alpha) lists the same services and resolves the method", async () => {
    const answer = await pythonReflection(server.address(), server.service, server.method)
    const list = await grpcurl(server.address(), "list")
    expect(answer.services).toEqual(list.stdout.trim().split("\n").sort())
    expect(answer.services).toEqual(expect.arrayContaining(server.services))
    expect(answer.method).toEqual({
      fullName: `${server.service}.${server.method}`,
      file: server.file,
      input: server.input,
      output: server.output,
      clientStreaming: false,
      serverStreaming: true,
    })
    expect((await pythonReflection(server.address(), "dcent.orders.v1.NoSuchService", server.method)).method).toBeNull()
  })
})
