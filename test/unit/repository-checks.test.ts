import { execFileSync, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

// Whole-repository checks that belong to the test run: one formatter/linter (Biome), the
// protobuf linter (buf) and the TypeScript type check, so a red lint is a red `make test`.
const root = fileURLToPath(new URL("../..", import.meta.url))
const bin = (name: string) => `${root}node_modules/.bin/${name}`

const run = (command: string, args: ReadonlyArray<string>, cwd = root) => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe("repository checks", () => {
  it("is formatted and lint-clean (biome check)", () => {
    const { status, output } = run(bin("biome"), ["check", "."])
    expect(output).not.toMatch(/Found \d+ errors?/)
    expect(status, output).toBe(0)
    // Whole-repository tools, like tsc below: they run beside the chaos file since unit and chaos
    // share the first phase, and took over 5 s there on a busy machine.
  }, 120_000)

  it("has lint-clean protobuf definitions (buf lint)", () => {
    const { status, output } = run(bin("buf"), ["lint"], `${root}proto`)
    expect(status, output).toBe(0)
  }, 120_000)

  it("type-checks in strict mode (tsc)", () => {
    const { status, output } = run(bin("tsc"), ["-p", "tsconfig.json"])
    expect(status, output).toBe(0)
  }, 120_000)

  it("type-checks the web console (tsc, DOM)", () => {
    const { status, output } = run(bin("tsc"), ["-p", "console/tsconfig.json"])
    expect(status, output).toBe(0)
  }, 120_000)
})

const dockerCompose = (() => {
  try {
    execFileSync("docker", ["compose", "version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe("Docker Compose path", () => {
  it.skipIf(!dockerCompose)("infra/docker-compose.yml is a valid compose file with all services", () => {
    const { status, output } = run("docker", ["compose", "-f", "infra/docker-compose.yml", "config", "--services"])
    expect(status, output).toBe(0)
    const services = output.trim().split("\n").sort()
    expect(services).toEqual([
      "console",
      "grafana",
      "jaeger",
      "otel-collector",
      "postgres",
      "processor",
      "prometheus",
      "redis",
      "redpanda",
      "requestor",
      "topics",
    ])
  })
})
