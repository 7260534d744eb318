/**
 * A dedicated connection subscribed to one Redis pub/sub channel for the life of the calling
 * scope (a subscribed connection can run no other command, so it is a connection of its own).
 *
 * `onSubscribed` runs after each successful subscription, so callers can re-check what was
 * published while they were not listening: a subscriber misses every message published while it
 * was not subscribed, and its callers rely on hearing of every gap.
 *
 * - One node: a duplicate of the main connection; ioredis reconnects on its own and we subscribe
 *   again on every `ready`.
 * - Redis Cluster: a plain connection to ONE node (a classic `PUBLISH` reaches every node). When
 *   that node stays down (a killed master), the connection ends and the next known node is
 *   tried. ioredis' own cluster subscriber is not used: it moves to another node and subscribes
 *   again silently, so the messages of that gap were lost without anyone re-reading.
 *
 * A failed SUBSCRIBE is logged at warning and the connection is dropped and made again, so a
 * subscriber never stays connected and unsubscribed. Connection errors are left to the main
 * connection's log (`Redis.ts`). On close the connection quits (bounded to 2 s), then is dropped.
 */
import { Effect, type Scope } from "effect"
import type { RedisClient, RedisShape } from "./Redis.ts"

export interface ChannelSubscription {
  /** The channel name as published (ioredis' `keyPrefix` does not apply to channels). */
  readonly channel: string
  /** Each message of the channel. */
  readonly onMessage: (message: string) => void
  /** After each (re)subscription. */
  readonly onSubscribed?: () => void
  /** `CLIENT SETNAME` of the connection (default `dcent-subscriber`), to find it in `CLIENT LIST`. */
  readonly connectionName?: string
}

export const subscribeToChannel = (
  redis: RedisShape,
  subscription: ChannelSubscription,
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { channel, onMessage, onSubscribed } = subscription
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    let current: RedisClient | undefined
    let closed = false
    /** Which known node a cluster subscriber tries next (round robin). */
    let turn = 0

    const connect = () => {
      if (closed) return
      const nodes = redis.nodes()
      const node = nodes.length === 0 ? undefined : nodes[turn++ % nodes.length]
      const client = redis.duplicate({
        keyPrefix: "",
        enableAutoPipelining: false,
        connectionName: subscription.connectionName ?? "dcent-subscriber",
        ...(node === undefined ? {} : { node }),
      })
      current = client
      client.on("error", () => {}) // the main connection logs Redis trouble
      client.on("message", (from: string, message: string) => {
        if (from === channel) onMessage(message)
      })
      client.on("ready", () => {
        client.subscribe(channel).then(
          () => {
            if (current === client) onSubscribed?.()
          },
          (error: unknown) => {
            runFork(
              Effect.logWarning("redis subscribe failed; connecting again").pipe(
                Effect.annotateLogs({ channel, error: error instanceof Error ? error.message : String(error) }),
              ),
            )
            if (current === client && !closed) client.disconnect(true)
          },
        )
      })
      // A cluster node that stays down: move on to the next node.
      if (node !== undefined) {
        client.once("end", () => {
          if (current === client) connect()
        })
      }
      client.connect().catch(() => {}) // retried by ioredis; the main connection logs why
    }

    yield* Effect.acquireRelease(Effect.sync(connect), () =>
      Effect.suspend(() => {
        closed = true
        const client = current
        current = undefined
        if (client === undefined) return Effect.void
        return Effect.promise(() => client.quit()).pipe(
          Effect.timeout("2 seconds"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect())),
        )
      }),
    )
  })
