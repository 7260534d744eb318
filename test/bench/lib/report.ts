/**
 * What a scenario hands back — figures beside their baseline and the delivery checks — and how
 * it is shown: progress lines while it runs, a table at the end, a JSON file under the
 * git-ignored results folder (`BENCH_RESULTS_DIR`, default `test/bench/.results/`).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Summary } from "./stats.ts"

export type Better = "higher" | "lower"

export interface Figure {
  /** Rows with the same group print under one heading. */
  readonly group: string
  readonly name: string
  readonly unit: string
  readonly value: number | null
  /**
   * The same figure measured on the baseline in the same run. Absent: no baseline applies to this
   * figure (`baselineNote` says why); `null`: it applies but could not be measured.
   */
  readonly baseline?: number | null
  readonly baselineNote?: string
  readonly better?: Better
  /** `value` (and `baseline`, when set) is only a lower bound: the thing did not happen within the window. */
  readonly lowerBound?: boolean
  readonly baselineLowerBound?: boolean
}

/** Delivery checks of one channel (`WatchOrder`, `SSE`, a topic): all must be 0. */
export interface ChannelCheck {
  readonly channel: string
  readonly expected: number
  readonly delivered: number
  readonly lost: number
  readonly duplicated: number
  readonly outOfOrder: number
  readonly gaps: number
  /**
   * Set on a topic fed by several replicas' outbox relays: per-key order across relays is not
   * promised (`shared/src/outbox/OutboxRelay.ts`; consumers order by `Seq`), so `outOfOrder` is
   * reported but is no failure.
   */
  readonly orderNotPromised?: boolean
}

/** Every check is 0 (but out-of-order where order is not promised). */
export const checksOk = (checks: ReadonlyArray<ChannelCheck>): boolean =>
  checks.every(
    (check) =>
      check.lost === 0 &&
      check.duplicated === 0 &&
      check.gaps === 0 &&
      (check.outOfOrder === 0 || check.orderNotPromised === true),
  )

export interface ScenarioResult {
  readonly scenario: string
  /** What the figures are measured on, and what the baseline is. */
  readonly system: string
  readonly baselineName: string
  readonly startedAt: string
  readonly durationSeconds: number
  readonly settings: Readonly<Record<string, unknown>>
  readonly figures: ReadonlyArray<Figure>
  /** Per target (`system`, `baseline`, ...) and channel. */
  readonly checks: ReadonlyArray<ChannelCheck & { readonly target: string }>
  /** Other counts worth reading (HTTP statuses, stream errors, ...). */
  readonly details: Readonly<Record<string, unknown>>
  readonly notes: ReadonlyArray<string>
  /** Every check is 0 and nothing failed. */
  readonly ok: boolean
}

export const ratioOf = (figure: Figure): number | null =>
  figure.value !== null &&
  figure.baseline !== undefined &&
  figure.baseline !== null &&
  Number.isFinite(figure.value) &&
  Number.isFinite(figure.baseline) &&
  figure.baseline !== 0
    ? figure.value / figure.baseline
    : null

/** Figures of one summary: p50/p95/p99 (and max) in ms, beside the baseline's. */
export const latencyFigures = (
  group: string,
  name: string,
  value: Summary | undefined,
  baseline: Summary | undefined | null,
  percentiles: ReadonlyArray<"p50" | "p95" | "p99" | "max"> = ["p50", "p95", "p99"],
): Array<Figure> =>
  percentiles.map((p) => ({
    group,
    name: `${name} ${p}`,
    unit: "ms",
    value: value?.[p] ?? null,
    ...(baseline === null ? {} : { baseline: baseline?.[p] ?? null }),
    better: "lower" as const,
  }))

/** A note naming stream failures the watchers saw (they resumed after them), if any. */
export const streamErrorNote = (target: string, errors: Readonly<Record<string, number>>): Array<string> =>
  Object.keys(errors).length === 0 ? [] : [`${target}: watcher streams failed and resumed: ${JSON.stringify(errors)}`]

/** A note when the generator's event loop lagged in a phase (its latencies then include the lag). */
export const generatorLagNote = (
  target: string,
  phases: ReadonlyArray<{ readonly name: string; readonly loopDelay: { readonly p99: number } }>,
): Array<string> =>
  phases
    .filter((phase) => phase.loopDelay.p99 > 100)
    .map(
      (phase) =>
        `${target} ${phase.name}: the generator's event loop lagged (p99 ${phase.loopDelay.p99.toFixed(0)} ms); latencies include it`,
    )

// --- progress --------------------------------------------------------------------------------

const started = performance.now()

