/** gRPC helpers for tests: waiting for a server, server reflection (v1 through nice-grpc, v1alpha through grpc-js). */
import { fileURLToPath } from "node:url"
import { fromBinary } from "@bufbuild/protobuf"
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
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
const serving = async (address: string, credentials?: grpc.ChannelCredentials) => {
  const channel = createChannel(address, credentials)
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
  options: {
    readonly host?: string
    readonly process?: ServiceProcess
    readonly timeoutMs?: number
    /** TLS (with a client certificate for a server asking for one). */
    readonly credentials?: grpc.ChannelCredentials
  } = {},
): Promise<void> => {
  const host = options.host ?? "127.0.0.1"
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  while (!((await acceptsTcp(host, port)) && (await serving(`${host}:${port}`, options.credentials)))) {
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

// --- grpc.reflection.v1alpha, through an independent client -------------------------------------

/** The upstream v1alpha proto (grpc/grpc, Apache-2.0), loaded by proto-loader for a bare grpc-js client. */
const v1alphaProto = fileURLToPath(new URL("./proto/grpc/reflection/v1alpha/reflection.proto", import.meta.url))

interface V1AlphaResponse {
  readonly list_services_response?: { readonly service: ReadonlyArray<{ readonly name: string }> }
  readonly file_descriptor_response?: { readonly file_descriptor_proto: ReadonlyArray<Buffer> }
  readonly error_response?: { readonly error_code: number; readonly error_message: string }
}

/**
 * One `grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo` exchange with `request`, the
 * way v1alpha-only tools call it (Python `grpcio-reflection`, older grpcurl): a grpc-js generic
 * client built from the v1alpha proto, nothing shared with the server's implementation.
 */
const v1alphaExchange = async (address: string, request: Record<string, unknown>): Promise<V1AlphaResponse> => {
  const definition = protoLoader.loadSync(v1alphaProto, { keepCase: true, longs: String, enums: String, oneofs: true })
  const ServerReflection = (
    grpc.loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: { v1alpha: { ServerReflection: grpc.ServiceClientConstructor } } }
    }
  ).grpc.reflection.v1alpha.ServerReflection
  const client = new ServerReflection(address, grpc.credentials.createInsecure())
  try {
    return await new Promise<V1AlphaResponse>((resolve, reject) => {
      const call = (
        client as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<unknown, V1AlphaResponse> }
      ).ServerReflectionInfo()
      const responses: Array<V1AlphaResponse> = []
      call.on("data", (response: V1AlphaResponse) => responses.push(response))
      call.on("error", reject)
      call.on("end", () =>
        responses.length === 1 ? resolve(responses[0]!) : reject(new Error(`${responses.length} responses`)),
      )
      call.write(request)
      call.end()
    })
  } finally {
    client.close()
  }
}

const v1alphaOk = (response: V1AlphaResponse): V1AlphaResponse => {
  const error = response.error_response
  if (error !== undefined && error !== null) {
    throw new Error(`reflection error ${error.error_code}: ${error.error_message}`)
  }
  return response
}

/** Like `listServices`, over `grpc.reflection.v1alpha`. */
export const listServicesV1Alpha = async (address: string): Promise<Array<string>> =>
  (v1alphaOk(await v1alphaExchange(address, { list_services: "*" })).list_services_response?.service ?? []).map(
    (service) => service.name,
  )

/** The decoded file descriptors that define `symbol`, over `grpc.reflection.v1alpha`. */
export const fileContainingSymbolV1Alpha = async (
  address: string,
  symbol: string,
): Promise<Array<FileDescriptorProto>> =>
  (
    v1alphaOk(await v1alphaExchange(address, { file_containing_symbol: symbol })).file_descriptor_response
      ?.file_descriptor_proto ?? []
  ).map((bytes) => fromBinary(FileDescriptorProtoSchema, new Uint8Array(bytes)))
