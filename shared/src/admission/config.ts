/**
 * Admission control's settings, read from the environment (both services; README's
 * configuration table). The defaults are far above what normal use needs and bound what one
 * process takes on under overload:
 *
 * | variable | default | bound |
 * | --- | --- | --- |
 * | `HTTP_MAX_IN_FLIGHT` | 128 processor / 512 requestor | REST requests handled at once (probes and `/metrics` exempt); the ceiling of the adaptive bound |
 * | `HTTP_ADAPTIVE_LIMIT` | false | the bound follows the requests' latency (`vegasLimit.ts`) between the two |
 * | `HTTP_MIN_IN_FLIGHT` | 8 | the adaptive bound's floor |
 * | `HTTP_MAX_QUEUE` | 1024 | REST requests waiting for a slot beyond that (0: none) |
 * | `HTTP_QUEUE_TIMEOUT_MS` | 250 | longest wait in that queue (it adds to admitted requests' latency) |
 * | `GRPC_MAX_UNARY_IN_FLIGHT` | 1024 | unary gRPC calls at once (health, reflection exempt) |
 * | `GRPC_MAX_STREAMS` | 150000 processor / 100000 requestor | open gRPC server streams |
 * | `OVERLOAD_RETRY_AFTER_SECONDS` | 1 | the retry hint of a refusal |
 *
 * (`SSE_MAX_STREAMS`, the requestor's bound on open SSE responses, is in its own config.)
 */
import { Config, Duration } from "effect"
import { flag, nonNegativeInt, positiveInt } from "../config/env.ts"

export interface HttpAdmissionLimits {
  readonly maxInFlight: number
  /** The bound follows the latency, between `minInFlight` and `maxInFlight`. */
  readonly adaptive: boolean
  readonly minInFlight: number
  readonly maxQueue: number
  readonly queueTimeout: Duration.Duration
  readonly retryAfterSeconds: number
}

export interface GrpcAdmissionLimits {
  readonly maxUnaryInFlight: number
  readonly maxStreams: number
  readonly retryAfterSeconds: number
}

export const defaultRetryAfterSeconds = 1

export const defaultHttpAdmission: HttpAdmissionLimits = {
  // The processor's REST throughput peaks at ~50–64 requests in flight (`make bench-write`); more
  // only share the same throughput, so each waits longer: in `make bench-overload` 512 gave
  // admitted requests a p99 of 1.8 s, 128 of 0.63 s, at the same goodput. The requestor keeps 512
  // (`requestorHttpMaxInFlight`).
  maxInFlight: 128,
  // Off by default: on a machine whose other processes make latency swing (measured with
  // `make bench-live-orders` while test suites ran beside it), Vegas reads the swings as queueing
  // and held the requestor at its floor of 8 (initiates fell from ~877/s to ~60/s).
  adaptive: false,
  minInFlight: 8,
  maxQueue: 1024,
  queueTimeout: Duration.millis(250),
  retryAfterSeconds: defaultRetryAfterSeconds,
}

export const defaultGrpcAdmission: GrpcAdmissionLimits = {
  maxUnaryInFlight: 1024,
  maxStreams: 150_000,
  retryAfterSeconds: defaultRetryAfterSeconds,
}

/** `OVERLOAD_RETRY_AFTER_SECONDS` (1): `Retry-After` of a 503, `retry-after` trailer of a RESOURCE_EXHAUSTED. */
export const retryAfterConfig: Config.Config<number> = positiveInt(
  "OVERLOAD_RETRY_AFTER_SECONDS",
  defaultRetryAfterSeconds,
)

/**
 * The requestor's default of `HTTP_MAX_IN_FLIGHT`. Its REST requests are mostly SSE opens, short
 * and many at once when buyer apps reconnect: at 128, `make bench-fan-out`'s 10,000 SSE opens
 * (beside 50,000 `WatchOrder` opens) were refused 16,000–24,000 times (each retried 1–2 s later),
 * took as long to serve every watcher and left the requestor 300–500 MiB larger; at 512 none was
 * refused.
 */
export const requestorHttpMaxInFlight = 512

/**
 * `HTTP_MAX_IN_FLIGHT` (default per service), `HTTP_ADAPTIVE_LIMIT`, `HTTP_MIN_IN_FLIGHT`,
 * `HTTP_MAX_QUEUE`, `HTTP_QUEUE_TIMEOUT_MS`, `OVERLOAD_RETRY_AFTER_SECONDS`.
 */
export const httpAdmissionConfig = (
  defaultMaxInFlight: number = defaultHttpAdmission.maxInFlight,
): Config.Config<HttpAdmissionLimits> =>
  Config.all({
    maxInFlight: positiveInt("HTTP_MAX_IN_FLIGHT", defaultMaxInFlight),
    adaptive: flag("HTTP_ADAPTIVE_LIMIT", defaultHttpAdmission.adaptive),
    minInFlight: positiveInt("HTTP_MIN_IN_FLIGHT", defaultHttpAdmission.minInFlight),
    maxQueue: nonNegativeInt("HTTP_MAX_QUEUE", defaultHttpAdmission.maxQueue),
    queueTimeout: positiveInt("HTTP_QUEUE_TIMEOUT_MS", Duration.toMillis(defaultHttpAdmission.queueTimeout)).pipe(
      Config.map(Duration.millis),
    ),
    retryAfterSeconds: retryAfterConfig,
  })

/** `GRPC_MAX_UNARY_IN_FLIGHT`, `GRPC_MAX_STREAMS` (default per service), `OVERLOAD_RETRY_AFTER_SECONDS`. */
export const grpcAdmissionConfig = (
  defaultMaxStreams: number = defaultGrpcAdmission.maxStreams,
): Config.Config<GrpcAdmissionLimits> =>
  Config.all({
    maxUnaryInFlight: positiveInt("GRPC_MAX_UNARY_IN_FLIGHT", defaultGrpcAdmission.maxUnaryInFlight),
    maxStreams: positiveInt("GRPC_MAX_STREAMS", defaultMaxStreams),
    retryAfterSeconds: retryAfterConfig,
  })
