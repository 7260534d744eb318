/** Describing the application services a `GrpcServer` hosts. */

import type { TsProtoServiceDefinition } from "nice-grpc"
import { type CompatServiceDefinition, type Server, ServerError, type ServiceImplementation, Status } from "nice-grpc"

/** One service to host: its fully qualified name (for health and reflection) and how to add it. */
export interface GrpcService {
  readonly fullName: string
  readonly add: (server: Server) => void
}

export const grpcService = <Definition extends TsProtoServiceDefinition>(
  definition: Definition,
  implementation: ServiceImplementation<Definition>,
): GrpcService => ({
  fullName: definition.fullName,
  add: (server) => server.add(definition as CompatServiceDefinition, implementation as never),
})

/**
 * Hosts `definition` with every method answering `UNIMPLEMENTED`, so clients (and reflection)
 * see the service exists before its behaviour does.
 */
export const unimplementedService = <Definition extends TsProtoServiceDefinition>(
  definition: Definition,
): GrpcService => {
  const implementation: Record<string, unknown> = {}
  for (const [key, method] of Object.entries(definition.methods)) {
    const error = () =>
      new ServerError(Status.UNIMPLEMENTED, `${definition.fullName}/${method.name} is not implemented yet`)
    implementation[key] = method.responseStream
      ? // biome-ignore lint/correctness/useYield: a stream that fails before its first message
        async function* () {
          throw error()
        }
      : async () => {
          throw error()
        }
  }
  return grpcService(definition, implementation as ServiceImplementation<Definition>)
}
