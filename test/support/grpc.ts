/** gRPC helpers for tests: server reflection through nice-grpc. */
import { type Channel, createClient } from "nice-grpc"
import { ServerReflectionService } from "nice-grpc-server-reflection"
import reflection from "nice-grpc-server-reflection/lib/proto/grpc/reflection/v1/reflection_pb.js"

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
