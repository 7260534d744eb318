/**
 * Every metric the services export, defined once (Prometheus conventions: base units in the
 * name, `_total` on counters). Dashboards and alert rules (`observability/`) are written against
 * these names and labels; `metricNames` lists them for checks.
 *
 * Both services register the whole catalogue (a series a service never records shows as HELP and
 * TYPE only), plus `service` as a default label and Node's default process metrics.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client"

/** The label values a table of this module (`StreamKinds`, `AdmissionEntries`, …) allows. */
type LabelValue<Table extends Record<string, string>> = Table[keyof Table]

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
export type StreamKind = LabelValue<typeof StreamKinds>

/** Values of `dcent_stream_disconnects_total{reason}`. */
export const DisconnectReasons = {
  ClientClosed: "client_closed",
  Error: "error",
  Shutdown: "shutdown",
  Completed: "completed",
} as const
export type DisconnectReason = LabelValue<typeof DisconnectReasons>

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
export type DeliveryStage = LabelValue<typeof DeliveryStages>

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
export type AdmissionEntry = LabelValue<typeof AdmissionEntries>

/** Values of `dcent_admission_refused_total{reason}`. */
export const RefusalReasons = {
  /** the bound on work in flight was reached and the wait queue (if any) was full */
  Capacity: "capacity",
  /** the request waited in the queue for its longest allowed wait without getting a slot */
  QueueTimeout: "queue_timeout",
} as const
export type RefusalReason = LabelValue<typeof RefusalReasons>

/** The entries where authentication and rate limiting refuse a request: one `entry` label set for both. */
const RefusingEntries = {
  Http: "http",
  Sse: "sse",
  Grpc: "grpc",
} as const

/** Values of `dcent_auth_denials_total{entry}`: where a request was refused (`../auth`). */
export const AuthEntries = RefusingEntries
export type AuthEntry = LabelValue<typeof AuthEntries>

