/**
 * Guards calls to a dependency that may be slow or down (an HTTP API, a webhook): every attempt
 * is bounded by a timeout, transient failures are retried a bounded number of times with
 * exponential backoff and jitter, and a circuit breaker stops calling a dependency that keeps
 * failing, so callers get a fast, typed failure they can fall back from.
 *
 *   attempt ─timeout─▶ retry (transient only, bounded, backoff+jitter) ─▶ circuit breaker
 *
 * The breaker is Effect's `effect/persistence` `CircuitBreaker` with an in-process store: one
 * circuit per key (e.g. a URL origin); `failureThreshold` consecutive failed calls (after their
 * retries) open it for `openDuration`, then one probe call decides whether it closes again.
 * Breaker state is per process, so every replica learns about an outage on its own.
 *
 * What counts against the dependency (`isDependencyFailure`, default `isTransientFailure`):
 * timeouts, transport errors (connection refused/reset) and HTTP 408/500/502/503/504. An HTTP
 * 4xx answer means the dependency is up, so it is neither retried nor held against the circuit.
 */
import { Cause, Duration, Effect, Exit, Layer, Option, type Scope } from "effect"
import { HttpClientError } from "effect/http"
import { CircuitBreaker } from "effect/persistence"
import { exponentialCapped, RetryPolicies } from "./schedules.ts"

export interface ResilienceOptions {
  /** Bound on one attempt (the retries each get their own). */
  readonly attemptTimeout: Duration.Input
  /** Retries after the first attempt, for transient failures only; 0 disables retrying. */
  readonly retries: number
  /** Delay before the first retry; doubles on each further retry, ±20 % jitter. */
  readonly retryBaseDelay: Duration.Input
  /** Upper bound on one retry delay (default 2 seconds). */
  readonly retryMaxDelay?: Duration.Input
  /** Consecutive failed calls (each after its retries) that open the circuit. */
  readonly failureThreshold: number
  /** How long an open circuit rejects calls before it lets one probe through. */
  readonly openDuration: Duration.Input
}

export interface RunOptions<E> {
  /**
   * Whether an error counts against the dependency's circuit. Defaults to `isTransientFailure`;
   * a caller can add its own (e.g. an answer it cannot read).
   */
  readonly isDependencyFailure?: (error: E | Cause.TimeoutError) => boolean
  /** Whether an error is worth another attempt. Defaults to `isTransientFailure`. */
  readonly isRetryable?: (error: E | Cause.TimeoutError) => boolean
}

export type CircuitState = CircuitBreaker.State

export interface Guard {
  /**
   * Runs `effect` under the policy, on the circuit `key`. Fails with the effect's own error
   * after the last attempt, `Cause.TimeoutError` when the last attempt timed out, or
   * `CircuitBreaker.CircuitBreakerError` without running when the circuit is open.
   */
  readonly run: <A, E, R>(
    key: string,
    effect: Effect.Effect<A, E, R>,
    options?: RunOptions<E>,
  ) => Effect.Effect<A, E | Cause.TimeoutError | CircuitBreaker.CircuitBreakerError, R>
  /** The circuit's current state (`Closed`, `Open`, `HalfOpen`). */
  readonly state: (key: string) => Effect.Effect<CircuitState>
  readonly options: ResilienceOptions
}

const transientStatuses: ReadonlySet<number> = new Set([408, 500, 502, 503, 504])

/** Timeouts, transport errors and HTTP 408/500/502/503/504 (as `HttpClientError`). */
export const isTransientFailure = (error: unknown): boolean => {
  if (Cause.isTimeoutError(error)) return true
  if (!HttpClientError.isHttpClientError(error)) return false
  const reason = error.reason
  if (reason._tag === "TransportError") return true
  return reason._tag === "StatusCodeError" && transientStatuses.has(reason.response.status)
}

/** True for the error a guard fails with when the circuit rejected the call without running it. */
export const isCircuitRejection = (error: unknown): error is CircuitBreaker.CircuitBreakerError =>
  error instanceof CircuitBreaker.CircuitBreakerError && error.reason._tag !== "CircuitBreakerStoreError"

