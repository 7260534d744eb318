import { ServerError, type ServiceImplementation, Status, type TsProtoServiceDefinition } from "nice-grpc"
import { type GrpcService, grpcService } from "../../src/grpc/services.ts"

/**
 * Hosts `definition` with every method answering `UNIMPLEMENTED`: a real service definition for
 * tests of the server's generic parts (health, reflection, metrics), without its behaviour.
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
