/** The processor's settings, read from the environment and validated at start-up. */
import { flag, port, positiveInt } from "@dcent/shared/config/env"
import { serverConfig } from "@dcent/shared/config/servers"
import { SettingsService } from "@dcent/shared/config/settings"
import { Config, Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))

export const processorConfig = Config.all({
  /** `PROCESSOR_HTTP_PORT` (8001): REST, `/docs`, `/healthz`, `/readyz`. */
  httpPort: port("PROCESSOR_HTTP_PORT", 8001),
  /** `GRPC_SERVER_PORT` (50051): gRPC (order services, health, reflection). */
  grpcPort: port("GRPC_SERVER_PORT", 50051),
  /**
   * `HTTP_HOST`, `GRPC_SERVER_HOST`, admission control, input limits, TLS (`@dcent/shared/config/servers`);
   * `GRPC_MAX_STREAMS` 150000: the target is 100,000 live orders, one `ProcessOrderStream` each.
   */
  ...serverConfig({ grpcMaxStreams: 150_000 }),
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
  /** `DEMO_DATA` (false): register the demo sellers (`SELLER-001` … near the original dCent README's `ORD-001`) at start-up. */
  demoData: flag("DEMO_DATA", false),
})

export class ProcessorConfig extends SettingsService<ProcessorConfig>()(
  "dcent/processor/ProcessorConfig",
  processorConfig,
) {}

/** Prefix of every Redis key the processor writes. */
export const redisKeyPrefix = "dcent:processor:"
