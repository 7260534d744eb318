/** Describing the application services a `GrpcServer` hosts. */

import type { CompatServiceDefinition, Server, ServiceImplementation, TsProtoServiceDefinition } from "nice-grpc"

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
