/** gRPC helpers for tests: waiting for a server, server reflection through nice-grpc. */
import { type Channel, createChannel, createClient } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { ServerReflectionService } from "nice-grpc-server-reflection"
import reflection from "nice-grpc-server-reflection/lib/proto/grpc/reflection/v1/reflection_pb.js"
import { acceptsTcp } from "./ports.ts"
import type { ServiceProcess } from "./processes.ts"

/** `HealthCheckResponse.ServingStatus.SERVING` */
const SERVING = 1

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One `grpc.health.v1.Health/Check` on a fresh channel (no reconnect backoff carried over): SERVING? */
const serving = async (address: string) => {
  const channel = createChannel(address)
  try {
    const health = createClient(HealthDefinition, channel)
    return (await health.check({ service: "" }, { signal: AbortSignal.timeout(2_000) })).status === SERVING
  } catch {
    return false
  } finally {
    channel.close()
  }
}

/**
 * Waits (bounded) until the gRPC server at `host:port` accepts connections and its standard
 * health service answers SERVING; fails early, with its output, if `process` exits.
 */
export const waitForGrpc = async (
  port: number,
  options: { readonly host?: string; readonly process?: ServiceProcess; readonly timeoutMs?: number } = {},
): Promise<void> => {
  const host = options.host ?? "127.0.0.1"
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  while (!((await acceptsTcp(host, port)) && (await serving(`${host}:${port}`)))) {
    if (options.process?.hasExited()) {
      const exit = await options.process.exited
      throw new Error(
        `${options.process.name} exited (${JSON.stringify(exit)}) before serving gRPC on ${host}:${port}\n${options.process.output()}`,
      )
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no gRPC server SERVING on ${host}:${port} after ${timeoutMs} ms` +
          (options.process === undefined ? "" : `\n${options.process.output()}`),
      )
    }
    await sleep(100)
  }
}

const reflectionClient = (channel: Channel) => createClient(ServerReflectionService, channel)

async function* once<A>(value: A) {
  yield value
}

/** The services a server exposes over reflection (`grpc.reflection.v1`, like `grpcurl list`). */
export const listServices = async (channel: Channel): Promise<Array<string>> => {
  const names: Array<string> = []
  const request = new reflection.ServerReflectionRequest().setListServices("*")
  for await (const response of reflectionClient(channel).serverReflectionInfo(once(request))) {
    const error = response.getErrorResponse()
    if (error !== undefined) throw new Error(`reflection error ${error.getErrorCode()}: ${error.getErrorMessage()}`)
    for (const service of response.getListServicesResponse()?.getServiceList() ?? []) names.push(service.getName())
  }
  return names
}

/** The serialized file descriptors that define `symbol` (like `grpcurl describe <symbol>`). */
export const fileContainingSymbol = async (channel: Channel, symbol: string): Promise<Array<Uint8Array>> => {
  const files: Array<Uint8Array> = []
  const request = new reflection.ServerReflectionRequest().setFileContainingSymbol(symbol)
  for await (const response of reflectionClient(channel).serverReflectionInfo(once(request))) {
    const error = response.getErrorResponse()
    if (error !== undefined) throw new Error(`reflection error ${error.getErrorCode()}: ${error.getErrorMessage()}`)
    for (const file of response.getFileDescriptorResponse()?.getFileDescriptorProtoList_asU8() ?? []) files.push(file)
  }
  return files
}
