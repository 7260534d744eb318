/**
 * The processor's gRPC server: the order services (`./orderServices.ts`), the standard health
 * service and server reflection, on `GRPC_SERVER_HOST:GRPC_SERVER_PORT`.
 *
 * Shutdown: a finalizer that runs before the server's own (it is acquired after the server)
 * aborts the open order streams with UNAVAILABLE, so the server drains at once instead of
 * waiting for streams that never end by themselves.
 *
 * `GrpcListening` says whether the server listens (from the moment it is bound until its
 * shutdown starts): the REST and gRPC servers start side by side, and `/readyz` checks it
 * (`grpcCheck`) so that "ready" includes the gRPC port.
 */
import { grpcServerCredentials } from "@dcent/shared/config/tls"
import { loadDescriptorSet } from "@dcent/shared/grpc/descriptor"
import { GrpcServer } from "@dcent/shared/grpc/GrpcServer"
import type { ReadinessCheck } from "@dcent/shared/health/Readiness"
import { onDrain } from "@dcent/shared/runtime/Drain"
import { Context, Effect, Layer, Ref } from "effect"
import { ProcessorConfig } from "../config.ts"
import { makeOrderServices } from "./orderServices.ts"

/** Whether the gRPC server listens; set by `GrpcLive`. */
export class GrpcListening extends Context.Service<GrpcListening, Ref.Ref<boolean>>()("dcent/processor/GrpcListening") {
  static readonly layer = Layer.effect(GrpcListening, Ref.make(false))
}

/** The `/readyz` check `grpc`: the gRPC server listens. */
export const grpcCheck: Effect.Effect<ReadinessCheck, never, GrpcListening> = Effect.gen(function* () {
  const listening = yield* GrpcListening
  return {
    name: "grpc",
    check: Effect.flatMap(Ref.get(listening), (up) =>
      up ? Effect.void : Effect.fail(new Error("the gRPC server is not listening")),
    ),
  }
})

export const GrpcLive = Layer.unwrap(
  Effect.sync(() => {
    const shutdown = new AbortController()
    const server = GrpcServer.layer(
      Effect.gen(function* () {
        const config = yield* ProcessorConfig
        const descriptorSet = yield* loadDescriptorSet()
        const services = yield* makeOrderServices({ shutdown: shutdown.signal })
        return {
          host: config.grpcHost,
          port: config.grpcPort,
          descriptorSet,
          services,
          admission: config.grpcAdmission,
          maxReceiveMessageBytes: config.grpcMaxReceiveMessageBytes,
          // Mutual TLS when TLS_CA_FILE is set: only callers with a certificate from that CA.
          credentials: grpcServerCredentials(config.tls, { requireClientCertificate: true }),
          // Only the requestor calls this port (its service principal is never limited); with
          // AUTH_MODE=disabled its calls carry every buyer's from one address: not limited either.
          rateLimit: { limitAnonymous: false },
        }
      }),
    )
    const endStreams = Effect.sync(() => shutdown.abort())
    const endStreamsFirst = Layer.effectDiscard(
      Effect.gen(function* () {
        // Drain (SIGTERM): open streams end with UNAVAILABLE as soon as the drain starts.
        yield* onDrain({ name: "order streams UNAVAILABLE", phase: "streams", run: () => endStreams })
        yield* Effect.addFinalizer(() => endStreams.pipe(Effect.andThen(Effect.logDebug("order streams told to end"))))
      }),
    )
    // Built once the server is bound; released (not listening any more) when shutdown starts.
    const listening = Layer.effectDiscard(
      Effect.gen(function* () {
        const flag = yield* GrpcListening
        yield* Effect.acquireRelease(Ref.set(flag, true), () => Ref.set(flag, false))
      }),
    )
    return Layer.mergeAll(endStreamsFirst, listening).pipe(Layer.provideMerge(server))
  }),
)
