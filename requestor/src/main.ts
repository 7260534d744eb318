/**
 * Requestor entry point: `node requestor/src/main.ts`.
 *
 * Layers, from the bottom: logging and tracing (`runService`, outermost) → drain → metrics
 * registry → configuration → broker (`BROKER_URL`, with publish metrics) and Redis
 * (`REDIS_URL`) → topic bootstrap (background, retried) → readiness → outbox relay → event log,
 * order store, processor client (`PROCESSOR_GRPC_URL`) → held failure reports (`PendingReports`)
 * → stream holders (each live order's processor stream, held by the replica that owns the
 * order's shard, `STREAM_SHARDS` leased among the replicas) → orders → order events → REST server (:8000, `/metrics` too) and
 * public gRPC server (`WatchOrder`, :50052) → watch shutdown, demo data, scrape-time metrics.
 *
 * SIGTERM/SIGINT drain first (`runService`, `Drain.ts`): not ready at once, new REST requests
 * 503; open watches (SSE, WatchOrder) told to reconnect elsewhere; running requests and calls
 * finish; held failure reports and the outbox are flushed — all within `DRAIN_TIMEOUT_SECONDS`.
 * Then the layers are released in reverse: the servers close, the stream holders stop and
 * release their shards, announcing the hand-over (the other replicas take those shards over at
 * once and resume their orders from the last recorded seq), the relay stops, Redis quits, the broker flushes, the
 * last spans are exported; exit 0.
 */

import { hostname } from "node:os"
import { archiverLayer } from "@dcent/shared/archive/Archiver"
import { ArchiveStore } from "@dcent/shared/archive/ArchiveStore"
import { Authenticator } from "@dcent/shared/auth/Authenticator"
import { AuthenticationLive } from "@dcent/shared/auth/http"
import { ServiceCredential } from "@dcent/shared/auth/ServiceCredential"
import { BrokerLive } from "@dcent/shared/bootstrap/broker"
import { sharedServiceConfig } from "@dcent/shared/bootstrap/config"
import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { Topics } from "@dcent/shared/broker/topics"
import { ArchiveMetricsLive } from "@dcent/shared/metrics/archive"
import { withBrokerMetrics } from "@dcent/shared/metrics/broker"
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
import { GrpcLive, WatchShutdownLive } from "./buyer-streams/grpc.ts"
import { OrderEvents } from "./buyer-streams/OrderEvents.ts"
import { RequestorConfig, redisKeyPrefix, requestorConfig } from "./config.ts"
import { ReadinessLive } from "./health/readiness.ts"
import { HttpLive } from "./http/server.ts"
import { DemoDataLive } from "./orders/demo.ts"
import { OrderFailureReports } from "./orders/failureReports.ts"
import { OrderStore } from "./orders/OrderStore.ts"
import { Orders } from "./orders/Orders.ts"
import { requestorRetention } from "./orders/retention.ts"
import { ProcessorClient } from "./processor/ProcessorClient.ts"
import { StreamHolder } from "./processor-streams/StreamHolder.ts"

const InfraLive = Layer.mergeAll(Redis.layer({ keyPrefix: redisKeyPrefix }), TopicsBootstrap.layer).pipe(
  Layer.provideMerge(withBrokerMetrics(BrokerLive)),
)

/** The event log and what reads or writes it, over Redis. */
const StorageLive = Layer.mergeAll(withOrderEventMetrics(OrderEventLog.layer), Outbox.layer, OrderStore.layer)

const OrdersLive = Orders.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(StreamHolder.layer, OrderFailureReports.layer)),
  // REQ_failures reports of requests refused while Redis is down, committed once it is back.
  Layer.provideMerge(PendingReports.layer),
  Layer.provideMerge(Layer.mergeAll(StorageLive, ProcessorClient.layer)),
)

/**
 * `AUTH_MODE` and its keys: who is calling (REST, gRPC) and the requestor's own credential for the
 * processor; `RATE_LIMIT_*`: how much each may ask for, over Redis (REST, SSE, WatchOrder).
 */
const AuthLive = Layer.mergeAll(AuthenticationLive, ServiceCredential.layer("requestor")).pipe(
  Layer.provideMerge(Authenticator.layer),
  Layer.provideMerge(RateLimits.layer),
)

const ServersLive = Layer.mergeAll(HttpLive, GrpcLive)

/** One relay consumer per process: unique on the host (the REST port), stable across restarts. */
const OutboxRelayLive = Layer.unwrap(
  Effect.map(RequestorConfig, (config) =>
    OutboxRelay.layer({
      consumerName: `requestor@${hostname()}:${config.httpPort}`,
      // Entries that can never be published are reported on REQ_failures (the dead-letter path).
      deadLetterReport: deadLetterReportsOn(Topics.RequestFailures, MessageKeys.OrderUpdates),
    }),
  ),
)

/** Metrics read on scrape and the Redis command timing (`/metrics` is served by the REST server). */
const MetricsLive = Layer.mergeAll(RedisMetricsLive, OutboxMetricsLive, ArchiveMetricsLive)

/** Retention: finished orders move to the archive (`DATABASE_URL`) after `ORDER_RETENTION_SECONDS`. */
const RetentionLive = Layer.unwrap(Effect.map(requestorRetention, archiverLayer))

const AppLive = Layer.mergeAll(WatchShutdownLive, DemoDataLive, MetricsLive, RetentionLive).pipe(
  // Built after the servers, so released before them: open watches end before the servers drain.
  Layer.provide(ServersLive),
  Layer.provideMerge(OrderEvents.layer),
  Layer.provideMerge(OrdersLive),
  Layer.provideMerge(OutboxRelayLive),
  Layer.provideMerge(ReadinessLive),
  // Above Redis: the rate limits keep their counters there.
  Layer.provideMerge(AuthLive),
  Layer.provideMerge(InfraLive),
  // The archive (PostgreSQL): reads of archived orders, and where retention writes them.
  Layer.provideMerge(ArchiveStore.layer),
  Layer.provideMerge(RequestorConfig.layer),
  Layer.provideMerge(Metrics.layer("requestor")),
)

runService("requestor", AppLive, {
  config: Config.all([requestorConfig, sharedServiceConfig]),
})
