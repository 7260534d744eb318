/**
 * An adaptive bound on work in flight, after TCP Vegas (as in Netflix's concurrency-limits
 * `VegasLimit`): the latency of work done with nothing queued ahead (`noLoadMs`, the least seen)
 * against the latency of the last sample tells how much of the bound is queueing,
 * `queue = limit × (1 − noLoad / sample)`. Little queueing: the bound grows; much: it shrinks
 * (by log10 of the bound, so a large bound moves faster). The bound is checked only against
 * samples of a busy limiter (at least half the bound in flight), so a quiet service keeps it.
 *
 * Why here: a fixed bound is either far above capacity (512 REST requests in flight made admitted
 * requests wait seconds past capacity, measured by `make bench-overload`) or below it on a faster
 * machine. With the bound following the latency, work past capacity is refused at once and the
 * admitted work keeps close to its unloaded latency.
 *
 * Pure and synchronous (one JavaScript thread; no clock of its own): the caller measures.
 */

export interface VegasLimitOptions {
  /** The bound to start from (clamped to [min, max]). */
  readonly initial: number
  /** Never below this. */
  readonly min: number
  /** Never above this (the configured ceiling). */
  readonly max: number
  /**
   * The no-load latency is the least of the last two windows of this many samples × the bound,
   * so a lasting change of the service's latency (a slower dependency) is learnt within two
   * windows, while one window of overload (whose least latency is high) does not raise it.
   */
  readonly probeEvery?: number
}

export interface VegasLimit {
  /** The bound now (an integer ≥ min). */
  readonly limit: () => number
  /** The least latency of the last two windows, ms (`Infinity` before the first sample). */
  readonly noLoadMs: () => number
  /** One finished piece of work: its latency and how much was in flight when it started. */
  readonly sample: (latencyMs: number, inFlight: number) => void
}

const log10 = (value: number) => Math.max(1, Math.log10(Math.max(1, value)))

export const makeVegasLimit = (options: VegasLimitOptions): VegasLimit => {
  const min = Math.max(1, Math.floor(options.min))
  const max = Math.max(min, Math.floor(options.max))
  const probeEvery = Math.max(1, options.probeEvery ?? 30)
  let limit = Math.min(max, Math.max(min, options.initial))
  let previousWindowMin = Number.POSITIVE_INFINITY
  let windowMin = Number.POSITIVE_INFINITY
  let windowSamples = 0
  const noLoadMs = () => Math.min(previousWindowMin, windowMin)

  const sample = (latencyMs: number, inFlight: number): void => {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return
    const rtt = Math.max(latencyMs, 0.001)
    windowSamples += 1
    if (windowSamples >= probeEvery * limit) {
      previousWindowMin = windowMin
      windowMin = Number.POSITIVE_INFINITY
      windowSamples = 0
    }
    windowMin = Math.min(windowMin, rtt)
    const noLoad = noLoadMs()
    // Not busy: the sample says nothing about the bound.
    if (inFlight * 2 < limit) return
    const step = log10(limit)
    const queue = Math.ceil(limit * (1 - noLoad / rtt))
    const alpha = 3 * step
    const beta = 6 * step
    let next = limit
    if (queue <= step) next = limit + beta
    else if (queue < alpha) next = limit + step
    else if (queue > beta) next = limit - step
    limit = Math.min(max, Math.max(min, next))
  }

  return { limit: () => Math.floor(limit), noLoadMs, sample }
}
