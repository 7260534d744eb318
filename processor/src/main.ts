/**
 * Processor entry point: `node processor/src/main.ts`.
 *
 * Layers, from the bottom: logging and tracing (`runService`, outermost) → drain → metrics
 * registry → configuration → broker (`BROKER_URL`, with publish metrics) and Redis
 * (`REDIS_URL`) → topic bootstrap (background, retried) → the Redis-backed building blocks
 * (order event log, outbox relay, dispatch semaphore and priority queue — these two
 * woken over one pub/sub connection by `WakeUps` —, seller directory) → the order lifecycle
 * (`Orders`), seller selection and notification, held failure reports (`PendingReports`) →
 * readiness (broker, Redis, topics, gRPC listening) → the REST server (`/metrics` too), the gRPC
 * server, the dispatch workers, the timers, demo data and the scrape-time metrics.
 *
 * SIGTERM/SIGINT drain first (`runService`, `Drain.ts`): not ready at once, gRPC health
 * NOT_SERVING, new REST requests 503; open order streams end UNAVAILABLE (the requestor
 * reconnects elsewhere); running requests, gRPC calls and dispatch jobs finish; held failure
 * reports and the outbox are flushed — all within `DRAIN_TIMEOUT_SECONDS`. Then the layers are
 * released in reverse: the servers close, the workers and timers stop (an unfinished job goes
 * back to the queue), the relay stops, Redis quits, the broker flushes, the last spans are
 * exported; exit 0.
 */
import { hostname } from "node:os"
import { archiverLayer } from "@dcent/shared/archive/Archiver"
import { ArchiveStore } from "@dcent/shared/archive/ArchiveStore"
import { Authenticator } from "@dcent/shared/auth/Authenticator"
import { AuthenticationLive } from "@dcent/shared/auth/http"
import { BrokerLive } from "@dcent/shared/bootstrap/broker"
import { sharedServiceConfig } from "@dcent/shared/bootstrap/config"
import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { Topics } from "@dcent/shared/broker/topics"
import { DistributedSemaphore } from "@dcent/shared/coordination/DistributedSemaphore"
import { PriorityQueue } from "@dcent/shared/coordination/PriorityQueue"
import { WakeUps } from "@dcent/shared/coordination/WakeUps"
import { ArchiveMetricsLive } from "@dcent/shared/metrics/archive"
import { withBrokerMetrics } from "@dcent/shared/metrics/broker"
import { queueDepthMetrics, semaphoreMetrics, withQueueMetrics } from "@dcent/shared/metrics/coordination"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { OutboxMetricsLive } from "@dcent/shared/metrics/outbox"
import { RedisMetricsLive } from "@dcent/shared/metrics/redis"
import { OrderEventLog, withOrderEventMetrics } from "@dcent/shared/orders/OrderEventLog"
import { deadLetterReportsOn, MessageKeys } from "@dcent/shared/orders/topicMessage"
import { Outbox } from "@dcent/shared/outbox/Outbox"
import { OutboxRelay } from "@dcent/shared/outbox/OutboxRelay"
import { PendingReports } from "@dcent/shared/outbox/PendingReports"
import { RateLimits } from "@dcent/shared/ratelimit/RateLimits"
import { Redis } from "@dcent/shared/redis/Redis"
import { runService } from "@dcent/shared/runtime/runService"
import { Config, Effect, Layer } from "effect"
import { ProcessorConfig, processorConfig, redisKeyPrefix } from "./config.ts"
import { DemoDataLive } from "./demo/DemoData.ts"
import { DispatchLive, dispatchSemaphore } from "./dispatch/Dispatch.ts"
import { TimersLive } from "./expiry/Timers.ts"
import { GrpcListening, GrpcLive } from "./grpc/server.ts"
import { ReadinessLive } from "./health/readiness.ts"
import { HttpLive } from "./http/server.ts"
import { SellerNotifier } from "./notifications/SellerNotifier.ts"
import { dispatchQueue, Orders } from "./orders/Orders.ts"
import { processorRetention } from "./orders/retention.ts"
import { sellersConfig } from "./sellers/config.ts"
import { RoadDistance } from "./sellers/RoadDistance.ts"
import { SellerDirectory } from "./sellers/SellerDirectory.ts"
import { SellerSelection } from "./sellers/selectSellers.ts"

