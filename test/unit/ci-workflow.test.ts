/**
 * The code host's CI workflow runs exactly the README's test command (like `.ci/run`), and
 * caches its downloads outside git. (`actionlint` checks its syntax and expressions:
 * test/integration/tools/workflow-actionlint.test.ts.)
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const root = fileURLToPath(new URL("../..", import.meta.url))
const workflow = parse(readFileSync(`${root}.github/workflows/ci.yml`, "utf8"))
const steps: Array<{ uses?: string; run?: string; with?: { path?: string } }> = Object.values(
  workflow.jobs as Record<string, { steps: Array<never> }>,
).flatMap((job) => job.steps)

describe(".github/workflows/ci.yml", () => {
  it("runs the README's test command, as .ci/run does", () => {
    const readme = readFileSync(`${root}README.md`, "utf8")
    expect(readme).toContain("make test   #")
    expect(readFileSync(`${root}.ci/run`, "utf8")).toMatch(/^make test$/m)
    expect(steps.filter((step) => step.run !== undefined).map((step) => step.run)).toEqual(["make test"])
    expect(workflow.on).toHaveProperty("pull_request")
  })

  it("checks the repository out and caches npm, Kafka/Jaeger and Go downloads outside the work tree", () => {
    expect(steps[0]?.uses).toMatch(/^actions\/checkout@v\d+$/)
    const cached = steps
      .filter((step) => step.uses?.startsWith("actions/cache@") === true)
      .flatMap((step) => String(step.with?.path).split("\n"))
      .map((path) => path.trim())
      .filter((path) => path !== "")
    expect(cached).toEqual(expect.arrayContaining(["~/.npm", "~/.cache/dcent", "~/.m2/repository", "~/go/pkg/mod"]))
    for (const path of cached) expect(path.startsWith("~/"), path).toBe(true)
  })
})
