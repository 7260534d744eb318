/**
 * A nice-grpc server as a scoped Effect service.
 *
 * Besides the application services it hosts the standard health service
 * (`grpc.health.v1.Health`: SERVING once listening, NOT_SERVING from the moment shutdown starts)
 * and server reflection (`grpc.reflection.v1` and `v1alpha`, `reflection.ts`) over the generated
 * descriptor set. Releasing the layer marks everything NOT_SERVING, lets running calls finish for
 * `shutdownTimeout`, then cancels what is left. With a `Drain` (SIGTERM), NOT_SERVING comes at
 * the start of the drain and the shutdown (GOAWAY, no new calls) in its `work` phase.
 *
 * Admission control (`admission.ts`): past `admission.maxUnaryInFlight` unary calls or
 * `admission.maxStreams` open streams, a new call fails at once with RESOURCE_EXHAUSTED and a
 * `retry-after` trailer; health and reflection are exempt.
 *
 * Authentication (`../auth/grpc.ts`), when the process has an `Authenticator`: inside admission
 * control, a call without a valid `authorization` / `x-api-key` fails with UNAUTHENTICATED before
 * its handler; handlers read the principal with `callPrincipal`. Health and reflection are exempt.
 *
 * Rate limits (`../ratelimit/grpc.ts`), when the process has `RateLimits`: inside authentication,
 * a call past its principal's budget (or a stream past its cap on open streams) fails with
 * RESOURCE_EXHAUSTED and a `retry-after` trailer, like admission control.
 */
import type { ServerCredentials } from "@grpc/grpc-js"
import { Context, type Duration, Effect, Layer, Option } from "effect"
import { createServer } from "nice-grpc"
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health"
import { defaultGrpcAdmission, type GrpcAdmissionLimits } from "../admission/config.ts"
import { Authenticator } from "../auth/Authenticator.ts"
import { rpcServerAuthentication } from "../auth/grpc.ts"
import { observedLimiter } from "../metrics/admission.ts"
import { AdmissionEntries } from "../metrics/catalogue.ts"
import { rpcServerMetrics } from "../metrics/grpc.ts"
import { Metrics } from "../metrics/Metrics.ts"
import { type RpcRateLimitOptions, rpcServerRateLimit } from "../ratelimit/grpc.ts"
import { RateLimits } from "../ratelimit/RateLimits.ts"
import { onDrain } from "../runtime/Drain.ts"
import { rpcServerTracing } from "../telemetry/grpc.ts"
import { rpcServerAdmission } from "./admission.ts"
import { errorDetailsStage } from "./errorDetails.ts"
import { GrpcServeError } from "./errors.ts"
import { defaultGrpcMaxReceiveMessageBytes, maxReceiveMessageOption } from "./limits.ts"
import { addServerReflection } from "./reflection.ts"
import type { GrpcService } from "./services.ts"
import { type ServerStage, serverStages } from "./stages.ts"

export interface GrpcServerOptions {
  readonly host: string
  readonly port: number
  readonly services: ReadonlyArray<GrpcService>
  /** Enables server reflection over these descriptors (see `loadDescriptorSet`). */
  readonly descriptorSet?: Uint8Array
  /** How long running calls may take to finish at shutdown (default 5 s). */
  readonly shutdownTimeout?: Duration.Input
  /** Bounds on unary calls in flight and open streams (default `defaultGrpcAdmission`). */
  readonly admission?: GrpcAdmissionLimits
  /** How the process's `RateLimits` (if any) apply to this server's calls. */
  readonly rateLimit?: RpcRateLimitOptions
  /** The largest message accepted (default `GRPC_MAX_RECEIVE_MESSAGE_BYTES`' 1 MiB, `limits.ts`). */
  readonly maxReceiveMessageBytes?: number
  /** TLS (or mutual TLS) credentials (`../config/tls.ts`); plain TCP without. */
  readonly credentials?: ServerCredentials | undefined
}

export interface GrpcServerShape {
  /** The bound port (useful with port 0). */
  readonly port: number
  /** Serving status of the whole server and every hosted service, as reported by `Health/Check`. */
  readonly setServing: (serving: boolean) => void
}

const hostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)