/** One progress line: `[bench  12.3s] text`. */
export const progress = (text: string): void => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
  process.stdout.write(`[bench ${seconds}s] ${text}\n`)
}

/** Calls `line` every `ms` and prints what it returns (nothing for `undefined`); returns the stop. */
export const ticker = (ms: number, line: () => string | undefined): (() => void) => {
  const timer = setInterval(() => {
    const text = line()
    if (text !== undefined) progress(text)
  }, ms)
  return () => clearInterval(timer)
}

// --- table -----------------------------------------------------------------------------------

const formatNumber = (value: number | null | undefined): string => {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—"
  const magnitude = Math.abs(value)
  const digits = Number.isInteger(value) || magnitude >= 1000 ? 0 : magnitude >= 100 ? 1 : 2
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

const formatRatio = (ratio: number | null) =>
  ratio === null ? "" : `${ratio >= 100 ? ratio.toFixed(0) : ratio.toFixed(2)}×`

export const renderTable = (result: ScenarioResult): string => {
  const lines: Array<string> = []
  lines.push("")
  lines.push(`== ${result.scenario}: ${result.system}`)
  lines.push(`   baseline: ${result.baselineName}; ratio = figure / baseline`)
  const nameWidth = Math.max(40, ...result.figures.map((figure) => figure.name.length + figure.unit.length + 5))
  const header = `${"".padEnd(nameWidth)} ${"figure".padStart(12)} ${"baseline".padStart(12)} ${"ratio".padStart(9)}`
  lines.push(header)
  let group = ""
  for (const figure of result.figures) {
    if (figure.group !== group) {
      group = figure.group
      lines.push(group)
    }
    const label = `  ${figure.name} (${figure.unit})`.padEnd(nameWidth)
    const bound = (lower: boolean | undefined) => (lower === true ? "> " : "")
    const value = `${bound(figure.lowerBound)}${formatNumber(figure.value)}`
    const baseline =
      figure.baseline === undefined ? "n/a" : `${bound(figure.baselineLowerBound)}${formatNumber(figure.baseline)}`
    const note = figure.baselineNote === undefined ? "" : `  ${figure.baselineNote}`
    const ratio = figure.lowerBound === true || figure.baselineLowerBound === true ? "" : formatRatio(ratioOf(figure))
    lines.push(`${label} ${value.padStart(12)} ${baseline.padStart(12)} ${ratio.padStart(9)}${note}`)
  }
  if (result.checks.length > 0) {
    lines.push("")
    lines.push(
      `${"delivery check".padEnd(38)} ${"expected".padStart(10)} ${"delivered".padStart(10)} ${"lost".padStart(6)} ${"dup".padStart(6)} ${"order".padStart(6)} ${"gaps".padStart(6)}`,
    )
    for (const check of result.checks) {
      const order = `${check.outOfOrder}${check.orderNotPromised === true ? "*" : ""}`
      lines.push(
        `${`${check.target} ${check.channel}`.padEnd(38)} ${String(check.expected).padStart(10)} ${String(check.delivered).padStart(10)} ${String(check.lost).padStart(6)} ${String(check.duplicated).padStart(6)} ${order.padStart(6)} ${String(check.gaps).padStart(6)}`,
      )
    }
    if (result.checks.some((check) => check.orderNotPromised === true))
      lines.push(
        "* a topic fed by several replicas' relays: per-key order is not promised (OutboxRelay.ts), no failure",
      )
  }
  for (const note of result.notes) lines.push(`note: ${note}`)
  lines.push(`${result.scenario}: ${result.ok ? "OK (0 lost, duplicated, out-of-order)" : "FAILED"}`)
  return lines.join("\n")
}

// --- JSON ------------------------------------------------------------------------------------

export const resultsDir = (): string =>
  process.env.BENCH_RESULTS_DIR ?? fileURLToPath(new URL("../.results/", import.meta.url))

/** Writes `<scenario>.json` (the latest) and `<scenario>-<timestamp>.json`; returns the latest's path. */
export const writeResult = (result: ScenarioResult): string => {
  const dir = resultsDir()
  mkdirSync(dir, { recursive: true })
  const json = `${JSON.stringify({ ...result, figures: result.figures.map((f) => ({ ...f, ratio: ratioOf(f) })) }, null, 2)}\n`
  const stamp = result.startedAt.replaceAll(":", "").replace(/\.\d+Z$/, "Z")
  writeFileSync(join(dir, `${result.scenario}-${stamp}.json`), json)
  const latest = join(dir, `${result.scenario}.json`)
  writeFileSync(latest, json)
  return latest
}
