/**
 * The Redis connection of a service (ioredis).
 *
 * - `REDIS_URL` (default `redis://127.0.0.1:6379`) is validated at start-up: a malformed value
 *   stops the service with a message naming the variable.
 * - The connection is opened in the background: an unreachable Redis does not stop the service
 *   from starting; ioredis keeps reconnecting, and `ping` (used by `/readyz`) reports it.
 * - Every key goes through the service's prefix (`dcent:<service>:`), so the requestor and the
 *   processor can share one Redis.
 * - Releasing the layer sends `QUIT` (bounded), then drops the socket.
 * - Credentials (`RedisCredentials`): a password or ACL user in the URL
 *   (`redis://user:password@host:6379`) or, kept out of the URL, `REDIS_USERNAME` /
 *   `REDIS_PASSWORD` (these win); `rediss://` is TLS, verified against `REDIS_TLS_CA_FILE` when set
 *   (the system's roots otherwise). The password is never logged: URLs are shown masked.
 * - Redis Cluster: `REDIS_CLUSTER_NODES` (comma-separated `host:port` seeds, e.g.
 *   `10.0.0.1:6379,10.0.0.2:6379`) switches to an ioredis `Cluster` with the same credentials and
 *   TLS (`rediss://` in `REDIS_URL` or `REDIS_TLS_CA_FILE` turn TLS on; `REDIS_URL`'s host is then
 *   not used). Every multi-key script and transaction keeps its keys in one hash slot (hash tags:
 *   `keys.ts`), so the same code runs on one node and on a cluster.
 */
import { readFileSync } from "node:fs"
import { Config, ConfigProvider, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { Cluster, type ClusterNode, Redis as IORedis } from "ioredis"
import { url } from "../config/env.ts"
import { RetryPolicies, retryWhile } from "../resilience/schedules.ts"
import { noStackTrace } from "../telemetry/traceContext.ts"
import {
  commandFailure,
  isOutOfMemory,
  isReconnectable,
  outOfMemoryReason,
  type RedisError,
  RedisUnavailable,
} from "./errors.ts"

export const defaultRedisUrl = "redis://127.0.0.1:6379"

/** One node or a Redis Cluster: the commands, scripts and transactions the services use are alike. */
export type RedisClient = IORedis | Cluster

/** What a dedicated connection (blocking reads, pub/sub) may change from the main one. */
export interface DuplicateOptions {
  readonly keyPrefix?: string
  readonly enableAutoPipelining?: boolean
  /** `CLIENT SETNAME` of the connection (of each node's, on a cluster). */
  readonly connectionName?: string
  /** Whether ioredis sends again, after a reconnect, the commands that were awaiting a reply (default true). */
  readonly autoResendUnfulfilledCommands?: boolean
  /**
   * On a cluster: a plain connection to this one node instead of a `Cluster` client (a pub/sub
   * subscriber: a classic `PUBLISH` reaches every node). It gives up after two failed reconnects
   * (`end`), so that its owner moves to another node (`RedisShape.nodes`).
   */
  readonly node?: RedisNode
}

/** A node of a Redis Cluster. */
export interface RedisNode {
  readonly host: string
  readonly port: number
}

export interface RedisShape {
  /**
   * The ioredis client (a `Cluster` with `REDIS_CLUSTER_NODES`); keys passed to it are prefixed
   * with `keyPrefix` automatically.
   */
  readonly client: RedisClient
  /** Whether `client` is a Redis Cluster. */
  readonly cluster: boolean
  /** A new, not yet connected client to the same Redis (node or cluster) with the same options. */
  readonly duplicate: (options: DuplicateOptions) => RedisClient
  /** On a cluster: the nodes the client knows now, then the seeds not among them; empty on one node. */
  readonly nodes: () => ReadonlyArray<RedisNode>
  readonly keyPrefix: string
  /** `REDIS_URL` with the password masked, for logs and errors. */
  readonly url: string
  /**
   * Runs one command, mapping a missing connection to `RedisUnavailable`. A command that could
   * not be sent (no connection) is retried under `RetryPolicies.redisRead` first — always safe,
   * Redis never saw it — so a blip (failover, reconnect) does not fail the caller.
   */
  readonly use: <A>(
    command: string,
    f: (client: RedisClient) => Promise<A>,
  ) => Effect.Effect<A, RedisUnavailable | RedisError>
  /**
   * `use` for a command that is safe to run twice (a read; a commit keyed by seq, which reports a
   * repeat as a duplicate): a connection lost while it was in flight is retried too.
   */
  readonly useIdempotent: <A>(
    command: string,
    f: (client: RedisClient) => Promise<A>,
  ) => Effect.Effect<A, RedisUnavailable | RedisError>
  /** Succeeds when Redis answers `PING` within the health-check timeout. */
  readonly ping: Effect.Effect<void, RedisUnavailable>
  /** Redis's memory now (`INFO memory`); `maxBytes` is 0 when no `maxmemory` is set. */
  readonly memory: Effect.Effect<RedisMemory, RedisUnavailable | RedisError>
  /** Fails while Redis is at `maxmemory` (it refuses writes): for readiness. */
  readonly acceptsWrites: Effect.Effect<void, RedisUnavailable | RedisError>
  /** Commands Redis refused for memory since the client was made (for a counter). */
  readonly outOfMemoryRefusals: () => number
}

export interface RedisMemory {
  readonly usedBytes: number
  readonly maxBytes: number
}

/** Reads `used_memory` and `maxmemory` from an `INFO memory` reply. */
export const parseMemoryInfo = (info: string): RedisMemory => {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0)
  return { usedBytes: field("used_memory"), maxBytes: field("maxmemory") }
}

