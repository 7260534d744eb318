/**
 * Road distances from an optional HTTP provider (`DISTANCE_API_URL`), in the style of a
 * distance matrix with one origin:
 *
 *   POST {DISTANCE_API_URL}
 *   Content-Type: application/json
 *   {"origins": [{"lat": 12.9716, "lng": 77.5946}],
 *    "destinations": [{"lat": 13.0827, "lng": 80.2707}, {"lat": 19.076, "lng": 72.8777}]}
 *
 *   200 {"distancesKm": [346.2, null]}
 *
 * `distancesKm` has one entry per destination, in order: the road distance in km (finite,
 * ≥ 0), or `null` when the provider found no road route.
 *
 * Every call is bounded by `DISTANCE_API_TIMEOUT_MS` (default 2000) per attempt, retried once
 * on a transient failure (timeout, connection error, HTTP 408/5xx) after a jittered 100 ms, and
 * guarded by a circuit breaker (3 failed calls in a row open it for 30 s; while open the
 * provider is not called). `measure` never fails: when the provider cannot answer, every
 * destination gets its straight-line distance with source `straight_line_fallback` and the
 * reason (`timed out after 2s`, `HTTP 503`, `circuit open (retry in 29s)`, `no road route`, …).
 * Without `DISTANCE_API_URL` every distance is `straight_line`.
 */
import { describeFailure, type Guard, isTransientFailure, makeGuard } from "@dcent/shared/resilience/Resilience"
import { type Config, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpClientResponse, UrlParams } from "effect/http"
import { sellersConfig } from "./config.ts"
import { type Distance, type GeoPoint, haversineKm } from "./distance.ts"

/** The provider could not give road distances; `reason` never contains the provider URL. */
export class RoadDistanceError extends Schema.TaggedError<RoadDistanceError>()("RoadDistanceError", {
  reason: Schema.String,
}) {
  override get message() {
    return `road distance unavailable: ${this.reason}`
  }
}

/** The provider answered, but not with one valid distance per destination. */
class BadAnswer extends Schema.TaggedError<BadAnswer>()("BadAnswer", { reason: Schema.String }) {
  override get message() {
    return this.reason
  }
}

export interface RoadDistanceShape {
  /** True when a provider is configured; false means straight-line distances only. */
  readonly enabled: boolean
  /**
   * Road distance in km from `origin` to each destination, in order (`null`: no route).
   * Fails when no provider is configured or it cannot answer.
   */
  readonly roadDistancesKm: (
    origin: GeoPoint,
    destinations: ReadonlyArray<GeoPoint>,
  ) => Effect.Effect<ReadonlyArray<number | null>, RoadDistanceError>
  /**
   * The distance to each destination, in order, with its source: `road` when the provider
   * answered, `straight_line` without a provider, `straight_line_fallback` (with the reason)
   * when the provider failed or had no route. Never fails.
   */
  readonly measure: (origin: GeoPoint, destinations: ReadonlyArray<GeoPoint>) => Effect.Effect<ReadonlyArray<Distance>>
}

export interface RoadDistanceOptions {
  readonly url: string
  /** Bound on one attempt (default 2 seconds). */
  readonly timeout?: Duration.Input
  /** Retries after a transient failure (default 1). */
  readonly retries?: number
  /** Delay before the first retry, doubled after each, jittered (default 100 ms). */
  readonly retryBaseDelay?: Duration.Input
  /** Failed calls in a row that open the circuit (default 3). */
  readonly failureThreshold?: number
  /** How long the open circuit skips the provider (default 30 seconds). */
  readonly openDuration?: Duration.Input
}

/** Query parameters of `DISTANCE_API_URL` that are credentials and never appear in spans. */
export const secretQueryParams: ReadonlyArray<string> = ["key", "api_key", "apikey", "token", "access_token"]

const point = (p: GeoPoint) => ({ lat: p.Lat, lng: p.Lng })

const Answer = Schema.Struct({
  distancesKm: Schema.Array(Schema.NullOr(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))),
})

const straightLine = (origin: GeoPoint, destinations: ReadonlyArray<GeoPoint>): ReadonlyArray<Distance> =>
  destinations.map((destination) => ({ km: haversineKm(origin, destination), source: "straight_line" as const }))

const fallback = (origin: GeoPoint, destination: GeoPoint, reason: string): Distance => ({
  km: haversineKm(origin, destination),
  source: "straight_line_fallback",
  reason,
})

