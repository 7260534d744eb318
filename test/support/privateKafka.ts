/**
 * A Kafka broker of the test's own, for outage tests: `infra/local/stack.sh up kafka` with free
 * ports and a run directory under the system temp directory, so stopping it disturbs no other
 * test (never the shared Kafka on 9092). It is stopped through its pidfile in that directory,
 * never with `stack.sh down` (which, with a missing variable, would stop the shared stack).
 * Data stays between `stop` and `start` (topics survive a restart); `close` deletes it.
 *
 *   const kafka = await startPrivateKafka()
 *   kafka.brokerUrl   // kafka://127.0.0.1:<port>  → BROKER_URL
 *   await kafka.stop(); await kafka.start()
 *
 * With `saslSsl`, the stack's opt-in SASL_SSL listener too (`KAFKA_SASL_SSL_PORT`: SCRAM-SHA-512,
 * the user created at format time, `kafka.crt`/`kafka.key` of `scripts/certs.sh` in `certsDir`):
 * `kafka.saslBootstrap` is its `127.0.0.1:<port>`.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePorts } from "./ports.ts"
import { repoRoot } from "./processes.ts"

export interface PrivateKafka {
  readonly port: number
  /** `127.0.0.1:<port>` (kcat `-b`). */
  readonly bootstrap: string
  /** `kafka://127.0.0.1:<port>` (`BROKER_URL`). */
  readonly brokerUrl: string
  /** `127.0.0.1:<port>` of the SASL_SSL listener (with `saslSsl`). */
  readonly saslBootstrap?: string
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
  readonly close: () => Promise<void>
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const started = new Set<() => void>()
process.once("exit", () => {
  for (const kill of started) kill()
})

export interface PrivateKafkaOptions {
  readonly saslSsl?: { readonly username: string; readonly password: string; readonly certsDir: string }
}

export const startPrivateKafka = async (options: PrivateKafkaOptions = {}): Promise<PrivateKafka> => {
  const [port, controllerPort, saslPort] = (await freePorts(3)) as [number, number, number]
  const runDir = mkdtempSync(join(tmpdir(), "dcent-private-kafka-"))
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // One broker on these two ports, whatever KAFKA_BROKERS the shell exports.
    KAFKA_BROKERS: "1",
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    DCENT_LOCAL_DIR: runDir,
    KAFKA_HEAP_OPTS: "-Xms128m -Xmx384m",
    ...(options.saslSsl === undefined
      ? {}
      : {
          KAFKA_SASL_SSL_PORT: String(saslPort),
          KAFKA_SASL_USERNAME: options.saslSsl.username,
          KAFKA_SASL_PASSWORD: options.saslSsl.password,
          KAFKA_SSL_CERT_DIR: options.saslSsl.certsDir,
        }),
  }
  const pid = () => {
    try {
      const value = Number(readFileSync(join(runDir, "pids", "kafka.pid"), "utf8").trim())
      return Number.isInteger(value) && value > 0 && alive(value) ? value : undefined
    } catch {
      return undefined
    }
  }
  const killNow = () => {
    const running = pid()
    if (running !== undefined) process.kill(running, "SIGKILL")
  }
  started.add(killNow)

  const start = () =>
    new Promise<void>((resolve, reject) => {
      execFile(
        "bash",
        ["infra/local/stack.sh", "up", "kafka"],
        { env, cwd: repoRoot, timeout: 180_000 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`private kafka did not start: ${error.message}\n${stdout}\n${stderr}`))
          else resolve()
        },
      )
    })

  const stop = async () => {
    const running = pid()
    if (running === undefined) return
    process.kill(running, "SIGTERM")
    const deadline = Date.now() + 30_000
    while (alive(running)) {
      if (Date.now() > deadline) process.kill(running, "SIGKILL")
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  await start()
  return {
    port,
    bootstrap: `127.0.0.1:${port}`,
    brokerUrl: `kafka://127.0.0.1:${port}`,
    ...(options.saslSsl === undefined ? {} : { saslBootstrap: `127.0.0.1:${saslPort}` }),
    stop,
    start,
    close: async () => {
      await stop()
      started.delete(killNow)
      rmSync(runDir, { recursive: true, force: true })
    },
  }
}
