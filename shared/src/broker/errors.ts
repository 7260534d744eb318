import { Duration, Effect, Schema } from "effect"

/** The broker cannot be reached (connection refused, timed out, not ready). */
export class BrokerUnavailable extends Schema.TaggedError<BrokerUnavailable>()("BrokerUnavailable", {
  url: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `broker ${this.url} is unreachable: ${this.reason}`
  }
}

/** The broker answered but refused the operation (bad subject, unknown topic, ...). */
export class BrokerError extends Schema.TaggedError<BrokerError>()("BrokerError", {
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `broker ${this.operation} failed: ${this.reason}`
  }
}

/** What the adapters fail with when the broker at `url` is unavailable: for a reason, or by not answering. */
export const brokerFailures = (url: string) => ({
  unavailable: (reason: string) => new BrokerUnavailable({ url, reason }),
  bounded: boundedCall(url),
})

/**
 * Bounds a client call to the broker at `url`: no answer within `ms` makes the broker unavailable
 * for `operation`. Both client libraries would otherwise keep retrying on their own.
 */
export const boundedCall =
  (url: string) =>
  (operation: string, ms: number) =>
  <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E | BrokerUnavailable> =>
    self.pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(ms),
        orElse: () => Effect.fail(new BrokerUnavailable({ url, reason: `${operation}: no answer within ${ms} ms` })),
      }),
    )