const disabled: RoadDistanceShape = {
  enabled: false,
  roadDistancesKm: () => Effect.fail(new RoadDistanceError({ reason: "no road-distance provider is configured" })),
  measure: (origin, destinations) => Effect.succeed(straightLine(origin, destinations)),
}

/** The HTTP provider; needs an `HttpClient`. */
export const makeHttp = Effect.fn("RoadDistance.make")(function* (options: RoadDistanceOptions) {
  const timeout = options.timeout ?? "2 seconds"
  const guard: Guard = yield* makeGuard({
    attemptTimeout: timeout,
    retries: options.retries ?? 1,
    retryBaseDelay: options.retryBaseDelay ?? "100 millis",
    failureThreshold: options.failureThreshold ?? 3,
    openDuration: options.openDuration ?? "30 seconds",
  })
  const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
  const circuitKey = `road-distance ${new URL(options.url).origin}`
  // DISTANCE_API_URL may carry an API key in its query: keep it out of spans.
  const redactedParams = [...(yield* UrlParams.CurrentRedactedNames), ...secretQueryParams]

  const isFailure = (error: unknown) => isTransientFailure(error) || error instanceof BadAnswer

  const roadDistancesKm = Effect.fn("RoadDistance.roadDistancesKm")(function* (
    origin: GeoPoint,
    destinations: ReadonlyArray<GeoPoint>,
  ) {
    yield* Effect.annotateCurrentSpan({ destinations: destinations.length })
    if (destinations.length === 0) return []
    const request = HttpClientRequest.post(options.url).pipe(
      HttpClientRequest.acceptJson,
      HttpClientRequest.bodyJsonUnsafe({ origins: [point(origin)], destinations: destinations.map(point) }),
    )
    const call = client.execute(request).pipe(
      Effect.flatMap(HttpClientResponse.schemaBodyJson(Answer)),
      Effect.mapError((error) =>
        Schema.isSchemaError(error) ? new BadAnswer({ reason: `unreadable answer: ${error.message}` }) : error,
      ),
      Effect.flatMap(({ distancesKm }) =>
        distancesKm.length === destinations.length
          ? Effect.succeed(distancesKm)
          : Effect.fail(
              new BadAnswer({
                reason: `answered ${distancesKm.length} distances for ${destinations.length} destinations`,
              }),
            ),
      ),
    )
    return yield* guard
      .run(circuitKey, call, {
        isDependencyFailure: isFailure,
        isRetryable: isTransientFailure,
      })
      .pipe(
        Effect.provideService(UrlParams.CurrentRedactedNames, redactedParams),
        Effect.mapError((error) => new RoadDistanceError({ reason: describeFailure(error, timeout) })),
      )
  })

  const measure = (origin: GeoPoint, destinations: ReadonlyArray<GeoPoint>) =>
    roadDistancesKm(origin, destinations).pipe(
      Effect.map((kms) =>
        destinations.map(
          (destination, index): Distance =>
            typeof kms[index] === "number"
              ? { km: kms[index], source: "road" }
              : fallback(origin, destination, "no road route"),
        ),
      ),
      Effect.catch((error) =>
        Effect.logWarning("road distance unavailable; using straight-line distances").pipe(
          Effect.annotateLogs({ reason: error.reason, destinations: destinations.length }),
          Effect.as(destinations.map((destination) => fallback(origin, destination, error.reason))),
        ),
      ),
    )

  return { enabled: true, roadDistancesKm, measure } satisfies RoadDistanceShape
})

export class RoadDistance extends Context.Service<RoadDistance, RoadDistanceShape>()("dcent/processor/RoadDistance") {
  /** Straight-line distances only. */
  static readonly layerStraightLine: Layer.Layer<RoadDistance> = Layer.succeed(RoadDistance, disabled)

  /** The HTTP provider at `options.url` (Node's fetch). */
  static readonly layerHttp = (options: RoadDistanceOptions): Layer.Layer<RoadDistance> =>
    Layer.effect(RoadDistance, makeHttp(options)).pipe(Layer.provide(FetchHttpClient.layer))

  /** From `DISTANCE_API_URL` / `DISTANCE_API_TIMEOUT_MS`: the HTTP provider, or straight line when unset. */
  static readonly layer: Layer.Layer<RoadDistance, Config.ConfigError> = Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* sellersConfig
      return Option.match(config.distanceApiUrl, {
        onNone: () => RoadDistance.layerStraightLine,
        onSome: (url) => RoadDistance.layerHttp({ url, timeout: Duration.millis(config.distanceApiTimeoutMs) }),
      })
    }),
  )
}
