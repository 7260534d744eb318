/**
 * The chaos suite's own Kafka and Redis (never the shared ones on 9092/6379): `infra/local/stack.sh`
 * with other ports and its own run directory (`test/chaos/.run`, git-ignored), so restarting them
 * disturbs no other test.
 *
 * Restarts stop the server through its pidfile in that run directory (never `stack.sh down`, which
 * with a missing variable would stop the shared stack) and start it again with `stack.sh up`.
 *
 * Redis runs with the settings every deployment uses (`infra/redis/redis.conf`, loaded by
 * stack.sh: AOF with `appendfsync always`, `noeviction`), untouched by this suite, and is
 * restarted with SIGKILL: an acknowledged write is on disk before Redis answers, so a crash loses
 * nothing acknowledged — the harsher of the two ways (a graceful SIGTERM restart would fsync the
 * AOF anyway and prove less).
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { repoRoot } from "../support/processes.ts"

export const chaosServers = {
  kafkaPort: Number(process.env.CHAOS_KAFKA_PORT ?? 19392),
  kafkaControllerPort: Number(process.env.CHAOS_KAFKA_CONTROLLER_PORT ?? 19393),
  redisPort: Number(process.env.CHAOS_REDIS_PORT ?? 16399),
  runDir: process.env.CHAOS_RUN_DIR ?? `${repoRoot}test/chaos/.run`,
} as const

export const chaosKafka = `127.0.0.1:${chaosServers.kafkaPort}`
export const chaosBrokerUrl = `kafka://${chaosKafka}`
export const chaosRedisUrl = (db: number) => `redis://127.0.0.1:${chaosServers.redisPort}/${db}`

type Server = "kafka" | "redis"

const stackEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  KAFKA_PORT: String(chaosServers.kafkaPort),
  KAFKA_CONTROLLER_PORT: String(chaosServers.kafkaControllerPort),
  REDIS_PORT: String(chaosServers.redisPort),
  DCENT_LOCAL_DIR: chaosServers.runDir,
})

const run = (file: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) =>
  new Promise<string>((resolve, reject) => {
    execFile(file, [...args], { env: env ?? process.env, cwd: repoRoot, timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const pidOf = (server: Server): number | undefined => {
  try {
    const pid = Number(readFileSync(`${chaosServers.runDir}/pids/${server}.pid`, "utf8").trim())
    process.kill(pid, 0)
    return pid
  } catch {
    return undefined
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts (idempotently) the chaos Kafka and/or Redis and waits until ready. */
export const chaosUp = async (servers: ReadonlyArray<Server> = ["kafka", "redis"]) => {
  await run("bash", ["infra/local/stack.sh", "up", ...servers], stackEnv())
}

/** Stops one chaos server by its pidfile (`signal`), waiting (bounded) until it has exited. */
export const chaosStop = async (server: Server, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 60_000) => {
  const pid = pidOf(server)
  if (pid === undefined) return
  process.kill(pid, signal)
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL")
    }
    await sleep(100)
  }
}

/** Stops, then starts again; resolves with how long stopping and starting (until ready) took. */
export const chaosRestart = async (server: Server, signal: NodeJS.Signals) => {
  const started = Date.now()
  await chaosStop(server, signal)
  const stopped = Date.now()
  await chaosUp([server])
  return { stopMs: stopped - started, startMs: Date.now() - stopped }
}

/** Stops both chaos servers (SIGTERM); their data stays in the run directory. */
export const chaosDown = async () => {
  await Promise.all([chaosStop("kafka"), chaosStop("redis")])
}
