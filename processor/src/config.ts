/** The processor's settings, read from the environment and validated at start-up. */
import { host, port, positiveInt } from "@dcent/shared/config/env"
import { Config, Context, Layer } from "effect"

export const processorConfig = Config.all({
  /** `PROCESSOR_HTTP_PORT` (8001): REST, `/docs`, `/healthz`, `/readyz`. */
  httpPort: port("PROCESSOR_HTTP_PORT", 8001),
  /** `HTTP_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the REST server binds. */
  httpHost: host("HTTP_HOST", "127.0.0.1"),
  /** `GRPC_SERVER_PORT` (50051): gRPC (order services, health, reflection). */
  grpcPort: port("GRPC_SERVER_PORT", 50051),
  /** `GRPC_SERVER_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the gRPC server binds. */
  grpcHost: host("GRPC_SERVER_HOST", "127.0.0.1"),
  /** `MAX_CONCURRENT_TASKS` (10): dispatch jobs running at once across all processor replicas. */
  maxConcurrentTasks: positiveInt("MAX_CONCURRENT_TASKS", 10),
  /** `ORDER_EXPIRY_MINUTES` (30): a submitted order pauses (`expired`) after this. */
  orderExpiryMinutes: positiveInt("ORDER_EXPIRY_MINUTES", 30),
  /** `FIND_MAX_SEL` (10): sellers selected per order. */
  findMaxSel: positiveInt("FIND_MAX_SEL", 10),
})

export type ProcessorConfigShape = typeof processorConfig extends Config.Config<infer A> ? A : never

export class ProcessorConfig extends Context.Service<ProcessorConfig, ProcessorConfigShape>()(
  "dcent/processor/ProcessorConfig",
) {
  static readonly layer = Layer.effect(ProcessorConfig, processorConfig)
}

/** Prefix of every Redis key the processor writes. */
export const redisKeyPrefix = "dcent:processor:"
