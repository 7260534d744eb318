/**
 * A dedicated connection subscribed to one Redis pub/sub channel for the life of the calling
 * scope (a subscribed connection can run no other command, so it is a duplicate of the main one).
 *
 * It connects in the background and re-subscribes after every reconnect (ioredis retries on its
 * own); `onSubscribed` runs after each successful subscription, so callers can re-check what
 * was published while they were not listening. Connection errors are left to the main
 * connection's log (`Redis.ts`); a failed SUBSCRIBE is logged at warning. On close the
 * connection quits (bounded to 2 s), then is dropped.
 */
import { Effect, type Scope } from "effect"
import type { RedisShape } from "./Redis.ts"

export interface ChannelSubscription {
  /** The channel name as published (ioredis' `keyPrefix` does not apply to channels). */
  readonly channel: string
  /** Each message of the channel. */
  readonly onMessage: (message: string) => void
  /** After each (re)subscription. */
  readonly onSubscribed?: () => void
}

export const subscribeToChannel = (
  redis: RedisShape,
  subscription: ChannelSubscription,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { channel, onMessage, onSubscribed } = subscription
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const subscriber = yield* Effect.acquireRelease(
      Effect.sync(() => redis.duplicate({ keyPrefix: "", enableAutoPipelining: false })),
      (client) =>
        Effect.promise(() => client.quit()).pipe(
          Effect.timeout("2 seconds"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect())),
        ),
    )
    subscriber.on("error", () => {}) // the main connection logs Redis trouble
    subscriber.on("message", (from: string, message: string) => {
      if (from === channel) onMessage(message)
    })
    subscriber.on("ready", () => {
      subscriber.subscribe(channel).then(
        () => onSubscribed?.(),
        (error: unknown) =>
          runFork(
            Effect.logWarning("redis subscribe failed; retried on the next reconnect").pipe(
              Effect.annotateLogs({ channel, error: error instanceof Error ? error.message : String(error) }),
            ),
          ),
      )
    })
    subscriber.connect().catch(() => {}) // retried by ioredis; the main connection logs why
  })