/** `REDIS_USERNAME`, `REDIS_PASSWORD`, `REDIS_TLS_CA_FILE` (all optional). */
export interface RedisCredentials {
  readonly username?: string
  readonly password?: Redacted.Redacted<string>
  /** PEM of the CA that signed the server's certificate (`rediss://` only). */
  readonly tlsCa?: Buffer
}

export interface RedisOptions {
  /** e.g. `dcent:processor:` */
  readonly keyPrefix: string
  readonly credentials?: RedisCredentials
  /** Bound on `PING` for readiness (default 1 s). */
  readonly pingTimeout?: Duration.Input
  /** Seeds of a Redis Cluster (`REDIS_CLUSTER_NODES`): the client is then an ioredis `Cluster`. */
  readonly clusterNodes?: ReadonlyArray<ClusterNode>
}

/** `host:port,host:port` → cluster seeds; `undefined` names what is wrong. */
export const parseClusterNodes = (
  value: string,
):
  | { readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }> }
  | { readonly problem: string } => {
  const nodes: Array<{ readonly host: string; readonly port: number }> = []
  for (const raw of value.split(",")) {
    const item = raw.trim()
    if (item === "") continue
    const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(item)
    const port = Number(match?.[2])
    if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
      return { problem: `REDIS_CLUSTER_NODES: "${item}" is not host:port` }
    }
    nodes.push({ host: (match[1] as string).replace(/^\[(.*)\]$/, "$1"), port })
  }
  return nodes.length === 0 ? { problem: "REDIS_CLUSTER_NODES: no host:port given" } : { nodes }
}

const configFailure = (message: string) =>
  Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message })))

const maskUrl = (value: URL) => {
  const masked = new URL(value)
  if (masked.password !== "") masked.password = "***"
  return masked.toString()
}

/** Failures worth another attempt of an idempotent command: no connection, or it broke mid-way. */
export const isTransientRedisFailure = (error: RedisUnavailable | RedisError): boolean =>
  error._tag === "RedisUnavailable" ||
  /ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED|Connection is closed|Stream isn't writeable|max retries per request|LOADING|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|Failed to refresh slots cache|None of startup nodes is available/i.test(
    error.reason,
  )

