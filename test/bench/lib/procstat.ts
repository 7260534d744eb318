/**
 * What a process costs, read from Linux `/proc` (so it needs no help from the process): resident
 * memory (`VmRSS` of `/proc/<pid>/status`) and CPU time (`utime + stime` of `/proc/<pid>/stat`),
 * plus Redis's own counters (`INFO`: commands processed, CPU used).
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { Redis as IORedis } from "ioredis"

/** Clock ticks per second of the `/proc/<pid>/stat` times (`getconf CLK_TCK`, nearly always 100). */
const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** Resident memory in MiB, `undefined` when the process is gone. */
export const rssMiB = (pid: number): number | undefined => {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1]) / 1024
  } catch {
    return undefined
  }
}

/** User + system CPU seconds used so far, `undefined` when the process is gone. */
export const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks
  } catch {
    return undefined
  }
}

/** CPU use of named processes over a window, in % of one core. */
export const cpuMeter = (pids: Readonly<Record<string, number>>) => {
  const from = new Map(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]))
  const startedAt = performance.now()
  return {
    /** % of a core per name since the meter started (`null` for a process that went away). */
    read: (): Record<string, number | null> => {
      const seconds = (performance.now() - startedAt) / 1000
      return Object.fromEntries(
        Object.entries(pids).map(([name, pid]) => {
          const before = from.get(name)
          const now = cpuSeconds(pid)
          return [name, before === undefined || now === undefined ? null : ((now - before) / seconds) * 100]
        }),
      )
    },
  }
}

export interface RedisStats {
  /** `total_commands_processed` (server-wide: use a Redis of the bench's own). */
  readonly commands: number
  /** `used_cpu_user + used_cpu_sys` of the server, in seconds. */
  readonly cpuSeconds: number
  /** `total_net_input_bytes`: bytes received from its clients. */
  readonly inputBytes: number
}

/** Redis's own counters, from `INFO stats` and `INFO cpu`. */
export const redisStats = async (url: string): Promise<RedisStats> => {
  const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    const info = `${await client.info("stats")}\n${await client.info("cpu")}`
    const field = (name: string) => {
      const match = new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)
      if (match === null) throw new Error(`no ${name} in INFO of ${url}`)
      return Number(match[1])
    }
    return {
      commands: field("total_commands_processed"),
      inputBytes: field("total_net_input_bytes"),
      cpuSeconds: field("used_cpu_user") + field("used_cpu_sys"),
    }
  } finally {
    client.disconnect()
  }
}

/** The pid of the local Kafka (`infra/local/.run/pids/kafka.pid`), when it runs here. */
export const localKafkaPid = (repoRoot: string): number | undefined => {
  try {
    const pid = Number(readFileSync(`${repoRoot}infra/local/.run/pids/kafka.pid`, "utf8").trim())
    return Number.isInteger(pid) && cpuSeconds(pid) !== undefined ? pid : undefined
  } catch {
    return undefined
  }
}

export interface Usage {
  readonly seconds: number
  /** % of one core per process name (`null`: it went away). */
  readonly cpu: Readonly<Record<string, number | null>>
  /** Commands/s Redis served over the window (all its clients). */
  readonly redisCommandsPerSecond?: number
  /** Bytes/s Redis received over the window (what it parses and, for writes, appends to its AOF). */
  readonly redisInputBytesPerSecond?: number
}

/**
 * Starts measuring `pids` (and Redis at `redisUrl`, whose CPU is reported as `redis`); `stop`
 * returns the usage over the window.
 */
export const usageMeter = async (pids: Readonly<Record<string, number>>, redisUrl?: string) => {
  const meter = cpuMeter(pids)
  const startedAt = performance.now()
  const before = redisUrl === undefined ? undefined : await redisStats(redisUrl).catch(() => undefined)
  return {
    stop: async (): Promise<Usage> => {
      const seconds = (performance.now() - startedAt) / 1000
      const cpu = meter.read()
      const after = redisUrl === undefined ? undefined : await redisStats(redisUrl).catch(() => undefined)
      if (before === undefined || after === undefined) return { seconds, cpu }
      return {
        seconds,
        cpu: { ...cpu, redis: ((after.cpuSeconds - before.cpuSeconds) / seconds) * 100 },
        redisCommandsPerSecond: (after.commands - before.commands) / seconds,
        redisInputBytesPerSecond: (after.inputBytes - before.inputBytes) / seconds,
      }
    },
  }
}
