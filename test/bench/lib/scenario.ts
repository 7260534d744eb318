/** What every scenario shares: its shape, the settings common to all, and small helpers. */
import { intEnv, isShort, numberEnv } from "./config.ts"
import type { ScenarioResult } from "./report.ts"
import type { BenchRedis, Target } from "./targets.ts"

export interface ScenarioContext {
  /** The Redis the started services use (a private one unless `BENCH_REDIS_URL`). */
  readonly redis: BenchRedis
  /** Services already running (`REQUESTOR_URL`, `PROCESSOR_URL`, `REQUESTOR_GRPC`), if named. */
  readonly external: Target | undefined
}

export interface Scenario {
  readonly name: string
  /** One line for `run.ts --help`. */
  readonly summary: string
  readonly run: (context: ScenarioContext) => Promise<ScenarioResult>
}

/** Settings every scenario reads. */
export const common = () => ({
  short: isShort,
  progressMs: numberEnv("BENCH_PROGRESS_SECONDS", 5, 2, 0.5) * 1000,
  httpTimeoutMs: numberEnv("BENCH_HTTP_TIMEOUT_SECONDS", 30, 30, 1) * 1000,
  drainMs: numberEnv("BENCH_DRAIN_SECONDS", 60, 20, 1) * 1000,
  watchTimeoutMs: numberEnv("BENCH_WATCH_TIMEOUT_SECONDS", 300, 30, 1) * 1000,
  streamsPerChannel: intEnv("BENCH_STREAMS_PER_CONNECTION", 100, 100, 1),
  watchOpenRate: numberEnv("BENCH_WATCH_OPEN_RATE", 5000, 5000, 1),
  openConcurrency: intEnv("BENCH_OPEN_CONCURRENCY", 32, 8, 1),
  sellers: intEnv("BENCH_SELLERS", 3, 2, 1),
})

export type CommonSettings = ReturnType<typeof common>

/** The sum of the named processes' CPU (% of a core), `null` if none was measured. */
export const cpuOf = (cpu: Readonly<Record<string, number | null>>, names: ReadonlyArray<string>): number | null => {
  const values = Object.entries(cpu)
    .filter(([name]) => names.some((prefix) => name.startsWith(prefix)))
    .map(([, value]) => value)
  if (values.length === 0 || values.some((value) => value === null)) return null
  return (values as Array<number>).reduce((sum, value) => sum + value, 0)
}

/** The service processes of a target: everything measured but Redis and Kafka. */
export const serviceCpu = (cpu: Readonly<Record<string, number | null>>): number | null =>
  cpuOf(cpu, ["processor", "requestor", "baseline"])

/** Rounded for JSON and tables. */
export const round = (value: number | null | undefined, digits = 2): number | null =>
  value === null || value === undefined || !Number.isFinite(value) ? null : Number(value.toFixed(digits))

/** The result of a scenario that cannot run against what it was given (`why` says what to unset). */
export const skippedResult = (
  base: Pick<ScenarioResult, "scenario" | "system" | "baselineName" | "startedAt" | "settings">,
  why: string,
): ScenarioResult => ({
  ...base,
  durationSeconds: 0,
  figures: [],
  checks: [],
  details: {},
  notes: [`skipped: ${why}`],
  ok: true,
})
