/**
 * Every metric the services export, defined once (Prometheus conventions: base units in the
 * name, `_total` on counters). Dashboards and alert rules (`observability/`) are written against
 * these names and labels; `metricNames` lists them for checks.
 *
 * Both services register the whole catalogue (a series a service never records shows as HELP and
 * TYPE only), plus `service` as a default label and Node's default process metrics.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client"

/** 1 ms … 10 s: HTTP and gRPC calls, broker publishes, end-to-end event delivery. */
export const latencyBuckets: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]

/** 50 µs … 1 s: Redis commands. */
export const redisBuckets: ReadonlyArray<number> = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
]

/** 1 ms … 10 min: time a dispatch job waits in the priority queue. */
export const queueWaitBuckets: ReadonlyArray<number> = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600,
]

/** Values of `dcent_streams_open{stream}` and `dcent_stream_disconnects_total{stream}`. */
export const StreamKinds = {
  /** processor: orders streamed now (`ProcessOrderStream` calls, and orders open on `ProcessOrderStreams` calls) */
  ProcessorOrderStream: "processor_order_stream",
  /** requestor: the live orders whose streams it holds */
  RequestorOrderStream: "requestor_order_stream",
  /** both: multiplexed `ProcessOrderStreams` calls (the requestor holds one per owned shard) */
  OrderStreamsCall: "order_streams_call",
  /** requestor: public gRPC `WatchOrder` calls */
  WatchOrder: "watch_order",
  /** requestor: SSE responses */
  Sse: "sse",
} as const
export type StreamKind = (typeof StreamKinds)[keyof typeof StreamKinds]

/** Values of `dcent_stream_disconnects_total{reason}`. */
export const DisconnectReasons = {
  ClientClosed: "client_closed",
  Error: "error",
  Shutdown: "shutdown",
  Completed: "completed",
} as const
export type DisconnectReason = (typeof DisconnectReasons)[keyof typeof DisconnectReasons]

/** Values of `dcent_event_delivery_latency_seconds{stage}`: from the event's `occurred_at` to … */
export const DeliveryStages = {
  /** … the requestor receiving it on its processor stream */
  Stream: "stream",
  /** … it being written to a `WatchOrder` client */
  WatchOrder: "watch_order",
  /** … it being written to an SSE client */
  Sse: "sse",
  /** … the broker acknowledging the topic message carrying it */
  Topic: "topic",
} as const
export type DeliveryStage = (typeof DeliveryStages)[keyof typeof DeliveryStages]

/** Values of `dcent_pending_reports_dropped_total{reason}`. */
export const DroppedReportReasons = {
  /** the in-memory queue was full during a Redis outage: the oldest report gave way */
  Capacity: "capacity",
  /** at drain neither Redis nor the broker took it */
  Lost: "lost",
} as const

/** Values of `dcent_admission_*{entry}`: the entries admission control guards (`../admission`). */
export const AdmissionEntries = {
  /** REST requests (both services; probes and `/metrics` exempt) */
  Http: "http",
  /** unary gRPC calls (processor; health and reflection exempt) */
  GrpcUnary: "grpc_unary",
  /** open gRPC server streams: `ProcessOrderStream` (processor), `WatchOrder` (requestor) */
  GrpcStream: "grpc_stream",
  /** open SSE responses (requestor) */
  Sse: "sse",
} as const
export type AdmissionEntry = (typeof AdmissionEntries)[keyof typeof AdmissionEntries]

/** Values of `dcent_admission_refused_total{reason}`. */
export const RefusalReasons = {
  /** the bound on work in flight was reached and the wait queue (if any) was full */
  Capacity: "capacity",
  /** the request waited in the queue for its longest allowed wait without getting a slot */
  QueueTimeout: "queue_timeout",
} as const
export type RefusalReason = (typeof RefusalReasons)[keyof typeof RefusalReasons]

/** Values of `dcent_auth_denials_total{entry}`: where a request was refused (`../auth`). */
export const AuthEntries = {
  Http: "http",
  Sse: "sse",
  Grpc: "grpc",
} as const
export type AuthEntry = (typeof AuthEntries)[keyof typeof AuthEntries]

/** Values of `dcent_rate_limit_refused_total{entry}`: where a request was refused (`../ratelimit`). */
export const RateLimitEntries = {
  Http: "http",
  Sse: "sse",
  Grpc: "grpc",
} as const
export type RateLimitEntry = (typeof RateLimitEntries)[keyof typeof RateLimitEntries]

