/**
 * The benchmark suite: `node test/bench/run.ts [scenario ...]` (default: all, in this order), or
 * `make bench` / `make bench-<scenario>`. Each scenario starts what it measures (unless
 * REQUESTOR_URL, PROCESSOR_URL and REQUESTOR_GRPC name running services), prints progress, then a
 * table of its figures beside a baseline measured in the same run, and writes JSON under
 * `test/bench/.results/` (BENCH_RESULTS_DIR). Exit 1 when a scenario lost, duplicated or
 * reordered an event or failed; 2 on a bad setting. `BENCH_SHORT=1`: the short form (seconds).
 * Settings: test/bench/README.md.
 */
import { acceptsTcp } from "../support/ports.ts"
import { servers } from "../support/servers.ts"
import { ConfigError, isShort } from "./lib/config.ts"
import { progress, renderTable, writeResult } from "./lib/report.ts"
import type { Scenario } from "./lib/scenario.ts"
import { benchRedis, externalSystem } from "./lib/targets.ts"
import { durability } from "./scenarios/durability.ts"
import { fanOut } from "./scenarios/fan-out.ts"
import { liveOrders } from "./scenarios/live-orders.ts"
import { overload } from "./scenarios/overload.ts"
import { replicas } from "./scenarios/replicas.ts"
import { retention } from "./scenarios/retention.ts"
import { write } from "./scenarios/write.ts"

const scenarios: ReadonlyArray<Scenario> = [write, durability, liveOrders, fanOut, overload, replicas, retention]

const usage = () =>
  [
    "usage: node test/bench/run.ts [scenario ...]   (default: all)",
    ...scenarios.map((scenario) => `  ${scenario.name.padEnd(12)} ${scenario.summary}`),
    "BENCH_SHORT=1 runs the short form; settings are in test/bench/README.md",
  ].join("\n")

const main = async (): Promise<number> => {
  const names = process.argv.slice(2).filter((arg) => arg !== "all")
  if (names.includes("--help") || names.includes("-h")) {
    process.stdout.write(`${usage()}\n`)
    return 0
  }
  const unknown = names.filter((name) => !scenarios.some((scenario) => scenario.name === name))
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario ${unknown.join(", ")}\n${usage()}\n`)
    return 2
  }
  const chosen = names.length === 0 ? scenarios : scenarios.filter((scenario) => names.includes(scenario.name))
  const external = externalSystem()
  if (external === undefined) {
    for (const [name, { host, port }] of Object.entries({ kafka: servers.kafka, redis: servers.redis })) {
      if (!(await acceptsTcp(host, port, 2_000))) {
        process.stderr.write(`${name} is not reachable at ${host}:${port}: start it with \`make infra-up\`\n`)
        return 1
      }
    }
  }
  const redis = await benchRedis()
  progress(
    `${isShort ? "short form; " : ""}scenarios: ${chosen.map((scenario) => scenario.name).join(", ")}; Redis ${redis.url}${redis.private ? " (private)" : ""}`,
  )
  let failed = 0
  try {
    for (const scenario of chosen) {
      try {
        const result = await scenario.run({ redis, external })
        process.stdout.write(`${renderTable(result)}\n`)
        progress(`${scenario.name}: results in ${writeResult(result)}`)
        if (!result.ok) failed += 1
      } catch (error) {
        if (error instanceof ConfigError) throw error
        failed += 1
        process.stderr.write(
          `${scenario.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        )
      }
    }
  } finally {
    await redis.close()
  }
  return failed === 0 ? 0 : 1
}

// Ctrl-C: exit, which kills the started services, Redis and watcher processes (their exit hooks).
process.once("SIGINT", () => process.exit(130))
process.once("SIGTERM", () => process.exit(143))

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(error instanceof ConfigError ? 2 : 1)
  },
)