const validate = (options: ResilienceOptions) => {
  if (!Number.isInteger(options.retries) || options.retries < 0) {
    throw new RangeError(`retries must be an integer >= 0, got ${options.retries}`)
  }
  if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
    throw new RangeError(`failureThreshold must be an integer >= 1, got ${options.failureThreshold}`)
  }
}

/**
 * Makes a guard with its own in-process circuit store; the store lives as long as `Scope`.
 * Throws a `RangeError` (a defect) for a negative `retries` or a `failureThreshold` below 1.
 */
export const makeGuard = (options: ResilienceOptions): Effect.Effect<Guard, never, Scope.Scope> =>
  Effect.gen(function* () {
    validate(options)
    const store = yield* Layer.build(CircuitBreaker.layerStoreMemory())
    const breaker = yield* CircuitBreaker.make({
      tripPolicy: CircuitBreaker.consecutive(options.failureThreshold),
      openDuration: options.openDuration,
    }).pipe(Effect.provide(store))

    // The shared backoff (`schedules.ts`): exponential from `retryBaseDelay`, capped, ±20 % jitter.
    const retrySchedule = exponentialCapped({
      base: options.retryBaseDelay,
      max: options.retryMaxDelay ?? RetryPolicies.httpCall.max,
    })

    const run = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>, runOptions?: RunOptions<E>) => {
      const isFailure = runOptions?.isDependencyFailure ?? isTransientFailure
      const isRetryable = runOptions?.isRetryable ?? isTransientFailure
      const classify = (exit: Exit.Exit<A, E | Cause.TimeoutError>): CircuitBreaker.Outcome => {
        if (Exit.isSuccess(exit)) return CircuitBreaker.success
        const error = Exit.findErrorOption(exit)
        if (Option.isNone(error)) return CircuitBreaker.ignored
        if (isFailure(error.value)) return CircuitBreaker.failure()
        // The dependency answered (e.g. HTTP 4xx): it is up, even though this call failed.
        return HttpClientError.isHttpClientError(error.value) && error.value.reason._tag === "StatusCodeError"
          ? CircuitBreaker.success
          : CircuitBreaker.ignored
      }
      return effect.pipe(
        Effect.timeout(options.attemptTimeout),
        Effect.retry({ schedule: retrySchedule, times: options.retries, while: isRetryable }),
        breaker.execute({ key, classify }),
      )
    }

    const state = (key: string) =>
      breaker.state(key).pipe(Effect.catch(() => Effect.succeed<CircuitState>({ _tag: "Closed", key })))

    return { run, state, options } satisfies Guard
  })

/**
 * A short reason for logs and records that never includes a URL (webhook URLs carry secrets):
 * `timed out after 2s`, `HTTP 503`, `connection failed (ECONNREFUSED)`, `circuit open (retry in 30s)`.
 */
export const describeFailure = (error: unknown, attemptTimeout?: Duration.Input): string => {
  if (Cause.isTimeoutError(error)) {
    return attemptTimeout === undefined
      ? "timed out"
      : `timed out after ${Duration.format(Duration.fromInputUnsafe(attemptTimeout))}`
  }
  if (error instanceof CircuitBreaker.CircuitBreakerError) {
    const reason = error.reason
    if (reason._tag === "CircuitOpen") {
      // Whole milliseconds: a clock with sub-millisecond time (jittered sleeps on a TestClock) reads "149ms 552551ns".
      return `circuit open (retry in ${Duration.format(Duration.millis(Math.ceil(Duration.toMillis(reason.retryAfter))))})`
    }
    if (reason._tag === "CircuitHalfOpen") return "circuit half-open (a probe call is running)"
    return "circuit breaker store failed"
  }
  if (HttpClientError.isHttpClientError(error)) {
    const reason = error.reason
    switch (reason._tag) {
      case "StatusCodeError":
        return `HTTP ${reason.response.status}`
      case "TransportError":
        return `connection failed${causeCode(reason.cause)}`
      case "DecodeError":
      case "EmptyBodyError":
        return `unreadable response (${reason._tag})`
      default:
        return `request failed (${reason._tag})`
    }
  }
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message
  }
  return String(error)
}

/** `(ECONNREFUSED)` from a fetch failure's nested cause, when there is one. */
const causeCode = (cause: unknown): string => {
  let current: unknown = cause
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string") return ` (${current.code})`
    current = "cause" in current ? current.cause : undefined
  }
  return ""
}