/** `dcent_rate_limit_refused_total{class}` of a stream refused by the cap on open streams per principal. */
export const concurrentStreamsClass = "concurrent_streams"

/** Route label of requests no route matched. */
export const unmatchedRoute = "unmatched"

export const MetricNames = {
  httpRequestDuration: "http_server_request_duration_seconds",
  httpActiveRequests: "http_server_active_requests",
  rpcServerDuration: "rpc_server_call_duration_seconds",
  rpcClientDuration: "rpc_client_call_duration_seconds",
  streamsOpen: "dcent_streams_open",
  streamDisconnects: "dcent_stream_disconnects_total",
  orderEvents: "dcent_order_events_total",
  queueDepth: "dcent_queue_depth",
  queueWait: "dcent_queue_wait_seconds",
  semaphorePermits: "dcent_semaphore_permits",
  semaphorePermitsInUse: "dcent_semaphore_permits_in_use",
  semaphoreWaiters: "dcent_semaphore_waiters",
  outboxLag: "dcent_outbox_lag_seconds",
  outboxPending: "dcent_outbox_pending_entries",
  pendingReports: "dcent_pending_reports",
  pendingReportsDropped: "dcent_pending_reports_dropped_total",
  brokerPublished: "dcent_broker_published_messages_total",
  brokerPublishErrors: "dcent_broker_publish_errors_total",
  brokerPublishDuration: "dcent_broker_publish_duration_seconds",
  brokerConsumed: "dcent_broker_consumed_messages_total",
  brokerConsumeErrors: "dcent_broker_consume_errors_total",
  brokerConsumerLag: "dcent_broker_consumer_lag_messages",
  redisCommandDuration: "dcent_redis_command_duration_seconds",
  redisMemoryUsed: "dcent_redis_memory_used_bytes",
  redisMemoryMax: "dcent_redis_memory_max_bytes",
  redisOutOfMemoryRefusals: "dcent_redis_oom_refusals_total",
  eventDeliveryLatency: "dcent_event_delivery_latency_seconds",
  shardClaimLag: "dcent_shard_claim_lag_seconds",
  admissionInFlight: "dcent_admission_in_flight",
  admissionQueued: "dcent_admission_queued",
  admissionLimit: "dcent_admission_limit",
  admissionRefused: "dcent_admission_refused_total",
  authDenials: "dcent_auth_denials_total",
  rateLimitRefused: "dcent_rate_limit_refused_total",
  rateLimitFallbacks: "dcent_rate_limit_store_fallbacks_total",
  ordersLive: "dcent_orders_live",
  ordersRetained: "dcent_orders_retained",
  ordersArchived: "dcent_orders_archived_total",
  archiveLag: "dcent_archive_lag_seconds",
  archiveErrors: "dcent_archive_errors_total",
} as const

/** Values of `dcent_archive_errors_total{step}`: the archiving step that failed (`../archive`). */
export const ArchiveErrorSteps = ["scan", "claim", "read", "write", "verify", "delete"] as const

/** Every metric name of the catalogue (not Node's default process metrics). */
export const metricNames: ReadonlyArray<string> = Object.values(MetricNames)

const rpcLabels = ["rpc_service", "rpc_method", "rpc_grpc_status_code"] as const

