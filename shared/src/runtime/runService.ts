/**
 * The entry point of a service process: builds the application layer, keeps it running, and
 * turns the way it ends into an exit code.
 *
 * - SIGTERM / SIGINT interrupt the application: it drains first (`Drain.ts`, phases accept →
 *   streams → work → flush: not ready, streams told to reconnect, in-flight work finished, held
 *   failure reports and the outbox flushed, all within `DRAIN_TIMEOUT_SECONDS`), then the layers
 *   are released in reverse order of building (servers close, workers stop, stream leases are
 *   released, Redis quits, the broker flushes; see each `main.ts`), tracing is flushed last, and
 *   the process exits 0 — or 1 if all that takes longer than the drain timeout + 8 s.
 * - A failure — at start-up typically an invalid environment variable — prints one line on
 *   stderr (`processor: invalid configuration: PROCESSOR_HTTP_PORT="abc": ...`) and exits 1.
 * - A defect (a bug) prints the full cause and exits 1.
 *
 * Logging (`./logging.ts`) and tracing (`../telemetry/Telemetry.ts`) wrap everything: built
 * first, released last. `Drain` is built under the application (pieces register their steps on
 * it) and `DrainOnShutdown` above it, so the drain is the first finalizer to run.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, type Config, Effect, Exit, Layer } from "effect"
import { formatConfigError } from "../config/errors.ts"
import { TelemetryLive } from "../telemetry/Telemetry.ts"
import {
  Drain,
  DrainOnShutdown,
  defaultDrainTimeoutSeconds,
  drainTimeoutConfig,
  releaseMarginSeconds,
} from "./Drain.ts"
import { LoggingLive } from "./logging.ts"

/**
 * After a signal, the process exits even if some finalizer hangs: the drain's budget
 * (`DRAIN_TIMEOUT_SECONDS`, see `Drain.ts`) plus time to release the layers. An invalid value
 * stops the service at start-up (its config check), so the default here only covers that case.
 */
const shutdownDeadlineMs = (): number => {
  const raw = process.env.DRAIN_TIMEOUT_SECONDS?.trim()
  const seconds = raw !== undefined && /^[1-9][0-9]*$/.test(raw) ? Number(raw) : defaultDrainTimeoutSeconds
  return (seconds + releaseMarginSeconds) * 1_000
}

const isConfigError = (error: unknown): error is Config.ConfigError =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "ConfigError"

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim()

/** A one-line description of an expected failure, including a nested `cause` message if any. */
export const describeError = (error: unknown): string => {
  if (isConfigError(error)) return `invalid configuration: ${formatConfigError(error)}`
  if (error instanceof Error || (typeof error === "object" && error !== null && "message" in error)) {
    const { message, _tag, cause } = error as { message?: unknown; _tag?: unknown; cause?: unknown }
    const head = typeof message === "string" && message !== "" ? message : String(_tag ?? "error")
    const nested =
      cause instanceof Error && cause.message !== "" && !head.includes(cause.message) ? `: ${cause.message}` : ""
    return oneLine(`${head}${nested}`)
  }
  return oneLine(String(error))
}

export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) return describeError(failure.error)
  return `unexpected error\n${Cause.pretty(cause)}`
}

export interface RunServiceOptions {
  /**
   * Every configuration the service reads, checked before any layer is built so that a bad value
   * is reported as such (and not masked by, say, a connection failure of another layer).
   */
  readonly config?: Effect.Effect<unknown, Config.ConfigError>
}

export const runService = <A, E>(name: string, app: Layer.Layer<A, E>, options: RunServiceOptions = {}): void => {
  let armed = false
  const armDeadline = () => {
    if (armed) return
    armed = true
    const deadlineMs = shutdownDeadlineMs()
    setTimeout(() => {
      process.stderr.write(`${name}: shutdown took longer than ${deadlineMs} ms, exiting\n`)
      process.exit(1)
    }, deadlineMs).unref()
  }
  process.once("SIGTERM", armDeadline)
  process.once("SIGINT", armDeadline)

  // The drain runs first when the application stops (built last, released first); every piece
  // of the application can register its steps with `Drain` (built first, released last).
  const drained = DrainOnShutdown.pipe(Layer.provideMerge(app), Layer.provideMerge(Drain.layer))
  const config = Effect.andThen(options.config ?? Effect.void, drainTimeoutConfig)
  const program = Effect.andThen(config, Layer.launch(drained)).pipe(
    Effect.onInterrupt(() => Effect.logInfo(`${name} stopped`)),
    // Outermost: built first, released last, so the spans of the shutdown are flushed too.
    Effect.provide(Layer.merge(LoggingLive(name), TelemetryLive(name))),
  )

  NodeRuntime.runMain(program, {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
      process.stderr.write(`${name}: ${describeCause(exit.cause)}\n`)
      onExit(1)
    },
  })
}