const reasonOf = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/**
 * Fails the commands a broken connection had sent and not seen answered, as the connection starts
 * reconnecting: ioredis would send them again on the new connection (`autoResendUnfulfilledCommands`),
 * but Redis may have run them already (a commit, an `INCR`, `XREADGROUP … >`), so `use` must not
 * repeat them; `useIdempotent` retries what is safe to run twice ("Connection is closed." is a
 * transient failure). Commands not sent yet (the offline queue) still go out after the reconnect.
 * (A Redis Cluster client re-routes its commands itself; this covers one node.)
 */
const failingInFlightOnReconnect = (client: IORedis): IORedis =>
  client.on("reconnecting", () => {
    for (let item = client.commandQueue.shift(); item !== undefined; item = client.commandQueue.shift()) {
      item.command.reject(new Error("Connection is closed."))
    }
  })

export class Redis extends Context.Service<Redis, RedisShape>()("dcent/Redis") {
  /** `REDIS_URL` as a validated `URL`. */
  static readonly url = url("REDIS_URL", ["redis", "rediss"], defaultRedisUrl)

  /** `REDIS_URL` and the credentials beside it, checked together (a CA file needs `rediss://`). */
  static readonly connection: Config.Config<{
    readonly url: URL
    readonly credentials: RedisCredentials
    readonly clusterNodes: ReadonlyArray<ClusterNode> | undefined
  }> = Config.all({
    url: Redis.url,
    clusterNodes: Config.option(Config.NonEmptyString("REDIS_CLUSTER_NODES")),
    username: Config.option(Config.NonEmptyString("REDIS_USERNAME")),
    password: Config.option(Config.Redacted("REDIS_PASSWORD")),
    caFile: Config.option(Config.NonEmptyString("REDIS_TLS_CA_FILE")),
  }).pipe(
    Config.mapEffect(({ url, clusterNodes: clusterNodesText, username, password, caFile }) =>
      Effect.gen(function* () {
        if (Option.isSome(caFile) && url.protocol !== "rediss:") {
          return yield* configFailure("REDIS_TLS_CA_FILE needs a rediss:// REDIS_URL (TLS)")
        }
        let clusterNodes: ReadonlyArray<ClusterNode> | undefined
        if (Option.isSome(clusterNodesText)) {
          const parsed = parseClusterNodes(clusterNodesText.value)
          if ("problem" in parsed) return yield* configFailure(parsed.problem)
          clusterNodes = parsed.nodes.map(({ host, port }) => ({ host, port }))
        }
        const tlsCa = Option.isSome(caFile)
          ? yield* Effect.try({
              try: () => readFileSync(caFile.value),
              catch: (cause) =>
                `REDIS_TLS_CA_FILE (${caFile.value}): ${cause instanceof Error && "code" in cause ? String(cause.code) : "unreadable"}`,
            }).pipe(Effect.catch(configFailure))
          : undefined
        const credentials: RedisCredentials = {
          ...(Option.isSome(username) ? { username: username.value } : {}),
          ...(Option.isSome(password) ? { password: password.value } : {}),
          ...(tlsCa === undefined ? {} : { tlsCa }),
        }
        return { url, credentials, clusterNodes }
      }),
    ),
  )