/** Creates the catalogue's metrics in `registry`. */
export const makeCatalogue = (registry: Registry) => {
  const registers = [registry]
  return {
    httpRequestDuration: new Histogram({
      name: MetricNames.httpRequestDuration,
      help: "Duration of REST requests, by method, route template and status code.",
      labelNames: ["method", "route", "status_code"] as const,
      buckets: [...latencyBuckets],
      registers,
    }),
    httpActiveRequests: new Gauge({
      name: MetricNames.httpActiveRequests,
      help: "REST requests being handled now.",
      labelNames: ["method"] as const,
      registers,
    }),
    rpcServerDuration: new Histogram({
      name: MetricNames.rpcServerDuration,
      help: "Duration of gRPC calls served (for server streams: the stream's life), by service, method and status code.",
      labelNames: rpcLabels,
      buckets: [...latencyBuckets],
      registers,
    }),
    rpcClientDuration: new Histogram({
      name: MetricNames.rpcClientDuration,
      help: "Duration of gRPC calls made (for server streams: the stream's life), by service, method and status code.",
      labelNames: rpcLabels,
      buckets: [...latencyBuckets],
      registers,
    }),
    streamsOpen: new Gauge({
      name: MetricNames.streamsOpen,
      help: "Event streams open now: processor_order_stream, requestor_order_stream, order_streams_call, watch_order, sse.",
      labelNames: ["stream"] as const,
      registers,
    }),
    streamDisconnects: new Counter({
      name: MetricNames.streamDisconnects,
      help: "Event streams that ended, by stream and reason (client_closed, error, shutdown, completed).",
      labelNames: ["stream", "reason"] as const,
      registers,
    }),
    orderEvents: new Counter({
      name: MetricNames.orderEvents,
      help: "Order events committed (processor) or recorded in the buyer-facing log (requestor), by status.",
      labelNames: ["status"] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: MetricNames.queueDepth,
      help: "Dispatch jobs waiting in the priority queue (shared by all replicas), by priority.",
      labelNames: ["priority"] as const,
      registers,
    }),
    queueWait: new Histogram({
      name: MetricNames.queueWait,
      help: "Time a dispatch job waited between enqueue and dequeue, by priority.",
      labelNames: ["priority"] as const,
      buckets: [...queueWaitBuckets],
      registers,
    }),
    semaphorePermits: new Gauge({
      name: MetricNames.semaphorePermits,
      help: "Permits of a distributed semaphore (its limit).",
      labelNames: ["semaphore"] as const,
      registers,
    }),
    semaphorePermitsInUse: new Gauge({
      name: MetricNames.semaphorePermitsInUse,
      help: "Permits of a distributed semaphore held now, across all replicas.",
      labelNames: ["semaphore"] as const,
      registers,
    }),
    semaphoreWaiters: new Gauge({
      name: MetricNames.semaphoreWaiters,
      help: "Callers waiting for a permit of a distributed semaphore now, across all replicas.",
      labelNames: ["semaphore"] as const,
      registers,
    }),
    outboxLag: new Gauge({
      name: MetricNames.outboxLag,
      help: "Age of the oldest outbox entry not yet published (0 when the outbox is empty).",
      registers,
    }),
    outboxPending: new Gauge({
      name: MetricNames.outboxPending,
      help: "Outbox entries not yet published.",
      registers,
    }),
    pendingReports: new Gauge({
      name: MetricNames.pendingReports,
      help: "Failure reports held in memory until Redis (the outbox) is back, in this process.",
      registers,
    }),
    pendingReportsDropped: new Counter({
      name: MetricNames.pendingReportsDropped,
      help: "Failure reports never delivered, by reason (capacity: the held queue was full; lost: neither Redis nor the broker took it at drain).",
      labelNames: ["reason"] as const,
      registers,
    }),
    brokerPublished: new Counter({
      name: MetricNames.brokerPublished,
      help: "Messages the broker acknowledged, by topic.",
      labelNames: ["topic"] as const,
      registers,
    }),
    brokerPublishErrors: new Counter({
      name: MetricNames.brokerPublishErrors,
      help: "Failed publish attempts, by topic.",
      labelNames: ["topic"] as const,
      registers,
    }),
    brokerPublishDuration: new Histogram({
      name: MetricNames.brokerPublishDuration,
      help: "Time from publish to the broker's acknowledgement (or failure), by topic.",
      labelNames: ["topic"] as const,
      buckets: [...latencyBuckets],
      registers,
    }),
    brokerConsumed: new Counter({
      name: MetricNames.brokerConsumed,
      help: "Messages handled successfully by a subscriber, by topic and consumer group.",
      labelNames: ["topic", "group"] as const,
      registers,
    }),
    brokerConsumeErrors: new Counter({
      name: MetricNames.brokerConsumeErrors,
      help: "Messages whose handler failed (redelivered), by topic and consumer group.",
      labelNames: ["topic", "group"] as const,
      registers,
    }),
    brokerConsumerLag: new Gauge({
      name: MetricNames.brokerConsumerLag,
      help: "Messages not yet consumed by a consumer group, by topic and group.",
      labelNames: ["topic", "group"] as const,
      registers,
    }),
    redisCommandDuration: new Histogram({
      name: MetricNames.redisCommandDuration,
      help: "Duration of Redis commands (send → reply), by lower-case command name.",
      labelNames: ["command"] as const,
      buckets: [...redisBuckets],
      registers,
    }),
    redisMemoryUsed: new Gauge({
      name: MetricNames.redisMemoryUsed,
      help: "Memory Redis uses (INFO memory used_memory), read on every scrape.",
      registers,
    }),
    redisMemoryMax: new Gauge({
      name: MetricNames.redisMemoryMax,
      help: "Redis's maxmemory (0: no limit); at the limit it refuses writes (noeviction).",
      registers,
    }),
    redisOutOfMemoryRefusals: new Counter({
      name: MetricNames.redisOutOfMemoryRefusals,
      help: "Commands of this process that Redis refused because it reached maxmemory.",
      registers,
    }),
    shardClaimLag: new Histogram({
      name: MetricNames.shardClaimLag,
      help: "How late each shard-lease claim completed against its schedule (timer lateness + round trip); the lease TTL is the slack",
      buckets: [...latencyBuckets],
      registers,
    }),
    eventDeliveryLatency: new Histogram({
      name: MetricNames.eventDeliveryLatency,
      help: "Time from an order event's occurred_at to its delivery, by stage (stream, watch_order, sse, topic).",
      labelNames: ["stage"] as const,
      buckets: [...latencyBuckets],
      registers,
    }),
    admissionInFlight: new Gauge({
      name: MetricNames.admissionInFlight,
      help: "Work admitted and holding a slot now, by entry (http, grpc_unary, grpc_stream, sse).",
      labelNames: ["entry"] as const,
      registers,
    }),
    admissionQueued: new Gauge({
      name: MetricNames.admissionQueued,
      help: "Requests waiting for a slot now, by entry (only http has a wait queue).",
      labelNames: ["entry"] as const,
      registers,
    }),
    admissionLimit: new Gauge({
      name: MetricNames.admissionLimit,
      help: "The configured bound on work in flight, by entry.",
      labelNames: ["entry"] as const,
      registers,
    }),
    admissionRefused: new Counter({
      name: MetricNames.admissionRefused,
      help: "Requests refused by admission control before any work was done, by entry and reason (capacity, queue_timeout).",
      labelNames: ["entry", "reason"] as const,
      registers,
    }),
    authDenials: new Counter({
      name: MetricNames.authDenials,
      help: "Requests refused by authentication (401 / UNAUTHENTICATED) or authorization (403 / PERMISSION_DENIED), by entry (http, sse, grpc), status and reason.",
      labelNames: ["entry", "status", "reason"] as const,
      registers,
    }),
    rateLimitRefused: new Counter({
      name: MetricNames.rateLimitRefused,
      help: "Requests refused by rate limiting (429 / RESOURCE_EXHAUSTED), by entry (http, sse, grpc) and class (write, read, stream, unary, concurrent_streams).",
      labelNames: ["entry", "class"] as const,
      registers,
    }),
    rateLimitFallbacks: new Counter({
      name: MetricNames.rateLimitFallbacks,
      help: "Rate-limit decisions taken by the per-replica fallback because Redis did not answer in time, by class.",
      labelNames: ["class"] as const,
      registers,
    }),
    ordersLive: new Gauge({
      name: MetricNames.ordersLive,
      help: "Orders in Redis that are not finalised (submitted or paused), shared by the service's replicas.",
      registers,
    }),
    ordersRetained: new Gauge({
      name: MetricNames.ordersRetained,
      help: "Orders that ended (finalised, or paused by expiry) and are still in Redis, waiting for ORDER_RETENTION_SECONDS and the archive.",
      registers,
    }),
    ordersArchived: new Counter({
      name: MetricNames.ordersArchived,
      help: "Orders this process wrote to the archive (PostgreSQL), confirmed and removed from Redis.",
      registers,
    }),
    archiveLag: new Gauge({
      name: MetricNames.archiveLag,
      help: "How long the oldest order due for archiving has been due (ended + ORDER_RETENTION_SECONDS ago); 0 when none is due or the archive is off.",
      registers,
    }),
    archiveErrors: (() => {
      const counter = new Counter({
        name: MetricNames.archiveErrors,
        help: "Failed archiving attempts, by step (scan, claim, read, write, verify, delete); the order stays in Redis and is tried again.",
        labelNames: ["step"] as const,
        registers,
      })
      for (const step of ArchiveErrorSteps) counter.inc({ step }, 0)
      return counter
    })(),
  }
}

export type Catalogue = ReturnType<typeof makeCatalogue>
