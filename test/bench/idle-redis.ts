/**
 * Idle Redis load: the commands per second one processor sends to Redis while nothing happens
 * (no orders, no requests), by command, from its own `/metrics`
 * (`dcent_redis_command_duration_seconds_count`). An idle processor should wait for wake-ups,
 * not poll: what remains are the slow fallbacks and the periodic sweeps.
 *
 *   node test/bench/idle-redis.ts              # or: make bench-idle
 *
 * Starts one processor as a real process on free ports (Redis database BENCH_IDLE_DB=12, where
 * only requestor keys live in the tests, Kafka from infra/local/stack.sh), lets it settle, then
 * reads `/metrics` twice.
 *
 *   BENCH_IDLE_DB=12         Redis database of the processor
 *   BENCH_IDLE_SECONDS=10    measured window
 *   BENCH_IDLE_SETTLE=5      seconds after /readyz before the window starts
 */
import { startReadyProcessor } from "../support/e2e.ts"
import { intEnv } from "./lib/config.ts"

const db = intEnv("BENCH_IDLE_DB", 12, 12, 0)
const seconds = intEnv("BENCH_IDLE_SECONDS", 10, 10, 1)
const settle = intEnv("BENCH_IDLE_SETTLE", 5, 5, 0)

const say = (line: string) => process.stdout.write(`${line}\n`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** command → count, from a Prometheus text page. */
const commandCounts = async (metricsUrl: string) => {
  const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text()
  const counts = new Map<string, number>()
  for (const line of text.split("\n")) {
    const match = /^dcent_redis_command_duration_seconds_count\{[^}]*command="([^"]+)"[^}]*\} (\S+)$/.exec(line)
    if (match !== null) counts.set(match[1] as string, Number(match[2]))
  }
  return counts
}

const main = async () => {
  say(`starting a processor (Redis db ${db}) ...`)
  // Only the processor is started (`requestorDb` is not used).
  const processor = await startReadyProcessor({ processorDb: db, requestorDb: db })
  try {
    await sleep(settle * 1_000)
    const before = await commandCounts(`${processor.httpUrl}/metrics`)
    await sleep(seconds * 1_000)
    const after = await commandCounts(`${processor.httpUrl}/metrics`)
    const rates = [...after]
      .map(([command, count]) => [command, (count - (before.get(command) ?? 0)) / seconds] as const)
      .filter(([, rate]) => rate > 0)
      .sort((a, b) => b[1] - a[1])
    const total = rates.reduce((sum, [, rate]) => sum + rate, 0)
    say(`\nidle Redis commands of one processor over ${seconds} s (per second)`)
    for (const [command, rate] of rates) say(`  ${command.padEnd(16)} ${rate.toFixed(1).padStart(8)}`)
    say(`  ${"total".padEnd(16)} ${total.toFixed(1).padStart(8)}`)
  } finally {
    await processor.stop()
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `idle-redis failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  process.exit(1)
})
