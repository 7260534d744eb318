/**
 * The processor's gRPC server: the order services (`./orderServices.ts`), the standard health
 * service and server reflection, on `GRPC_SERVER_HOST:GRPC_SERVER_PORT`.
 *
 * Shutdown: a finalizer that runs before the server's own (it is acquired after the server)
 * aborts the open order streams with UNAVAILABLE, so the server drains at once instead of
 * waiting for streams that never end by themselves.
 */
import { loadDescriptorSet } from "@dcent/shared/grpc/descriptor"
import { GrpcServer } from "@dcent/shared/grpc/GrpcServer"
import { Effect, Layer } from "effect"
import { ProcessorConfig } from "../config.ts"
import { makeOrderServices } from "./orderServices.ts"

export const GrpcLive = Layer.unwrap(
  Effect.sync(() => {
    const shutdown = new AbortController()
    const server = GrpcServer.layer(
      Effect.gen(function* () {
        const config = yield* ProcessorConfig
        const descriptorSet = yield* loadDescriptorSet()
        const services = yield* makeOrderServices({ shutdown: shutdown.signal })
        return { host: config.grpcHost, port: config.grpcPort, descriptorSet, services }
      }),
    )
    const endStreamsFirst = Layer.effectDiscard(
      Effect.addFinalizer(() =>
        Effect.sync(() => shutdown.abort()).pipe(Effect.andThen(Effect.logDebug("order streams told to end"))),
      ),
    )
    return endStreamsFirst.pipe(Layer.provideMerge(server))
  }),
)
