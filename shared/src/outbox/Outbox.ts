/**
 * Adds messages to the outbox on their own, without a change of the event log: a failure report,
 * a report held while Redis was down (`PendingReports`). What changes together with events goes
 * in the event log's commit instead (`../eventlog`), which writes its outbox entries in the same
 * atomic step.
 *
 * `add(partitionKey, entries)` writes the entries, in order, to the outbox stream of the key's
 * shard (an order's id: its entries stay in one stream with those its commits write) in one
 * script — all or none — and, on a Redis Cluster, answers once a replica has them. Entries carry
 * the trace context of the span that added them, so the relay's `send` joins that trace.
 */
import { Context, Effect, Layer } from "effect"
import { redisScript, runScriptReplicated } from "../coordination/redisScript.ts"
import { keyShardOf } from "../redis/keys.ts"
import { isTransientRedisFailure, Redis } from "../redis/Redis.ts"
import { currentTraceCarrier } from "../telemetry/traceContext.ts"
import { type OutboxEntry, outboxEntryProblem, outboxStreamKey, withTraceCarrier } from "./entry.ts"
import { OutboxError } from "./errors.ts"

export interface OutboxShape {
  /** Writes `entries` to the outbox of `partitionKey`'s shard, atomically; nothing for none. */
  readonly add: (partitionKey: string, entries: ReadonlyArray<OutboxEntry>) => Effect.Effect<void, OutboxError>
}

/**
 * KEYS[1]: the outbox stream; ARGV: 4 values per entry (topic, key, headers JSON, payload). The
 * type is checked before the first write, so the entries are written all or none.
 */
const addLua = `
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. t .. ', not a stream')
end
for at = 1, #ARGV, 4 do
  redis.call('XADD', KEYS[1], '*', 'topic', ARGV[at], 'key', ARGV[at + 1], 'headers', ARGV[at + 2], 'payload', ARGV[at + 3])
end
return #ARGV / 4
`

const addScript = redisScript("outbox-add", addLua)

export class Outbox extends Context.Service<Outbox, OutboxShape>()("dcent/outbox/Outbox") {
  static readonly make = Effect.gen(function* () {
    const redis = yield* Redis

    const add = Effect.fn("Outbox.add")(function* (partitionKey: string, entries: ReadonlyArray<OutboxEntry>) {
      yield* Effect.annotateCurrentSpan({ partitionKey, entries: entries.length })
      if (entries.length === 0) return
      if (partitionKey === "") {
        return yield* new OutboxError({ operation: "add", reason: "Refused", detail: "empty partition key" })
      }
      const problem = entries.map(outboxEntryProblem).find((found) => found !== undefined)
      if (problem !== undefined) return yield* new OutboxError({ operation: "add", reason: "Refused", detail: problem })
      const carrier = yield* currentTraceCarrier
      const args = entries
        .map((entry) => withTraceCarrier(entry, carrier))
        .flatMap((entry) => [entry.topic, entry.key, JSON.stringify(entry.headers ?? {}), entry.payload])
      yield* redis
        .use("EVALSHA", (client) =>
          runScriptReplicated(client, addScript, [outboxStreamKey(keyShardOf(partitionKey))], args),
        )
        .pipe(
          Effect.mapError(
            (error) =>
              new OutboxError({
                operation: "add",
                // A connection lost with the script in flight is an outage too: the caller holds the entries.
                reason: isTransientRedisFailure(error) ? "Unavailable" : "Refused",
                detail: error.message,
                cause: error,
              }),
          ),
        )
    })

    return Outbox.of({ add })
  })

  static readonly layer: Layer.Layer<Outbox, never, Redis> = Layer.effect(Outbox, Outbox.make)
}
