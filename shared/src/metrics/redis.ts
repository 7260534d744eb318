/**
 * `dcent_redis_command_duration_seconds{command}`: every command the service's ioredis client
 * sends (pipelines and MULTI included), from the moment it is handed to the client to its reply,
 * by lower-case command name (`evalsha` for the Lua scripts).
 *
 * `dcent_redis_memory_used_bytes` / `dcent_redis_memory_max_bytes` (read from `INFO memory` on
 * every scrape) and `dcent_redis_oom_refusals_total` (commands Redis refused at `maxmemory`):
 * Redis runs with `noeviction`, so a full Redis refuses writes instead of losing keys.
 *
 * The hook replaces the client's `sendCommand` on the instance: one map lookup and one
 * `performance.now()` per command. A command ioredis passes through `sendCommand` again (offline
 * queue, resend after reconnect) is timed once, from its first send.
 */
import { Effect, Layer } from "effect"
import type { RedisClient } from "../redis/Redis.ts"
import { Redis } from "../redis/Redis.ts"
import type { Catalogue } from "./catalogue.ts"
import { childPerKey } from "./instrument.ts"
import { Metrics } from "./Metrics.ts"

type Command = Parameters<RedisClient["sendCommand"]>[0]

const timed = Symbol("dcent.metrics.timed")

/** Times every command of `client`; returns a function that removes the hook. */
export const instrumentRedisClient = (
  client: RedisClient,
  histogram: Catalogue["redisCommandDuration"],
): (() => void) => {
  const childFor = childPerKey((name) => histogram.labels(name.toLowerCase()))
  const hadOwn = Object.hasOwn(client, "sendCommand")
  const original = client.sendCommand
  client.sendCommand = function (this: RedisClient, command: Command, ...rest: Array<unknown>) {
    const marked = command as Command & { [timed]?: true }
    if (marked[timed] !== true) {
      marked[timed] = true
      const child = childFor(command.name)
      // Real elapsed time for the Prometheus histogram (an ioredis hook, outside Effect; not logic).
      const started = performance.now()
      const done = () => child.observe((performance.now() - started) / 1000)
      command.promise.then(done, done)
    }
    return (original as (...args: Array<unknown>) => ReturnType<RedisClient["sendCommand"]>).call(
      this,
      command,
      ...rest,
    )
  } as RedisClient["sendCommand"]
  return () => {
    if (hadOwn) client.sendCommand = original
    else delete (client as { sendCommand?: unknown }).sendCommand
  }
}

/** Times the commands of the service's `Redis` client and reports its memory while the layer lives. */
export const RedisMetricsLive: Layer.Layer<never, never, Redis | Metrics> = Layer.effectDiscard(
  Effect.gen(function* () {
    const redis = yield* Redis
    const { catalogue, onScrape } = yield* Metrics
    yield* Effect.acquireRelease(
      Effect.sync(() => instrumentRedisClient(redis.client, catalogue.redisCommandDuration)),
      (remove) => Effect.sync(remove),
    )
    catalogue.redisOutOfMemoryRefusals.inc(0)
    let refusalsReported = 0
    yield* onScrape(
      "redis memory",
      Effect.sync(() => {
        const refusals = redis.outOfMemoryRefusals()
        catalogue.redisOutOfMemoryRefusals.inc(refusals - refusalsReported)
        refusalsReported = refusals
      }).pipe(
        Effect.andThen(redis.memory),
        Effect.tap(({ usedBytes, maxBytes }) =>
          Effect.sync(() => {
            catalogue.redisMemoryUsed.set(usedBytes)
            catalogue.redisMemoryMax.set(maxBytes)
          }),
        ),
      ),
    )
  }),
)
