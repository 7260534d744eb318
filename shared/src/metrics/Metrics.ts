/**
 * The process's Prometheus metrics: one prom-client `Registry` with the catalogue
 * (`catalogue.ts`), the default label `service` and Node's default process metrics.
 *
 * Instruments record into `catalogue` directly (plain synchronous calls, cheap on the hot path).
 * Values that live elsewhere — Redis queue depth, semaphore permits, outbox lag — are read by
 * scrape hooks (`onScrape`) just before each exposition; a hook that fails or hangs is skipped
 * (its gauges keep their last value), so scraping never changes what the service does and a
 * Redis outage never fails `/metrics`.
 */
import { Context, Duration, Effect, Layer, Schema, type Scope } from "effect"
import { collectDefaultMetrics, Registry } from "prom-client"
import { type Catalogue, makeCatalogue } from "./catalogue.ts"

/** Rendering the registry failed (a bug in a collector). */
export class MetricsExpositionError extends Schema.TaggedError<MetricsExpositionError>()("MetricsExpositionError", {
  reason: Schema.String,
}) {
  override get message() {
    return `metrics exposition failed: ${this.reason}`
  }
}

export interface Exposition {
  readonly contentType: string
  readonly body: string
}

export interface MetricsShape {
  /** `processor` or `requestor`: the default label `service` of every series. */
  readonly service: string
  readonly registry: Registry
  readonly catalogue: Catalogue
  /** Runs the scrape hooks, then renders the registry in the Prometheus text format. */
  readonly exposition: Effect.Effect<Exposition, MetricsExpositionError>
  /** Runs `refresh` before every exposition, until the calling scope closes. */
  readonly onScrape: (name: string, refresh: Effect.Effect<void, unknown>) => Effect.Effect<void, never, Scope.Scope>
}

export interface MetricsOptions {
  /** Node's default process metrics (`process_*`, `nodejs_*`); default true. */
  readonly defaultMetrics?: boolean
  /** Bound on each scrape hook (default 2 s). */
  readonly scrapeHookTimeout?: Duration.Input
}

export class Metrics extends Context.Service<Metrics, MetricsShape>()("dcent/Metrics") {
  static readonly make = Effect.fn("Metrics.make")(function* (service: string, options: MetricsOptions = {}) {
    const registry = new Registry()
    registry.setDefaultLabels({ service })
    const catalogue = makeCatalogue(registry)
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
    const hookTimeout = Duration.fromInputUnsafe(options.scrapeHookTimeout ?? "2 seconds")
    const hooks = new Map<symbol, { readonly name: string; readonly refresh: Effect.Effect<void, unknown> }>()

    const runHook = (hook: { readonly name: string; readonly refresh: Effect.Effect<void, unknown> }) =>
      hook.refresh.pipe(
        Effect.timeout(hookTimeout),
        Effect.catchCause((cause) =>
          Effect.logDebug("metrics scrape hook failed; its gauges keep their last value").pipe(
            Effect.annotateLogs({ hook: hook.name, cause }),
          ),
        ),
      )

    const exposition = Effect.gen(function* () {
      yield* Effect.forEach(hooks.values(), runHook, { concurrency: "unbounded", discard: true })
      const body = yield* Effect.tryPromise({
        try: () => registry.metrics(),
        catch: (cause) =>
          new MetricsExpositionError({ reason: cause instanceof Error ? cause.message : String(cause) }),
      })
      return { contentType: registry.contentType, body }
    }).pipe(Effect.withSpan("Metrics.exposition"))

    const onScrape = (name: string, refresh: Effect.Effect<void, unknown>) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const key = Symbol(name)
          hooks.set(key, { name, refresh })
          return key
        }),
        (key) => Effect.sync(() => hooks.delete(key)),
      ).pipe(Effect.asVoid)

    return Metrics.of({ service, registry, catalogue, exposition, onScrape })
  })

  /**
   * The process's `Metrics`, or — when none is provided (a test building one piece) — a private
   * registry nobody scrapes, so instrumented code needs no `Metrics` in its requirements.
   */
  static readonly orUnscraped: Effect.Effect<MetricsShape> = Effect.serviceOption(Metrics).pipe(
    Effect.flatMap((metrics) =>
      metrics._tag === "Some" ? Effect.succeed(metrics.value) : Metrics.make("unscraped", { defaultMetrics: false }),
    ),
  )

  /** The process's registry for `service`, with Node's default metrics. */
  static readonly layer = (service: string): Layer.Layer<Metrics> => Layer.effect(Metrics, Metrics.make(service))

  /** A fresh registry without the process metrics: for tests. */
  static readonly layerTest: Layer.Layer<Metrics> = Layer.effect(
    Metrics,
    Metrics.make("test", { defaultMetrics: false }),
  )
}
