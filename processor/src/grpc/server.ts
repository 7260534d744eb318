/**
 * The processor's gRPC server: the order services, the standard health service and server
 * reflection, on `GRPC_SERVER_HOST:GRPC_SERVER_PORT`.
 *
 * The order services are registered with every method answering UNIMPLEMENTED until the order
 * lifecycle is built; reflection already describes their contract.
 */
import { OrderNonStreamingServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import { OrderStreamingServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { loadDescriptorSet } from "@dcent/shared/grpc/descriptor"
import { GrpcServer } from "@dcent/shared/grpc/GrpcServer"
import { unimplementedService } from "@dcent/shared/grpc/services"
import { Effect } from "effect"
import { ProcessorConfig } from "../config.ts"

export const GrpcLive = GrpcServer.layer(
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    const descriptorSet = yield* loadDescriptorSet()
    return {
      host: config.grpcHost,
      port: config.grpcPort,
      descriptorSet,
      services: [
        unimplementedService(OrderStreamingServiceDefinition),
        unimplementedService(OrderNonStreamingServiceDefinition),
      ],
    }
  }),
)
