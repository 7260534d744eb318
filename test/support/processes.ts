/**
 * Runs the services as real child processes (`node <service>/src/main.ts`), the way they run
 * in production, for integration and end-to-end tests.
 *
 *   const processor = startService("processor", { PROCESSOR_HTTP_PORT: "18001", ... })
 *   await waitForHttp(`${processor.url}/healthz`, { process: processor })
 *   ...
 *   const { code } = await processor.stop()   // SIGTERM, then SIGKILL after a timeout
 *
 * Every started process is killed when the test process exits, even if a test forgets.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Agent, fetch as undiciFetch } from "undici"

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

/** The repository's Node 24 (the one that runs TypeScript), not whatever runs the tests. */
export const nodeBinary = (() => {
  const local = `${repoRoot}node_modules/.bin/node`
  return existsSync(local) ? local : process.execPath
})()

export type ServiceName = "processor" | "requestor"

export const serviceEntry = (service: ServiceName) => `${repoRoot}${service}/src/main.ts`

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface ServiceProcess {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** Everything written so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** `stdout` and `stderr` for failure messages. */
  readonly output: () => string
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>
  /** Whether it has exited already. */
  readonly hasExited: () => boolean
  /** Sends `signal` (default SIGTERM), waits up to `timeoutMs` (default 10 s), then SIGKILLs. */
  readonly stop: (options?: {
    readonly signal?: NodeJS.Signals
    readonly timeoutMs?: number
  }) => Promise<Exit & { readonly durationMs: number; readonly killed: boolean }>
}

const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/**
 * The environment of a child: only the basics of the test's own environment (so a developer's
 * `PROCESSOR_HTTP_PORT` does not leak in), `AUTH_MODE=disabled`, plus `env`. `undefined` removes a
 * variable.
 */
export const childEnv = (env: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = {}
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG", "TZ", "USER"]) {
    const value = process.env[name]
    if (value !== undefined) base[name] = value
  }
  // The services refuse to start without a way to verify tokens (AUTH_MODE=jwt is their default):
  // tests run them without authentication unless they set AUTH_MODE (and its keys) themselves.
  base.AUTH_MODE = "disabled"
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete base[name]
    else base[name] = value
  }
  return base
}

/** Spawns `node <entry>` with `env`; `entry` is a service name or a path to a script. */
export const startProcess = (
  entry: ServiceName | string,
  env: Readonly<Record<string, string | undefined>> = {},
  options: { readonly name?: string; readonly echo?: boolean } = {},
): ServiceProcess => {
  const script = entry === "processor" || entry === "requestor" ? serviceEntry(entry) : entry
  const name = options.name ?? entry
  const child = spawn(nodeBinary, [script], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  })
  if (child.pid === undefined) throw new Error(`could not start ${name} (${nodeBinary} ${script})`)
  running.add(child)
  let stdout = ""
  let stderr = ""
  const echo = options.echo ?? process.env.ECHO_SERVICE_LOGS === "1"
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    if (echo) process.stdout.write(prefixLines(name, chunk))
  })
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
    if (echo) process.stderr.write(prefixLines(name, chunk))
  })
  let done = false
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true
      running.delete(child)
      // Let the pipes drain so stdout/stderr are complete.
      setImmediate(() => resolve({ code, signal }))
    })
  })

  const stop: ServiceProcess["stop"] = async ({ signal = "SIGTERM", timeoutMs = 10_000 } = {}) => {
    const started = Date.now()
    if (done) return { ...(await exited), durationMs: 0, killed: false }
    child.kill(signal)
    let killed = false
    const timer = setTimeout(() => {
      killed = true
      child.kill("SIGKILL")
    }, timeoutMs)
    const exit = await exited
    clearTimeout(timer)
    return { ...exit, durationMs: Date.now() - started, killed }
  }

  return {
    name,
    pid: child.pid,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => `--- ${name} stdout ---\n${stdout}\n--- ${name} stderr ---\n${stderr}`,
    exited,
    hasExited: () => done,
    stop,
  }
}

const prefixLines = (name: string, chunk: string) =>
  chunk
    .split("\n")
    .map((line, index, lines) => (index === lines.length - 1 && line === "" ? "" : `[${name}] ${line}`))
    .join("\n")

/** Runs `entry` until it exits by itself (e.g. on a configuration error), killing it after `timeoutMs`. */
export const runToExit = async (
  entry: ServiceName | string,
  env: Readonly<Record<string, string | undefined>> = {},
  timeoutMs = 15_000,
): Promise<Exit & { readonly stdout: string; readonly stderr: string; readonly timedOut: boolean }> => {
  const child = startProcess(entry, env)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.child.kill("SIGKILL")
  }, timeoutMs)
  const exit = await child.exited
  clearTimeout(timer)
  return { ...exit, stdout: child.stdout(), stderr: child.stderr(), timedOut }
}

export interface WaitOptions {
  /** Give up after this long (default 30 s). */
  readonly timeoutMs?: number
  /** Stop waiting (and fail with its output) if this process exits. */
  readonly process?: ServiceProcess
  /** Accept only this status (default: any response). */
  readonly status?: number
  /** Trust this CA (PEM) for an `https://` URL (a service with `TLS_CERT_FILE`). */
  readonly ca?: Buffer
}

/** `fetch` that trusts `ca` (PEM) for https URLs (undici's, since the global one takes no CA). */
export const fetchTrusting = (ca: Buffer) => {
  const dispatcher = new Agent({ connect: { ca } })
  return (url: string, init: Parameters<typeof undiciFetch>[1] = {}) =>
    undiciFetch(url, { ...init, dispatcher }) as unknown as Promise<Response>
}

/** Polls `url` until it answers (with `status`, if given); returns the last response. */
export const waitForHttp = async (url: string, options: WaitOptions = {}): Promise<Response> => {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  let last = "no attempt"
  while (Date.now() < deadline) {
    if (options.process?.hasExited()) {
      const exit = await options.process.exited
      throw new Error(
        `${options.process.name} exited (${JSON.stringify(exit)}) while waiting for ${url}\n${options.process.output()}`,
      )
    }
    try {
      const get = options.ca === undefined ? fetch : fetchTrusting(options.ca)
      const response = await get(url, { signal: AbortSignal.timeout(2_000) })
      if (options.status === undefined || response.status === options.status) return response
      last = `status ${response.status}: ${await response.text()}`
    } catch (error) {
      last =
        error instanceof Error
          ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ""}`
          : String(error)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(
    `timed out waiting for ${url} (last: ${last})${options.process === undefined ? "" : `\n${options.process.output()}`}`,
  )
}