  static readonly make = Effect.fn("Redis.make")(function* (redisUrl: URL, options: RedisOptions) {
    const shownUrl = maskUrl(redisUrl)
    const credentials = options.credentials ?? {}
    const pingTimeout = options.pingTimeout ?? "1 second"
    // Same reconnect pacing, auth and TLS for a node and for each node of a cluster.
    const nodeOptions = {
      connectTimeout: 2_000,
      // Fail commands of a disconnected client quickly instead of queueing them forever.
      maxRetriesPerRequest: 1,
      ...(credentials.username === undefined
        ? redisUrl.username === ""
          ? {}
          : { username: decodeURIComponent(redisUrl.username) }
        : { username: credentials.username }),
      ...(credentials.password === undefined
        ? redisUrl.password === ""
          ? {}
          : { password: decodeURIComponent(redisUrl.password) }
        : { password: Redacted.value(credentials.password) }),
      // rediss://: TLS (ioredis' default), verified against REDIS_TLS_CA_FILE when given.
      ...(redisUrl.protocol === "rediss:"
        ? { tls: credentials.tlsCa === undefined ? {} : { ca: credentials.tlsCa } }
        : {}),
    }
    const clusterNodes = options.clusterNodes
    const prefixOf = (overrides: DuplicateOptions) => overrides.keyPrefix ?? options.keyPrefix
    const connectionNameOf = (overrides: DuplicateOptions) =>
      overrides.connectionName === undefined ? {} : { connectionName: overrides.connectionName }
    const resendOf = (overrides: DuplicateOptions) =>
      overrides.autoResendUnfulfilledCommands === undefined
        ? {}
        : { autoResendUnfulfilledCommands: overrides.autoResendUnfulfilledCommands }

    /** One Redis (`REDIS_URL`). */
    const singleClient = (overrides: DuplicateOptions): IORedis =>
      failingInFlightOnReconnect(
        new IORedis(redisUrl.toString(), {
          keyPrefix: prefixOf(overrides),
          lazyConnect: true,
          connectTimeout: 2_000,
          maxRetriesPerRequest: 1,
          // Commands issued in the same event-loop turn go out in one socket write: under load
          // the per-command write syscall was ~9 % of the processor's CPU (profiled).
          enableAutoPipelining: overrides.enableAutoPipelining ?? true,
          retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
          ...connectionNameOf(overrides),
          ...resendOf(overrides),
          ...(credentials.username === undefined ? {} : { username: credentials.username }),
          ...(credentials.password === undefined ? {} : { password: Redacted.value(credentials.password) }),
          ...(redisUrl.protocol === "rediss:" && credentials.tlsCa !== undefined
            ? { tls: { ca: credentials.tlsCa } }
            : {}),
        }),
      )

    /** The cluster of `seeds` (`REDIS_CLUSTER_NODES`). */
    const clusterClient = (seeds: ReadonlyArray<ClusterNode>, overrides: DuplicateOptions): Cluster =>
      new Cluster([...seeds], {
        keyPrefix: prefixOf(overrides),
        lazyConnect: true,
        enableAutoPipelining: overrides.enableAutoPipelining ?? true,
        clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
        // A failover (CLUSTERDOWN, a master gone until its replica is promoted) is retried
        // by ioredis for about maxRedirections × retryDelayOnClusterDown, then by `use`.
        retryDelayOnClusterDown: 200,
        retryDelayOnFailover: 200,
        slotsRefreshTimeout: 2_000,
        redisOptions: { ...nodeOptions, ...connectionNameOf(overrides), ...resendOf(overrides) },
      })

    /** One node of the cluster, on its own (`DuplicateOptions.node`): gives up after two failed reconnects. */
    const clusterNodeClient = (node: RedisNode, overrides: DuplicateOptions): IORedis =>
      new IORedis({
        ...nodeOptions,
        host: node.host,
        port: node.port,
        keyPrefix: prefixOf(overrides),
        lazyConnect: true,
        enableAutoPipelining: overrides.enableAutoPipelining ?? true,
        retryStrategy: (attempt) => (attempt > 2 ? null : attempt * 200),
        ...connectionNameOf(overrides),
      })

    const create = (overrides: DuplicateOptions): RedisClient =>
      clusterNodes === undefined
        ? singleClient(overrides)
        : overrides.node === undefined
          ? clusterClient(clusterNodes, overrides)
          : clusterNodeClient(overrides.node, overrides)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => create({})),
      (client) =>
        Effect.promise(() => client.quit()).pipe(
          Effect.timeout("2 seconds"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect())),
          Effect.tap(() => Effect.logDebug("redis connection closed")),
        ),
    )

    // Log state changes once (not every reconnect attempt), with the application's logger.
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    let lastError = ""
    client.on("error", (error: Error) => {
      if (error.message === lastError) return
      lastError = error.message
      runFork(
        Effect.logWarning("redis connection error").pipe(Effect.annotateLogs({ url: shownUrl, error: error.message })),
      )
    })
    client.on("ready", () => {
      lastError = ""
      runFork(Effect.logInfo("redis connected").pipe(Effect.annotateLogs({ url: shownUrl })))
    })
    // Connect in the background; ioredis retries on its own after a failure.
    client.connect().catch(() => {})

    const unavailable = (reason: string) => new RedisUnavailable({ url: shownUrl, reason })

    const ping = Effect.suspend(() => {
      if (client.status !== "ready") {
        return Effect.fail(unavailable(lastError === "" ? `connection ${client.status}` : lastError))
      }
      return Effect.tryPromise({ try: () => client.ping(), catch: (cause) => unavailable(reasonOf(cause)) }).pipe(
        Effect.timeoutOrElse({
          duration: pingTimeout,
          orElse: () =>
            Effect.fail(
              unavailable(`no answer to PING within ${Duration.format(Duration.fromInputUnsafe(pingTimeout))}`),
            ),
        }),
        Effect.asVoid,
      )
    })

    let outOfMemoryRefusals = 0
    const failure = (command: string) => (cause: unknown) => {
      const error = commandFailure(shownUrl, command, cause)
      if (isOutOfMemory(error)) outOfMemoryRefusals++
      return error
    }

    const once = <A>(command: string, f: (client: RedisClient) => Promise<A>) =>
      Effect.suspend(
        (): Effect.Effect<A, RedisUnavailable | RedisError> =>
          client.status === "ready"
            ? Effect.tryPromise({ try: () => f(client), catch: failure(command) })
            : Effect.fail(unavailable(lastError === "" ? `connection ${client.status}` : lastError)),
      )

    const use = <A>(command: string, f: (client: RedisClient) => Promise<A>) =>
      once(command, f).pipe(
        retryWhile(RetryPolicies.redisRead, isReconnectable),
        Effect.withSpan(`Redis.${command}`, undefined, noStackTrace),
      )

    const useIdempotent = <A>(command: string, f: (client: RedisClient) => Promise<A>) =>
      once(command, f).pipe(
        retryWhile(RetryPolicies.redisRead, (error) => isTransientRedisFailure(error) && !isOutOfMemory(error)),
        Effect.withSpan(`Redis.${command}`, undefined, noStackTrace),
      )

    const memory = useIdempotent("INFO", (client) => client.info("memory")).pipe(Effect.map(parseMemoryInfo))

    const acceptsWrites = memory.pipe(
      Effect.flatMap(({ usedBytes, maxBytes }) =>
        maxBytes > 0 && usedBytes >= maxBytes
          ? Effect.fail(
              new RedisUnavailable({
                url: shownUrl,
                reason: `${outOfMemoryReason}: ${usedBytes} of ${maxBytes} bytes used`,
                kind: "out-of-memory",
              }),
            )
          : Effect.void,
      ),
    )

    const nodes = (): ReadonlyArray<RedisNode> => {
      if (clusterNodes === undefined) return []
      const known = new Map<string, RedisNode>()
      const add = (host: string | undefined, port: number | undefined) => {
        if (host !== undefined && port !== undefined && !known.has(`${host}:${port}`)) {
          known.set(`${host}:${port}`, { host, port })
        }
      }
      for (const node of (client as Cluster).nodes("all")) add(node.options.host, node.options.port)
      for (const seed of clusterNodes) if (typeof seed === "object") add(seed.host, seed.port)
      return [...known.values()]
    }

    return Redis.of({
      client,
      cluster: clusterNodes !== undefined,
      duplicate: create,
      nodes,
      keyPrefix: options.keyPrefix,
      url: shownUrl,
      use,
      useIdempotent,
      ping,
      memory,
      acceptsWrites,
      outOfMemoryRefusals: () => outOfMemoryRefusals,
    })
  })

  /** Reads `REDIS_URL`; fails only on an invalid value, never because Redis is down. */
  static readonly layer = (options: RedisOptions): Layer.Layer<Redis, Config.ConfigError> =>
    Layer.effect(
      Redis,
      Effect.gen(function* () {
        const { url, credentials, clusterNodes } = yield* Redis.connection
        return yield* Redis.make(url, {
          credentials,
          ...(clusterNodes === undefined ? {} : { clusterNodes }),
          ...options,
        })
      }),
    )
}
