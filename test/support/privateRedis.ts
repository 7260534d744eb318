/**
 * A Redis server of the test's own (`redis-server --port <free> --save '' --appendonly no`), to
 * stop and start again for outage tests — never the shared Redis of `infra/local/stack.sh`.
 * Without persistence, a restart comes back empty. With `{ deployed: true }` it runs with the
 * deployments' settings instead (`infra/redis/redis.conf`: AOF fsynced on every write,
 * noeviction) in a temporary directory, for benchmarks that must measure what users run.
 *
 *   const redis = await startPrivateRedis()
 *   redis.url          // redis://127.0.0.1:<port>
 *   await redis.stop() // SIGTERM, wait for the exit
 *   await redis.start() // same port again, wait for PONG
 *   await redis.close() // stop for good (also on test-process exit)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./ports.ts"
import { repoRoot } from "./processes.ts"

export interface PrivateRedis {
  readonly port: number
  readonly url: string
  readonly isRunning: () => boolean
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
  readonly close: () => Promise<void>
}

const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/** Resolves when `PING` on `port` answers `+PONG` (after `AUTH` with `password`), false if it does not within `timeoutMs`. */
const pong = (port: number, timeoutMs: number, password?: string) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(false)
    }, timeoutMs)
    socket.once("connect", () => socket.write(password === undefined ? "PING\r\n" : `AUTH ${password}\r\nPING\r\n`))
    let answer = ""
    socket.on("data", (data) => {
      answer += data.toString()
      // One reply line per command sent (AUTH, then PING).
      if (answer.split("\r\n").length - 1 < (password === undefined ? 1 : 2)) return
      clearTimeout(timer)
      socket.destroy()
      resolve(answer.endsWith("+PONG\r\n"))
    })
    socket.once("error", () => {
      clearTimeout(timer)
      resolve(false)
    })
  })

export interface PrivateRedisOptions {
  readonly binary?: string
  /** Run with `infra/redis/redis.conf` (durable, noeviction) and this `maxmemory` (default 4gb). */
  readonly deployed?: boolean
  readonly maxmemory?: string
  /** More `redis-server` arguments, e.g. `["--requirepass", pw]` or `["--user", "app on >pw ~* &* +@all"]`. */
  readonly args?: ReadonlyArray<string>
  /** The default user's password (`--requirepass`), for the PING that tells it is up. */
  readonly password?: string
}

export const startPrivateRedis = async (options: PrivateRedisOptions = {}): Promise<PrivateRedis> => {
  const binary = options.binary ?? process.env.REDIS_SERVER_BIN ?? "redis-server"
  const port = await freePort()
  let child: ChildProcess | undefined
  let output = ""
  const dataDir = options.deployed === true ? mkdtempSync(join(tmpdir(), "dcent-redis-")) : undefined
  // redis-server takes the config file first, then options that override it.
  const configFile = dataDir === undefined ? [] : [`${repoRoot}infra/redis/redis.conf`]
  const storage =
    dataDir === undefined
      ? ["--save", "", "--appendonly", "no"]
      : ["--dir", dataDir, "--maxmemory", options.maxmemory ?? "4gb"]

  const start = async () => {
    if (child !== undefined) return
    output = ""
    const started = spawn(
      binary,
      [
        ...configFile,
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        ...storage,
        "--protected-mode",
        "no",
        ...(options.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    child = started
    running.add(started)
    started.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    started.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    started.once("exit", () => {
      running.delete(started)
      if (child === started) child = undefined
    })
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (child === undefined) throw new Error(`redis-server on port ${port} exited at start:\n${output}`)
      if (await pong(port, 500, options.password)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`redis-server on port ${port} did not answer PING within 10 s:\n${output}`)
  }

  const stop = async () => {
    const current = child
    if (current === undefined) return
    const exited = new Promise<void>((resolve) => current.once("exit", () => resolve()))
    current.kill("SIGTERM")
    const timer = setTimeout(() => current.kill("SIGKILL"), 5_000)
    await exited
    clearTimeout(timer)
  }

  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    isRunning: () => child !== undefined,
    stop,
    start,
    close: async () => {
      await stop()
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
