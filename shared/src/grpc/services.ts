/** Describing the application services a `GrpcServer` hosts. */

import type {
  CompatServiceDefinition,
  MethodDefinition,
  Server,
  ServiceDefinition,
  ServiceImplementation,
  TsProtoServiceDefinition,
} from "nice-grpc"

/** One service to host: its fully qualified name (for health and reflection) and how to add it. */
export interface GrpcService {
  readonly fullName: string
  readonly add: (server: Server) => void
}

export interface GrpcServiceOptions<Definition extends TsProtoServiceDefinition> {
  /**
   * Methods whose responses are encoded once per response object: a server stream that hands the
   * same message object to many calls (one event to every watcher of an order) encodes it once,
   * not once per call. Such a response must not change after it was first sent.
   */
  readonly sharedResponses?: ReadonlyArray<keyof Definition["methods"] & string>
}

/**
 * The ts-proto definition as nice-grpc's own (what nice-grpc derives from it), with the responses
 * of `shared` methods encoded once per object (kept while the object lives).
 */
const withSharedResponses = (definition: TsProtoServiceDefinition, shared: ReadonlySet<string>): ServiceDefinition => {
  const result: Record<string, MethodDefinition<unknown, unknown, unknown, unknown>> = {}
  for (const [key, method] of Object.entries(definition.methods)) {
    const { requestType, responseType } = method
    const encodeResponse = (value: unknown): Uint8Array =>
      responseType.encode(responseType.fromPartial === undefined ? value : responseType.fromPartial(value)).finish()
    let responseSerialize = encodeResponse
    if (shared.has(key)) {
      const encoded = new WeakMap<object, Uint8Array>()
      responseSerialize = (value) => {
        if (typeof value !== "object" || value === null) return encodeResponse(value)
        let bytes = encoded.get(value)
        if (bytes === undefined) {
          bytes = encodeResponse(value)
          encoded.set(value, bytes)
        }
        return bytes
      }
    }
    result[key] = {
      path: `/${definition.fullName}/${method.name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (value) =>
        requestType.encode(requestType.fromPartial === undefined ? value : requestType.fromPartial(value)).finish(),
      requestDeserialize: (bytes) => requestType.decode(bytes),
      responseSerialize,
      responseDeserialize: (bytes) => responseType.decode(bytes),
      options: method.options,
    }
  }
  return result
}

export const grpcService = <Definition extends TsProtoServiceDefinition>(
  definition: Definition,
  implementation: ServiceImplementation<Definition>,
  options: GrpcServiceOptions<Definition> = {},
): GrpcService => {
  const shared = new Set<string>(options.sharedResponses ?? [])
  const hosted: CompatServiceDefinition = shared.size === 0 ? definition : withSharedResponses(definition, shared)
  return {
    fullName: definition.fullName,
    add: (server) => server.add(hosted, implementation as never),
  }
}
