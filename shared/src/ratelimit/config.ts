/**
 * Rate limits' settings, read from the environment by both services (README, "Security" and the
 * configuration table). Every class is limited per principal (per client address when anonymous,
 * `AUTH_MODE=disabled`), in total over all replicas of a service (the counters live in its Redis):
 *
 * | variable | default | what |
 * | --- | --- | --- |
 * | `RATE_LIMIT_WRITE_PER_SECOND` / `RATE_LIMIT_WRITE_BURST` | 2000 / 4000 | REST writes (POST, PUT, DELETE) |
 * | `RATE_LIMIT_READ_PER_SECOND` / `RATE_LIMIT_READ_BURST` | 5000 / 10000 | REST reads (GET; probes, `/metrics`, `/docs` exempt) |
 * | `RATE_LIMIT_STREAM_PER_SECOND` / `RATE_LIMIT_STREAM_BURST` | 2000 / 120000 | stream opens (SSE, `WatchOrder`, gRPC streams) |
 * | `RATE_LIMIT_UNARY_PER_SECOND` / `RATE_LIMIT_UNARY_BURST` | 5000 / 10000 | unary gRPC calls |
 * | `RATE_LIMIT_STREAMS_PER_PRINCIPAL` | 100000 | streams (SSE + gRPC) open at once, over all replicas |
 * | `RATE_LIMIT_STORE_TIMEOUT_MS` | 250 | longest wait for Redis before the per-replica fallback decides |
 *
 * A class allows `BURST` requests in a fixed window of `BURST / PER_SECOND` seconds (rounded up,
 * at least 1 s): a client may spend its burst at once, and on average gets `PER_SECOND`. A
 * `PER_SECOND` of 0 turns the class off; `RATE_LIMIT_STREAMS_PER_PRINCIPAL=0` turns the cap off.
 * `BURST` defaults to twice `PER_SECOND`. The defaults are far above what one client needs and
 * above what the benches drive from one address (the fan-out bench opens 60,000 streams from
 * 127.0.0.1); production deployments set them to what a buyer, seller or operator really needs.
 */
import { Config, Schema } from "effect"
import { nonNegativeInt, positiveInt } from "../config/env.ts"

/** The route classes, each with its own budget. */
export const RouteClasses = {
  Write: "write",
  Read: "read",
  Stream: "stream",
  Unary: "unary",
} as const
export type RouteClass = (typeof RouteClasses)[keyof typeof RouteClasses]

/** One class's budget: `points` requests per fixed window of `windowSeconds`; `undefined`: unlimited. */
export interface Bucket {
  readonly points: number
  readonly windowSeconds: number
}

export interface RateLimitSettings {
  readonly classes: Readonly<Record<RouteClass, Bucket | undefined>>
  /** Streams one principal may hold open at once over all replicas; 0: no cap. */
  readonly streamsPerPrincipal: number
  readonly storeTimeoutMs: number
}

/**
 * The fixed window of a class: `max(burst, ceil(rate))` points per `ceil(points / rate)` seconds
 * (at least 1: the store counts whole seconds); a rate of 0 is no limit.
 */
export const bucketOf = (perSecond: number, burst: number | undefined): Bucket | undefined => {
  if (!(perSecond > 0)) return undefined
  const points = Math.max(Math.ceil(burst ?? perSecond * 2), Math.ceil(perSecond), 1)
  return { points, windowSeconds: Math.max(1, Math.ceil(points / perSecond)) }
}

const NonNegativeNumber = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

const classConfig = (name: string, perSecond: number, burst: number): Config.Config<Bucket | undefined> =>
  Config.all({
    perSecond: Config.schema(NonNegativeNumber, `RATE_LIMIT_${name}_PER_SECOND`).pipe(Config.withDefault(perSecond)),
    burst: Config.option(Config.schema(PositiveInt, `RATE_LIMIT_${name}_BURST`)),
  }).pipe(
    Config.map(({ perSecond: rate, burst: given }) =>
      // The default burst scales with a configured rate, unless the rate is the default one.
      bucketOf(rate, given._tag === "Some" ? given.value : rate === perSecond ? burst : undefined),
    ),
  )

export const defaultRateLimits = {
  write: { perSecond: 2000, burst: 4000 },
  read: { perSecond: 5000, burst: 10_000 },
  stream: { perSecond: 2000, burst: 120_000 },
  unary: { perSecond: 5000, burst: 10_000 },
  streamsPerPrincipal: 100_000,
  storeTimeoutMs: 250,
} as const

/** `RATE_LIMIT_*` (see the table above). */
export const rateLimitConfig: Config.Config<RateLimitSettings> = Config.all({
  write: classConfig("WRITE", defaultRateLimits.write.perSecond, defaultRateLimits.write.burst),
  read: classConfig("READ", defaultRateLimits.read.perSecond, defaultRateLimits.read.burst),
  stream: classConfig("STREAM", defaultRateLimits.stream.perSecond, defaultRateLimits.stream.burst),
  unary: classConfig("UNARY", defaultRateLimits.unary.perSecond, defaultRateLimits.unary.burst),
  streamsPerPrincipal: nonNegativeInt("RATE_LIMIT_STREAMS_PER_PRINCIPAL", defaultRateLimits.streamsPerPrincipal),
  storeTimeoutMs: positiveInt("RATE_LIMIT_STORE_TIMEOUT_MS", defaultRateLimits.storeTimeoutMs),
}).pipe(
  Config.map(({ write, read, stream, unary, streamsPerPrincipal, storeTimeoutMs }) => ({
    classes: { write, read, stream, unary },
    streamsPerPrincipal,
    storeTimeoutMs,
  })),
)

/** Every class off (tests that build a service without Redis-backed limits). */
export const noRateLimits: RateLimitSettings = {
  classes: { write: undefined, read: undefined, stream: undefined, unary: undefined },
  streamsPerPrincipal: 0,
  storeTimeoutMs: defaultRateLimits.storeTimeoutMs,
}