/** Values of `dcent_rate_limit_refused_total{entry}`: where a request was refused (`../ratelimit`). */
export const RateLimitEntries = RefusingEntries
export type RateLimitEntry = LabelValue<typeof RateLimitEntries>

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
  const counter = <L extends string = string>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
    new Counter<L>({ name, help, labelNames, registers })
  const gauge = <L extends string = string>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
    new Gauge<L>({ name, help, labelNames, registers })
  const histogram = <L extends string = string>(
    name: string,
    help: string,
    buckets: ReadonlyArray<number>,
    labelNames: ReadonlyArray<L> = [],
  ) => new Histogram<L>({ name, help, labelNames, buckets: [...buckets], registers })
  return {
    httpRequestDuration: histogram(
      MetricNames.httpRequestDuration,
      "Duration of REST requests, by method, route template and status code.",
      latencyBuckets,
      ["method", "route", "status_code"],
    ),
    httpActiveRequests: gauge(MetricNames.httpActiveRequests, "REST requests being handled now.", ["method"]),
    rpcServerDuration: histogram(
      MetricNames.rpcServerDuration,
      "Duration of gRPC calls served (for server streams: the stream's life), by service, method and status code.",
      latencyBuckets,
      rpcLabels,
    ),
    rpcClientDuration: histogram(
      MetricNames.rpcClientDuration,
      "Duration of gRPC calls made (for server streams: the stream's life), by service, method and status code.",
      latencyBuckets,
      rpcLabels,
    ),
    streamsOpen: gauge(
      MetricNames.streamsOpen,
      "Event streams open now: processor_order_stream, requestor_order_stream, order_streams_call, watch_order, sse.",
      ["stream"],
    ),
    streamDisconnects: counter(
      MetricNames.streamDisconnects,
      "Event streams that ended, by stream and reason (client_closed, error, shutdown, completed).",
      ["stream", "reason"],
    ),
    orderEvents: counter(
      MetricNames.orderEvents,
      "Order events committed (processor) or recorded in the buyer-facing log (requestor), by status.",
      ["status"],
    ),
    queueDepth: gauge(
      MetricNames.queueDepth,
      "Dispatch jobs waiting in the priority queue (shared by all replicas), by priority.",
      ["priority"],
    ),
    queueWait: histogram(
      MetricNames.queueWait,
      "Time a dispatch job waited between enqueue and dequeue, by priority.",
      queueWaitBuckets,
      ["priority"],
    ),
    semaphorePermits: gauge(MetricNames.semaphorePermits, "Permits of a distributed semaphore (its limit).", [
      "semaphore",
    ]),
    semaphorePermitsInUse: gauge(
      MetricNames.semaphorePermitsInUse,
      "Permits of a distributed semaphore held now, across all replicas.",
      ["semaphore"],
    ),
    semaphoreWaiters: gauge(
      MetricNames.semaphoreWaiters,
      "Callers waiting for a permit of a distributed semaphore now, across all replicas.",
      ["semaphore"],
    ),
    outboxLag: gauge(
      MetricNames.outboxLag,
      "Age of the oldest outbox entry not yet published (0 when the outbox is empty).",
    ),
    outboxPending: gauge(MetricNames.outboxPending, "Outbox entries not yet published."),
    pendingReports: gauge(
      MetricNames.pendingReports,
      "Failure reports held in memory until Redis (the outbox) is back, in this process.",
    ),
    pendingReportsDropped: counter(
      MetricNames.pendingReportsDropped,
      "Failure reports never delivered, by reason (capacity: the held queue was full; lost: neither Redis nor the broker took it at drain).",
      ["reason"],
    ),
    brokerPublished: counter(MetricNames.brokerPublished, "Messages the broker acknowledged, by topic.", ["topic"]),
    brokerPublishErrors: counter(MetricNames.brokerPublishErrors, "Failed publish attempts, by topic.", ["topic"]),
    brokerPublishDuration: histogram(
      MetricNames.brokerPublishDuration,
      "Time from publish to the broker's acknowledgement (or failure), by topic.",
      latencyBuckets,
      ["topic"],
    ),
    brokerConsumed: counter(
      MetricNames.brokerConsumed,
      "Messages handled successfully by a subscriber, by topic and consumer group.",
      ["topic", "group"],
    ),
    brokerConsumeErrors: counter(
      MetricNames.brokerConsumeErrors,
      "Messages whose handler failed (redelivered), by topic and consumer group.",
      ["topic", "group"],
    ),
    brokerConsumerLag: gauge(
      MetricNames.brokerConsumerLag,
      "Messages not yet consumed by a consumer group, by topic and group.",
      ["topic", "group"],
    ),
    redisCommandDuration: histogram(
      MetricNames.redisCommandDuration,
      "Duration of Redis commands (send → reply), by lower-case command name.",
      redisBuckets,
      ["command"],
    ),
    redisMemoryUsed: gauge(
      MetricNames.redisMemoryUsed,
      "Memory Redis uses (INFO memory used_memory), read on every scrape.",
    ),
    redisMemoryMax: gauge(
      MetricNames.redisMemoryMax,
      "Redis's maxmemory (0: no limit); at the limit it refuses writes (noeviction).",
    ),
    redisOutOfMemoryRefusals: counter(
      MetricNames.redisOutOfMemoryRefusals,
      "Commands of this process that Redis refused because it reached maxmemory.",
    ),
    shardClaimLag: histogram(
      MetricNames.shardClaimLag,
      "How late each shard-lease claim completed against its schedule (timer lateness + round trip); the lease TTL is the slack",
      latencyBuckets,
    ),
    eventDeliveryLatency: histogram(
      MetricNames.eventDeliveryLatency,
      "Time from an order event's occurred_at to its delivery, by stage (stream, watch_order, sse, topic).",
      latencyBuckets,
      ["stage"],
    ),
    admissionInFlight: gauge(
      MetricNames.admissionInFlight,
      "Work admitted and holding a slot now, by entry (http, grpc_unary, grpc_stream, sse).",
      ["entry"],
    ),
    admissionQueued: gauge(
      MetricNames.admissionQueued,
      "Requests waiting for a slot now, by entry (only http has a wait queue).",
      ["entry"],
    ),
    admissionLimit: gauge(MetricNames.admissionLimit, "The configured bound on work in flight, by entry.", ["entry"]),
    admissionRefused: counter(
      MetricNames.admissionRefused,
      "Requests refused by admission control before any work was done, by entry and reason (capacity, queue_timeout).",
      ["entry", "reason"],
    ),
    authDenials: counter(
      MetricNames.authDenials,
      "Requests refused by authentication (401 / UNAUTHENTICATED) or authorization (403 / PERMISSION_DENIED), by entry (http, sse, grpc), status and reason.",
      ["entry", "status", "reason"],
    ),
    rateLimitRefused: counter(
      MetricNames.rateLimitRefused,
      "Requests refused by rate limiting (429 / RESOURCE_EXHAUSTED), by entry (http, sse, grpc) and class (write, read, stream, unary, concurrent_streams).",
      ["entry", "class"],
    ),
    rateLimitFallbacks: counter(
      MetricNames.rateLimitFallbacks,
      "Rate-limit decisions taken by the per-replica fallback because Redis did not answer in time, by class.",
      ["class"],
    ),
    ordersLive: gauge(
      MetricNames.ordersLive,
      "Orders in Redis that are not finalised (submitted or paused), shared by the service's replicas.",
    ),
    ordersRetained: gauge(
      MetricNames.ordersRetained,
      "Orders that ended (finalised, or paused by expiry) and are still in Redis, waiting for ORDER_RETENTION_SECONDS and the archive.",
    ),
    ordersArchived: counter(
      MetricNames.ordersArchived,
      "Orders this process wrote to the archive (PostgreSQL), confirmed and removed from Redis.",
    ),
    archiveLag: gauge(
      MetricNames.archiveLag,
      "How long the oldest order due for archiving has been due (ended + ORDER_RETENTION_SECONDS ago); 0 when none is due or the archive is off.",
    ),
    archiveErrors: (() => {
      const errors = counter(
        MetricNames.archiveErrors,
        "Failed archiving attempts, by step (scan, claim, read, write, verify, delete); the order stays in Redis and is tried again.",
        ["step"],
      )
      for (const step of ArchiveErrorSteps) errors.inc({ step }, 0)
      return errors
    })(),
  }
}

export type Catalogue = ReturnType<typeof makeCatalogue>
