/** Latency samples and their summaries (nearest-rank percentiles, all samples kept: runs are bounded). */

export interface Summary {
  readonly count: number
  readonly min: number
  readonly mean: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

/** Nearest-rank percentile of ascending `sorted` values. */
export const percentile = (sorted: ArrayLike<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number

/** A growable list of numbers (a typed array: millions of samples stay cheap). */
export class Samples {
  private values = new Float64Array(1024)
  private size = 0

  push(value: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.size] = value
    this.size += 1
  }

  get count(): number {
    return this.size
  }

  /** `undefined` when empty. */
  summary(): Summary | undefined {
    return summarize(this.values.subarray(0, this.size))
  }
}

export const summarize = (values: ArrayLike<number>): Summary | undefined => {
  if (values.length === 0) return undefined
  const sorted = Float64Array.from(values).sort()
  let sum = 0
  for (const value of sorted) sum += value
  return {
    count: sorted.length,
    min: sorted[0] as number,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
  }
}

/** Counts by label (`201`, `503+Retry-After`, `RESOURCE_EXHAUSTED`, ...). */
export class Counter {
  readonly counts = new Map<string, number>()

  add(label: string, by = 1): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + by)
  }

  get(label: string): number {
    return this.counts.get(label) ?? 0
  }

  total(): number {
    let sum = 0
    for (const value of this.counts.values()) sum += value
    return sum
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]))
  }
}