const InfraLive = Layer.mergeAll(Redis.layer({ keyPrefix: redisKeyPrefix }), TopicsBootstrap.layer).pipe(
  Layer.provideMerge(withBrokerMetrics(BrokerLive)),
)

/** The Redis-backed building blocks; the outbox relay runs with them. */
const StorageLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    return Layer.mergeAll(
      withOrderEventMetrics(OrderEventLog.layer),
      Outbox.layer,
      DistributedSemaphore.layer,
      withQueueMetrics(PriorityQueue.layerWith({ agingWindowMs: config.dispatchAgingMs })),
      SellerDirectory.layer,
      // One consumer per process: stable across restarts of the same replica (host + gRPC port).
      OutboxRelay.layer({
        consumerName: `${hostname()}:processor:${config.grpcPort}`,
        // Entries that can never be published are reported on PRP_FAILURES (the dead-letter path).
        deadLetterReport: deadLetterReportsOn(Topics.ProposalFailures, MessageKeys.ProposalSubmission),
      }),
      // The semaphore and the queue wait for wake-ups on one subscriber connection.
    ).pipe(Layer.provide(WakeUps.layer))
  }),
)

const DomainLive = Layer.mergeAll(
  Orders.layer,
  SellerSelection.layer.pipe(Layer.provide(RoadDistance.layer)),
  SellerNotifier.layer,
  // PRP_FAILURES reports of requests refused while Redis is down, committed once it is back.
  PendingReports.layer,
)

/** Metrics read on scrape and the Redis command timing (`/metrics` is served by the REST server). */
const MetricsLive = Layer.unwrap(
  Effect.map(ProcessorConfig, (config) =>
    Layer.mergeAll(
      RedisMetricsLive,
      OutboxMetricsLive,
      ArchiveMetricsLive,
      queueDepthMetrics(dispatchQueue),
      semaphoreMetrics(dispatchSemaphore, config.maxConcurrentTasks),
    ),
  ),
)

/**
 * `AUTH_MODE` and its keys: who is calling, on REST (`Authentication`) and gRPC (`GrpcServer`);
 * `RATE_LIMIT_*`: how much each may ask for, over Redis (both servers).
 */
const AuthLive = AuthenticationLive.pipe(Layer.provideMerge(Authenticator.layer), Layer.provideMerge(RateLimits.layer))

/** Retention: finished orders move to the archive (`DATABASE_URL`) after `ORDER_RETENTION_SECONDS`. */
const RetentionLive = Layer.unwrap(Effect.map(processorRetention, archiverLayer))

const AppLive = Layer.mergeAll(
  HttpLive,
  GrpcLive,
  DispatchLive(),
  TimersLive(),
  DemoDataLive,
  MetricsLive,
  RetentionLive,
).pipe(
  Layer.provide(ReadinessLive),
  // One flag for both: GrpcLive sets it, /readyz reads it.
  Layer.provide(GrpcListening.layer),
  Layer.provideMerge(DomainLive),
  Layer.provideMerge(StorageLive),
  // The archive (PostgreSQL): reads of archived orders, and where retention writes them.
  Layer.provideMerge(ArchiveStore.layer),
  // Above Redis: the rate limits keep their counters there.
  Layer.provideMerge(AuthLive),
  Layer.provideMerge(InfraLive),
  Layer.provide(ProcessorConfig.layer),
  Layer.provide(Metrics.layer("processor")),
)

runService("processor", AppLive, {
  config: Config.all([processorConfig, sellersConfig, sharedServiceConfig]),
})
