/** The processor's settings, read from the environment and validated at start-up. */
import { grpcAdmissionConfig, httpAdmissionConfig } from "@dcent/shared/admission/config"
import { flag, host, port, positiveInt } from "@dcent/shared/config/env"
import { tlsConfig } from "@dcent/shared/config/tls"
import { grpcMaxReceiveMessageBytesConfig } from "@dcent/shared/grpc/limits"
import { httpLimitsConfig } from "@dcent/shared/http/limits"
import { Config, Context, Layer, Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))

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
  /** `ORDER_EXPIRY_MINUTES` (30): a submitted order pauses (`expired`) after this; fractions allowed (0.5 = 30 s). */
  orderExpiryMinutes: Config.schema(PositiveNumber, "ORDER_EXPIRY_MINUTES").pipe(Config.withDefault(30)),
  /** `FIND_MAX_SEL` (10): sellers selected per order. */
  findMaxSel: positiveInt("FIND_MAX_SEL", 10),
  /** `EDIT_LOCK_TTL_SECONDS` (300): how long a proposal's edit lock lasts unless released or renewed. */
  editLockTtlSeconds: positiveInt("EDIT_LOCK_TTL_SECONDS", 300),
  /** `DISPATCH_WORKERS` (default `MAX_CONCURRENT_TASKS`): queue worker fibers of this replica. */
  dispatchWorkers: Config.option(Config.schema(PositiveInt, "DISPATCH_WORKERS")),
  /** `DISPATCH_AGING_MS` (30000): aging window of the dispatch queue (a LOW job waits at most 2× this behind HIGH ones). */
  dispatchAgingMs: positiveInt("DISPATCH_AGING_MS", 30_000),
  /** `TIMER_POLL_MS` (250): how often this replica looks for due timers (order expiry, edit-lock TTL). */
  timerPollMs: positiveInt("TIMER_POLL_MS", 250),
  /**
   * `HTTP_MAX_IN_FLIGHT` (512), `HTTP_MAX_QUEUE` (1024), `HTTP_QUEUE_TIMEOUT_MS` (1000),
   * `OVERLOAD_RETRY_AFTER_SECONDS` (1): REST admission control (past them 503 `overloaded`).
   */
  httpAdmission: httpAdmissionConfig,
  /**
   * `GRPC_MAX_UNARY_IN_FLIGHT` (1024), `GRPC_MAX_STREAMS` (150000: the target is 100,000 live
   * orders, one `ProcessOrderStream` each): gRPC admission control (past them RESOURCE_EXHAUSTED).
   */
  grpcAdmission: grpcAdmissionConfig(150_000),
  /** `HTTP_MAX_BODY_BYTES`, `HTTP_MAX_URL_LENGTH`, `HTTP_MAX_HEADER_BYTES`, `HTTP_*_TIMEOUT_MS`: hostile input (`http/limits.ts`). */
  httpLimits: httpLimitsConfig,
  /** `GRPC_MAX_RECEIVE_MESSAGE_BYTES` (1 MiB): the largest gRPC message accepted. */
  grpcMaxReceiveMessageBytes: grpcMaxReceiveMessageBytesConfig,
  /** `TLS_CA_FILE`, `TLS_CERT_FILE`, `TLS_KEY_FILE`: https / gRPC over TLS, mutual TLS to the processor (`config/tls.ts`). */
  tls: tlsConfig,
  /** `DEMO_DATA` (false): register the demo sellers (`SELLER-001` … near the original dCent README's `ORD-001`) at start-up. */
  demoData: flag("DEMO_DATA", false),
})

export type ProcessorConfigShape = Config.Success<typeof processorConfig>

export class ProcessorConfig extends Context.Service<ProcessorConfig, ProcessorConfigShape>()(
  "dcent/processor/ProcessorConfig",
) {
  static readonly layer = Layer.effect(ProcessorConfig, processorConfig)
}

/** Prefix of every Redis key the processor writes. */
export const redisKeyPrefix = "dcent:processor:"
