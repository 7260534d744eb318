/**
 * gRPC server reflection, both published versions, over one descriptor set.
 *
 * `grpc.reflection.v1` is nice-grpc-server-reflection's service. `grpc.reflection.v1alpha` is the
 * same service under its older name: the two protos declare the same messages with the same
 * field numbers (v1 was copied from v1alpha), so the v1 implementation answers v1alpha clients
 * byte for byte (the Python `grpcio-reflection` client, older `grpcurl`, Postman, k6 speak only
 * v1alpha or fall back to it). The descriptors served are the original files of the descriptor
 * set, under their own names. (`@grpc/reflection` also serves both versions, but it re-assembles
 * the files per package from a proto-loader definition and is written for a bare grpc-js server.)
 */
import type { Server } from "nice-grpc"
import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection"

export const reflectionV1Name = "grpc.reflection.v1.ServerReflection"
export const reflectionV1AlphaName = "grpc.reflection.v1alpha.ServerReflection"

/** `grpc.reflection.v1alpha.ServerReflection`: the v1 definition under the v1alpha path. */
export const ServerReflectionV1AlphaService = {
  serverReflectionInfo: {
    ...ServerReflectionService.serverReflectionInfo,
    path: `/${reflectionV1AlphaName}/ServerReflectionInfo`,
  },
} as unknown as typeof ServerReflectionService

/** Adds reflection v1 and v1alpha to `server`, exposing `serviceNames` of `descriptorSet`. */
export const addServerReflection = (
  server: Server,
  descriptorSet: Uint8Array,
  serviceNames: ReadonlyArray<string>,
): void => {
  const implementation = ServerReflection(descriptorSet, serviceNames)
  server.add(ServerReflectionService, implementation)
  server.add(ServerReflectionV1AlphaService, implementation)
}