export class GrpcServer extends Context.Service<GrpcServer, GrpcServerShape>()("dcent/grpc/GrpcServer") {
  static readonly make = Effect.fn("GrpcServer.make")(function* (options: GrpcServerOptions) {
    const address = hostPort(options.host, options.port)
    const shutdownTimeout = options.shutdownTimeout ?? "5 seconds"
    const serviceNames = options.services.map((service) => service.fullName)
    const healthNames = ["", ...serviceNames, HealthDefinition.fullName]
    const health = HealthState()
    const setServing = (serving: boolean) => {
      for (const name of healthNames) health.setStatus(serving ? "healthy" : "unhealthy", name)
    }

    // Call metrics when the process has a `Metrics` registry (tests may run without one).
    const metrics = yield* Effect.serviceOption(Metrics)
    const admission = options.admission ?? defaultGrpcAdmission
    const authenticator = yield* Effect.serviceOption(Authenticator)
    const context = yield* Effect.context<never>()
    const limits = yield* RateLimits.option
    // One middleware, the concerns as stages, outermost first (`stages.ts`).
    const stages: Array<ServerStage> = [
      // Every `grpcError` thrown inside (stage or handler) gets its standard details.
      errorDetailsStage,
      ...(Option.isSome(metrics) ? [rpcServerMetrics(metrics.value.catalogue)] : []),
      // Inside the metrics (a refused call is counted, RESOURCE_EXHAUSTED), before the tracing
      // (a refused call does no work worth a span).
      rpcServerAdmission({
        unary: yield* observedLimiter({
          entry: AdmissionEntries.GrpcUnary,
          maxInFlight: admission.maxUnaryInFlight,
          retryAfterSeconds: admission.retryAfterSeconds,
        }),
        streams: yield* observedLimiter({
          entry: AdmissionEntries.GrpcStream,
          maxInFlight: admission.maxStreams,
          retryAfterSeconds: admission.retryAfterSeconds,
        }),
      }),
      // After admission control (a refused call costs no verification).
      ...(Option.isSome(authenticator)
        ? [rpcServerAuthentication(authenticator.value, (yield* Metrics.orUnscraped).catalogue, context)]
        : []),
      // After authentication (the principal is known).
      ...(limits === undefined ? [] : [rpcServerRateLimit(limits, options.rateLimit)]),
      // Server spans (trace context from the call metadata); handlers join them with `withCallSpan`.
      rpcServerTracing(context),
    ]
    const channelOptions = maxReceiveMessageOption(options.maxReceiveMessageBytes ?? defaultGrpcMaxReceiveMessageBytes)
    const server = createServer(channelOptions).use(serverStages(stages))
    for (const service of options.services) service.add(server)
    server.add(HealthDefinition, HealthServiceImpl(health))
    if (options.descriptorSet !== undefined) {
      addServerReflection(server, options.descriptorSet, [...serviceNames, HealthDefinition.fullName])
    }

    // The drain and the release both shut down; the second waits for the first.
    let closing: Promise<void> | undefined
    const shutdownOnce = () => {
      closing ??= server.shutdown()
      return closing
    }

    const port = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => server.listen(address, options.credentials),
        catch: (cause) =>
          new GrpcServeError({ address, reason: cause instanceof Error ? cause.message : String(cause) }),
      }),
      () =>
        Effect.gen(function* () {
          setServing(false)
          yield* Effect.logInfo("gRPC server shutting down")
          yield* Effect.promise(shutdownOnce).pipe(
            Effect.timeoutOrElse({
              duration: shutdownTimeout,
              orElse: () =>
                Effect.logWarning("gRPC calls still running at shutdown; cancelling them").pipe(
                  Effect.andThen(Effect.sync(() => server.forceShutdown())),
                ),
            }),
          )
          yield* Effect.logInfo("gRPC server stopped")
        }),
    )
    setServing(true)
    // Drain (SIGTERM): NOT_SERVING at once, long before the server itself is released.
    yield* onDrain({
      name: "grpc health NOT_SERVING",
      phase: "accept",
      run: () => Effect.sync(() => setServing(false)),
    })
    // Then GOAWAY: the listener closes and clients open new calls elsewhere (a client reconnecting
    // to this address is refused); calls still running finish (bounded by the drain deadline).
    yield* onDrain({
      name: "grpc GOAWAY, running calls finish",
      phase: "work",
      run: () => Effect.promise(shutdownOnce),
    })
    yield* Effect.logInfo("gRPC server listening").pipe(
      Effect.annotateLogs({
        address: hostPort(options.host, port),
        services: serviceNames.join(","),
        reflection: options.descriptorSet !== undefined,
        tls: options.credentials !== undefined,
      }),
    )
    return GrpcServer.of({ port, setServing })
  })

  static readonly layer = <E, R>(options: Effect.Effect<GrpcServerOptions, E, R>) =>
    Layer.effect(GrpcServer, Effect.flatMap(options, GrpcServer.make))
}
