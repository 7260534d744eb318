/**
 * The committed Prometheus configuration and alert rules are valid for a real Prometheus:
 * `promtool check config` (both scrape configurations, with the rule files they load) and
 * `promtool check rules`. promtool comes with Debian's `prometheus` package
 * (scripts/install-observability.sh); without it the test fails.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { requireBinary } from "../../support/binaries.ts"
import { repoRoot } from "../../support/processes.ts"

const prometheusDir = `${repoRoot}observability/prometheus`

const promtool = (...args: ReadonlyArray<string>) => {
  const result = spawnSync(requireBinary("promtool", "PROMTOOL_BIN"), args, { cwd: prometheusDir, encoding: "utf8" })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe("observability/prometheus", () => {
  it.each(["prometheus.yml", "prometheus.local.yml"])("promtool check config %s", (file) => {
    const { status, output } = promtool("check", "config", file)
    expect(status, output).toBe(0)
    expect(output).toContain(`SUCCESS: ${file} is valid prometheus config file syntax`)
    expect(output).toMatch(/SUCCESS: 1 rule files found/)
  })

  it("promtool check rules alerts.yml", () => {
    const { status, output } = promtool("check", "rules", "alerts.yml")
    expect(status, output).toBe(0)
    // Queue backlog, outbox lag, consumer lag, error rate, disconnect storms, target down, ...
    expect(Number(/SUCCESS: (\d+) rules found/.exec(output)?.[1])).toBeGreaterThanOrEqual(6)
  })

  it("promtool test rules alerts.test.yml (the alerts fire on the series that should fire them)", () => {
    const { status, output } = promtool("test", "rules", "alerts.test.yml")
    expect(status, output).toBe(0)
    expect(output).toContain("SUCCESS")
  })
})
