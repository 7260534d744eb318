/**
 * A real Prometheus for tests (Debian's `prometheus` package, installed by
 * `scripts/install-observability.sh`) on a free port of 127.0.0.1, scraping the given targets
 * every second, with its data in a temporary directory.
 *
 *   const prometheus = await startPrometheus([{ job: "dcent-processor", target: "127.0.0.1:18001" }])
 *   const samples = await prometheus.waitForQuery("dcent_queue_depth", (result) => result.length > 0)
 *   await prometheus.stop()
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { answersOk, requireBinary, spawnBinary, waitUntil } from "./binaries.ts"
import { freePort } from "./ports.ts"

export interface ScrapeTarget {
  /** The `job` label, e.g. `dcent-processor` (the alert rules expect `dcent-*`). */
  readonly job: string
  /** `host:port` serving `/metrics`. */
  readonly target: string
}

/** One series of an instant query's result (`resultType: vector`). */
export interface Sample {
  readonly metric: Record<string, string>
  /** [unix seconds, value as a string] */
  readonly value: readonly [number, string]
}

export interface TargetHealth {
  readonly job: string
  readonly scrapeUrl: string
  readonly health: "up" | "down" | "unknown"
  readonly lastError: string
  readonly lastScrape: string
}

/** A loaded rule, from `/api/v1/rules`. */
export interface LoadedRule {
  readonly name: string
  readonly type: "alerting" | "recording"
  readonly query: string
  /** Seconds an alert's condition must hold (`for:`). */
  readonly duration?: number
  readonly labels?: Record<string, string>
  readonly annotations?: Record<string, string>
  readonly health: "ok" | "err" | "unknown"
  readonly lastError?: string
}

export interface RunningPrometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** `/api/v1/query` at the current time; fails on a PromQL error. */
  readonly query: (promql: string) => Promise<Array<Sample>>
  /** The full JSON answer of `/api/v1/query` (for reports). */
  readonly queryRaw: (promql: string) => Promise<unknown>
  /** Polls `query(promql)` until `until` holds; returns the last result. */
  readonly waitForQuery: (
    promql: string,
    until: (result: ReadonlyArray<Sample>) => boolean,
    timeoutMs?: number,
  ) => Promise<Array<Sample>>
  /** `/api/v1/targets`, active targets. */
  readonly targets: () => Promise<Array<TargetHealth>>
  /** `/api/v1/rules`: every loaded rule with its health after the last evaluation. */
  readonly rules: () => Promise<Array<LoadedRule>>
  readonly output: () => string
  readonly stop: () => Promise<void>
}

export interface PrometheusOptions {
  /** Seconds between scrapes (default 1). */
  readonly scrapeIntervalSeconds?: number
  /** Alert/recording rule files to load (absolute paths), evaluated every scrape interval. */
  readonly ruleFiles?: ReadonlyArray<string>
}

const configFor = (targets: ReadonlyArray<ScrapeTarget>, interval: number, ruleFiles: ReadonlyArray<string>) =>
  [
    "global:",
    `  scrape_interval: ${interval}s`,
    `  scrape_timeout: ${interval}s`,
    `  evaluation_interval: ${interval}s`,
    ...(ruleFiles.length === 0 ? [] : ["rule_files:", ...ruleFiles.map((file) => `  - ${JSON.stringify(file)}`)]),
    "scrape_configs:",
    ...targets.flatMap(({ job, target }) => [
      `  - job_name: ${JSON.stringify(job)}`,
      "    static_configs:",
      `      - targets: [${JSON.stringify(target)}]`,
    ]),
    "",
  ].join("\n")

interface ApiAnswer<A> {
  readonly status: "success" | "error"
  readonly data: A
  readonly error?: string
}

export const startPrometheus = async (
  targets: ReadonlyArray<ScrapeTarget>,
  options: PrometheusOptions = {},
): Promise<RunningPrometheus> => {
  const binary = requireBinary("prometheus", "PROMETHEUS_BIN")
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "dcent-prometheus-"))
  const configFile = join(dir, "prometheus.yml")
  writeFileSync(configFile, configFor(targets, options.scrapeIntervalSeconds ?? 1, options.ruleFiles ?? []))
  const prometheus = spawnBinary("prometheus", binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--storage.tsdb.retention.time=1h",
  ])
  const url = `http://127.0.0.1:${port}`

  const stop = async () => {
    await prometheus.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    await waitUntil(prometheus, `Prometheus on ${url}`, () => answersOk(`${url}/-/ready`))
  } catch (error) {
    await stop()
    throw error
  }

  const api = async <A>(path: string): Promise<ApiAnswer<A>> => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) })
    const answer = (await response.json()) as ApiAnswer<A>
    if (answer.status !== "success") throw new Error(`Prometheus ${path}: ${answer.error ?? response.status}`)
    return answer
  }

  const queryRaw = (promql: string) => api<unknown>(`/api/v1/query?query=${encodeURIComponent(promql)}`)

  const query = async (promql: string) => {
    const answer = await api<{ resultType: string; result: Array<Sample> }>(
      `/api/v1/query?query=${encodeURIComponent(promql)}`,
    )
    if (answer.data.resultType !== "vector")
      throw new Error(`${promql}: expected a vector, got ${answer.data.resultType}`)
    return answer.data.result
  }

  const waitForQuery: RunningPrometheus["waitForQuery"] = async (promql, until, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    let result = await query(promql)
    while (!until(result)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms: ${promql} → ${JSON.stringify(result)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
      result = await query(promql)
    }
    return result
  }

  const targetsHealth = async () => {
    const answer = await api<{
      activeTargets: Array<{
        labels: Record<string, string>
        scrapeUrl: string
        health: TargetHealth["health"]
        lastError: string
        lastScrape: string
      }>
    }>("/api/v1/targets?state=active")
    return answer.data.activeTargets.map((target) => ({
      job: target.labels.job ?? "",
      scrapeUrl: target.scrapeUrl,
      health: target.health,
      lastError: target.lastError,
      lastScrape: target.lastScrape,
    }))
  }

  const rules = async () => {
    const answer = await api<{ groups: Array<{ rules: Array<LoadedRule> }> }>("/api/v1/rules")
    return answer.data.groups.flatMap((group) => group.rules)
  }

  return { url, query, queryRaw, waitForQuery, targets: targetsHealth, rules, output: prometheus.output, stop }
}
