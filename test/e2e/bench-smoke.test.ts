/**
 * The benchmark suite's short form as a smoke test (`make test`): every scenario of
 * `test/bench/run.ts` with BENCH_SHORT=1 (tiny counts, a few seconds each) against services it
 * starts itself, on a private Redis and the suite's Kafka. It asserts what must hold at any speed:
 * the run exits 0, every accepted submission's event reached every watcher and topic exactly once
 * and in order, and every figure and its baseline were produced (finite numbers). Never a timing.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { childEnv, nodeBinary, repoRoot } from "../support/processes.ts"

interface FigureJson {
  readonly group: string
  readonly name: string
  readonly value: number | null
  readonly baseline?: number | null
  readonly ratio: number | null
}

interface CheckJson {
  readonly target: string
  readonly channel: string
  readonly expected: number
  readonly delivered: number
  readonly lost: number
  readonly duplicated: number
  readonly outOfOrder: number
  readonly gaps: number
  readonly orderNotPromised?: boolean
}

interface ResultJson {
  readonly scenario: string
  readonly ok: boolean
  readonly figures: ReadonlyArray<FigureJson>
  readonly checks: ReadonlyArray<CheckJson>
}

const resultsDir = mkdtempSync(join(tmpdir(), "bench-smoke-"))

afterAll(() => rmSync(resultsDir, { recursive: true, force: true }))

const scenarios = ["write", "durability", "live-orders", "fan-out", "overload", "replicas"] as const

/**
 * `node test/bench/run.ts <scenario ...>` in the short form, all scenarios in one run (as `make
 * bench` runs them: each scenario has Redis databases of its own on one private Redis), so Node,
 * the private Redis and the module graph start once rather than once per scenario; its exit code
 * and output.
 */
const runScenarios = (names: ReadonlyArray<string>, timeoutMs: number) =>
  new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const passThrough = Object.fromEntries(
      // DCENT_TEST_LANE: the bench's servers take their ports from this lane's range (`ports.ts`).
      ["KAFKA_PORT", "REDIS_PORT", "REDIS_SERVER_BIN", "DCENT_TEST_LANE"].flatMap((name) =>
        process.env[name] === undefined ? [] : [[name, process.env[name]]],
      ),
    )
    const child = spawn(nodeBinary, ["--max-old-space-size=4096", "test/bench/run.ts", ...names], {
      cwd: repoRoot,
      env: childEnv({ ...passThrough, BENCH_SHORT: "1", BENCH_RESULTS_DIR: resultsDir }),
      stdio: ["ignore", "pipe", "pipe"],
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
    })
    const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs)
    child.once("error", reject)
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })

/** 110 s per scenario, the bound each had when it ran in a process of its own. */
const perScenarioMs = 110_000
let run: { code: number | null; output: string }

beforeAll(
  async () => {
    run = await runScenarios(scenarios, perScenarioMs * scenarios.length)
  },
  perScenarioMs * scenarios.length + 10_000,
)

const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

describe("benchmark suite, short form", () => {
  for (const scenario of scenarios) {
    it(`${scenario}: 0 lost, duplicated or out-of-order; every figure and baseline produced`, () => {
      const { output } = run
      const file = join(resultsDir, `${scenario}.json`)
      expect(output, "the scenario did not fail").not.toContain(`${scenario} failed:`)
      expect(existsSync(file), output).toBe(true)
      const result = JSON.parse(readFileSync(file, "utf8")) as ResultJson
      expect(output, "the table is printed").toContain(`== ${scenario}:`)

      expect(result.checks.length, output).toBeGreaterThan(0)
      for (const check of result.checks) {
        const what = `${check.target} ${check.channel}\n${output}`
        expect(check.expected, what).toBeGreaterThan(0)
        expect(check.lost, what).toBe(0)
        expect(check.duplicated, what).toBe(0)
        expect(check.gaps, what).toBe(0)
        if (check.orderNotPromised !== true) expect(check.outOfOrder, what).toBe(0)
        expect(check.delivered, what).toBe(check.expected)
      }

      expect(result.figures.length, output).toBeGreaterThan(0)
      for (const figure of result.figures) {
        const what = `${figure.group} / ${figure.name}: ${JSON.stringify(figure)}\n${output}`
        expect(isNumber(figure.value), what).toBe(true)
        if ("baseline" in figure) {
          expect(isNumber(figure.baseline), what).toBe(true)
          // A ratio exists unless the baseline is 0 (e.g. an idle bare server's CPU).
          if (figure.baseline !== 0) expect(isNumber(figure.ratio), what).toBe(true)
        }
      }
      expect(result.ok, output).toBe(true)
    })
  }

  it("the run exits 0 (no scenario lost, duplicated or reordered an event, or failed)", () => {
    expect(run.code, run.output).toBe(0)
  })
})
