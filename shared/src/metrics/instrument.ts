/**
 * The two pieces every metrics decorator of this folder is built from: labelled children created
 * once per key, and a layer that wraps a service with its instrumented version.
 */
import { type Context, Effect, Layer } from "effect"
import { Metrics, type MetricsShape } from "./Metrics.ts"

/**
 * `make(key)` on the first use of `key`, the same value afterwards: hot paths keep prom-client's
 * labelled children instead of hashing the label values on every observation.
 */
export const childPerKey = <A>(make: (key: string) => A): ((key: string) => A) => {
  const children = new Map<string, A>()
  return (key) => {
    let child = children.get(key)
    if (child === undefined) {
      child = make(key)
      children.set(key, child)
    }
    return child
  }
}

/** `layer`'s service, replaced by `instrument(service, metrics)` with the process's `Metrics`. */
export const withInstrumented =
  <I, S>(service: Context.Key<I, S>, instrument: (self: S, metrics: MetricsShape) => S) =>
  <E, R>(layer: Layer.Layer<I, E, R>): Layer.Layer<I, E, R | Metrics> =>
    Layer.effect(
      service,
      Effect.gen(function* () {
        return instrument(yield* service, yield* Metrics)
      }),
    ).pipe(Layer.provide(layer))
