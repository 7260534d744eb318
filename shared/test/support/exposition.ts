/** Reading the Prometheus text format in tests: samples with their labels, sums over label subsets. */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export const parseExposition = (text: string): Array<Sample> =>
  text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .flatMap((line) => {
      const match = sampleLine.exec(line)
      if (match === null) return []
      const labels: Record<string, string> = {}
      for (const pair of (match[2] ?? "").matchAll(labelPair)) labels[pair[1] as string] = pair[2] as string
      return [{ name: match[1] as string, labels, value: Number(match[3]) }]
    })

/** Samples named `name` whose labels include `labels`. */
export const findSamples = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}) =>
  samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )

/** The sum of those samples (0 when there are none). */
export const sumSamples = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}) =>
  findSamples(samples, name, labels).reduce((sum, sample) => sum + sample.value, 0)
