/**
 * Finding and running the observability binaries (Prometheus, Jaeger) in tests. They are
 * installed by `scripts/install-observability.sh` (run by `make test`); a missing binary fails
 * the test with that hint, never skips it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { homedir } from "node:os"
import { delimiter, join } from "node:path"
import { acceptsTcp } from "./ports.ts"

/** Where `scripts/install-observability.sh` puts what it builds with `go install`. */
export const observabilityBinDir = () => join(process.env.DCENT_CACHE_DIR ?? join(homedir(), ".cache", "dcent"), "bin")

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * The path of `name`: `envOverride` if that variable is set, else the first executable in the
 * observability cache and then on PATH. Throws, saying how to install it, when there is none.
 */
export const requireBinary = (name: string, envOverride: string): string => {
  const override = process.env[envOverride]
  if (override !== undefined && override !== "") {
    if (isExecutable(override)) return override
    throw new Error(`${envOverride}=${override} is not an executable file`)
  }
  const candidates = [observabilityBinDir(), ...(process.env.PATH ?? "").split(delimiter)]
    .filter((dir) => dir !== "")
    .map((dir) => join(dir, name))
  const found = candidates.find(isExecutable)
  if (found !== undefined) return found
  throw new Error(
    `\`${name}\` is not installed (looked in ${observabilityBinDir()} and on PATH). ` +
      "Install it with `bash scripts/install-observability.sh` (`make test` does), or set " +
      `${envOverride} to its path.`,
  )
}

export interface BinaryProcess {
  readonly name: string
  readonly pid: number
  /** stdout and stderr so far, for failure messages. */
  readonly output: () => string
  readonly hasExited: () => boolean
  /** SIGTERM, then SIGKILL after `timeoutMs` (default 10 s); resolves once it has exited. */
  readonly stop: (timeoutMs?: number) => Promise<void>
}

const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/** Spawns `command args`; it is killed when the test process exits, even if a test forgets. */
export const spawnBinary = (name: string, command: string, args: ReadonlyArray<string>): BinaryProcess => {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] })
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`)
  running.add(child)
  let output = ""
  const append = (chunk: string) => {
    // Keep the tail only: a long-running server logs a lot.
    output = (output + chunk).slice(-64_000)
  }
  child.stdout?.setEncoding("utf8").on("data", append)
  child.stderr?.setEncoding("utf8").on("data", append)
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true
      running.delete(child)
      resolve()
    })
    child.once("error", (error) => {
      append(`\n${error.message}\n`)
      exited = true
      running.delete(child)
      resolve()
    })
  })
  return {
    name,
    pid: child.pid,
    output: () => `--- ${name} output ---\n${output}`,
    hasExited: () => exited,
    stop: async (timeoutMs = 10_000) => {
      if (exited) return
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      await exit
      clearTimeout(timer)
    },
  }
}

/**
 * Polls until `ready` resolves true, failing with the binary's output if it exits or the
 * timeout (default 60 s) passes.
 */
export const waitUntil = async (
  binary: BinaryProcess,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (binary.hasExited()) throw new Error(`${binary.name} exited while waiting for ${what}\n${binary.output()}`)
    if (await ready().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${binary.output()}`)
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export const portAccepts = (port: number) => acceptsTcp("127.0.0.1", port)

/** Whether `url` answers 200. */
export const answersOk = async (url: string) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
  await response.arrayBuffer()
  return response.ok
}
