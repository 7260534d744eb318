/**
 * A dedicated connection for blocking commands (`XREADGROUP … BLOCK`) for the life of the calling
 * scope: a blocked command holds its connection, so it must not be the service's main one.
 *
 * - A duplicate of the main connection: same URL, key prefix and reconnect strategy. On one node,
 *   a command in flight when the connection drops fails as it starts reconnecting (`Redis.ts`,
 *   `failingInFlightOnReconnect`) instead of waiting for Redis or being sent again.
 * - Its commands go through the main client's `sendCommand`, so the metrics hook
 *   (`metrics/redis.ts`, installed on the main client) times them too, whenever it is installed.
 * - Each command is bounded on the client (`timeoutMs`): a silently dead connection fails the
 *   command as `RedisUnavailable` and is reconnected, instead of hanging forever.
 * - `wake` ends the command blocked on it now (`CLIENT UNBLOCK`, sent on the main connection),
 *   as if its BLOCK had timed out; a drain uses it so a blocked read does not hold it up.
 * - On close it is dropped without `QUIT`: Redis would only answer `QUIT` after the blocked command.
 * - `sendsOnce`, for commands that change what the server holds as they reply (`XREADGROUP … >`
 *   hands entries to the reader): a command is never sent twice, neither by ioredis after a
 *   reconnect (`autoResendUnfulfilledCommands` off) nor by the retry here (only waiting for the
 *   connection is retried), and a reply that did not come fails the call: the caller looks for what
 *   the lost reply held (the outbox relay reads its own pending entries) instead of a second read
 *   silently taking the next ones.
 * - On a Redis Cluster the blocked command sits on whichever master holds its key: the connection
 *   has a name of its own (`CLIENT SETNAME`), and `wake` unblocks the connections of that name on
 *   every master (`CLIENT LIST`, then `CLIENT UNBLOCK`).
 */
import { randomUUID } from "node:crypto"
import { Duration, Effect, type Scope } from "effect"
import type { Cluster } from "ioredis"
import { RetryPolicies, retryWhile } from "../resilience/schedules.ts"
import { commandFailure, isReconnectable, type RedisError, RedisUnavailable } from "./errors.ts"
import type { RedisClient, RedisShape } from "./Redis.ts"

export interface BlockingConnection {
  /**
   * Runs one (blocking) command on the dedicated connection, failing with `RedisUnavailable`
   * when it is not connected or no reply came within `timeoutMs` (then it reconnects). A command
   * that could not be sent is retried under `RetryPolicies.redisRead` first.
   */
  readonly use: <A>(
    command: string,
    timeoutMs: number,
    f: (client: RedisClient) => Promise<A>,
  ) => Effect.Effect<A, RedisUnavailable | RedisError>
  /** Ends the command blocked on the connection now (it returns as on its BLOCK timeout). */
  readonly wake: Effect.Effect<void>
}

export interface BlockingConnectionOptions {
  /** Each command is sent at most once; a lost reply fails the call (see above). Default false. */
  readonly sendsOnce?: boolean
}

export const blockingConnection = (
  redis: RedisShape,
  options: BlockingConnectionOptions = {},
): Effect.Effect<BlockingConnection, never, Scope.Scope> =>
  Effect.gen(function* () {
    const sendsOnce = options.sendsOnce ?? false
    const connectionName = `dcent-blocking-${randomUUID().slice(0, 12)}`
    const connection = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = redis.duplicate({
          enableAutoPipelining: false,
          connectionName,
          autoResendUnfulfilledCommands: !sendsOnce,
        })
        // Looked up per command: the metrics hook may be installed on the main client after this.
        const main = redis.client as { sendCommand: (...args: Array<unknown>) => unknown }
        client.sendCommand = function (this: RedisClient, ...args: Array<unknown>) {
          return main.sendCommand.apply(this, args)
        } as RedisClient["sendCommand"]
        return client
      }),
      (client) => Effect.sync(() => client.disconnect()),
    )
    /** The server's id of this connection (`CLIENT ID`), renewed on every (re)connect. */
    let clientId: number | undefined
    connection.on("error", () => {}) // the main connection logs Redis trouble
    connection.on("ready", () => {
      clientId = undefined
      if (redis.cluster) return
      connection.client("ID").then(
        (id) => {
          clientId = id
        },
        () => {},
      )
    })
    connection.connect().catch(() => {}) // retried by ioredis

    const unavailable = (reason: string) => new RedisUnavailable({ url: redis.url, reason })

    const ready = Effect.suspend(() =>
      connection.status === "ready" ? Effect.void : Effect.fail(unavailable(`connection ${connection.status}`)),
    )

    const send = <A>(command: string, timeoutMs: number, f: (client: RedisClient) => Promise<A>) =>
      Effect.tryPromise({
        try: () => f(connection),
        catch: (cause) => commandFailure(redis.url, command, cause),
      }).pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(timeoutMs),
          orElse: () =>
            Effect.sync(() => connection.disconnect(true)).pipe(
              Effect.andThen(Effect.fail(unavailable(`no reply to ${command} within ${timeoutMs} ms`))),
            ),
        }),
      )

    const use = <A>(command: string, timeoutMs: number, f: (client: RedisClient) => Promise<A>) =>
      (sendsOnce
        ? ready.pipe(retryWhile(RetryPolicies.redisRead, isReconnectable), Effect.andThen(send(command, timeoutMs, f)))
        : ready.pipe(Effect.andThen(send(command, timeoutMs, f)), retryWhile(RetryPolicies.redisRead, isReconnectable))
      ).pipe(Effect.withSpan(`Redis.${command}`))

    /** Cluster: our connections on each master (by name), unblocked from the main client's. */
    const wakeOnCluster = redis
      .use("CLIENT", async (client) => {
        const masters = (client as Cluster).nodes("master")
        await Promise.all(
          masters.map(async (node) => {
            const list = (await node.client("LIST")) as string
            const ids = list
              .split("\n")
              .filter((line) => line.includes(` name=${connectionName} `))
              .map((line) => Number(/(?:^|\s)id=(\d+)/.exec(line)?.[1]))
              .filter((id) => Number.isSafeInteger(id))
            await Promise.all(ids.map((id) => node.client("UNBLOCK", id)))
          }),
        )
      })
      .pipe(Effect.ignore)

    const wake = Effect.suspend(() =>
      redis.cluster
        ? wakeOnCluster
        : clientId === undefined
          ? Effect.void
          : redis.use("CLIENT", (client) => client.client("UNBLOCK", clientId as number)).pipe(Effect.ignore),
    )

    return { use, wake }
  })
