import { Schema } from "effect"

/**
 * Redis cannot take the command right now: it cannot be reached (not connected, timed out,
 * connection refused), or it is full (`maxmemory` reached under `noeviction`: it refuses writes
 * and evicts nothing). Either way nothing was written: retry later (503 + `Retry-After`).
 */
export class RedisUnavailable extends Schema.TaggedError<RedisUnavailable>()("RedisUnavailable", {
  url: Schema.String,
  reason: Schema.String,
  kind: Schema.optionalKey(Schema.Literals(["unreachable", "out-of-memory"])),
}) {
  override get message() {
    return this.kind === "out-of-memory"
      ? `redis ${this.url} refuses writes: ${this.reason}`
      : `redis ${this.url} is unreachable: ${this.reason}`
  }
}

/** A Redis command failed (wrong type, script error, ...). */
export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  command: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `redis ${this.command} failed: ${this.reason}`
  }
}

/** Redis's reply to a write (or a script that writes) while `used_memory` is over `maxmemory`. */
const outOfMemoryReply = /\bOOM command not allowed\b/

export const outOfMemoryReason = "it is out of memory (maxmemory reached; nothing is evicted)"

/**
 * Redis refused for memory. It answered and stays full until memory is freed, so retrying the
 * command at once only adds load to it; the caller gets 503 + Retry-After instead.
 */
export const isOutOfMemory = (error: RedisUnavailable | RedisError): boolean =>
  error._tag === "RedisUnavailable" && error.kind === "out-of-memory"

/** Unreachable now, maybe not in a moment: worth another attempt of a command Redis never saw. */
export const isReconnectable = (error: RedisUnavailable | RedisError): boolean =>
  error._tag === "RedisUnavailable" && !isOutOfMemory(error)

/**
 * Replies of a Redis Cluster (or a node starting) that ran nothing: the slot moved or is moving
 * (`MOVED`, `ASK`, `TRYAGAIN`; ioredis follows most redirects itself, not those inside a
 * pipeline), the cluster or the shard's master is down for a fail-over, the node is loading.
 */
const notRunReply = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|LOADING)\b/

/** Whether a command's reply says the cluster's slots moved (its client should refresh them). */
export const isSlotRedirect = (cause: unknown): boolean =>
  cause instanceof Error && /^(MOVED|ASK)\b/.test(cause.message)

/**
 * A rejected command: a refusal for memory, or a reply that ran nothing during a fail-over or a
 * slot move, is an outage (the command may be sent again; 503 when it still fails); anything else
 * a failure.
 */
export const commandFailure = (url: string, command: string, cause: unknown): RedisUnavailable | RedisError => {
  const reason = cause instanceof Error ? cause.message : String(cause)
  if (outOfMemoryReply.test(reason))
    return new RedisUnavailable({ url, reason: outOfMemoryReason, kind: "out-of-memory" })
  if (notRunReply.test(reason)) return new RedisUnavailable({ url, reason: `${command}: ${reason}` })
  return new RedisError({ command, reason })
}

/**
 * Why an operation on Redis (a coordination primitive, the outbox relay) failed:
 * - `Unavailable`: Redis cannot take the command now (unreachable, or out of memory): retry later (503);
 * - `Refused`: the command or its input was refused (script error, empty job id, ...): a bug, not an outage;
 * - `Corrupt`: what Redis holds could not be read back (an unreadable stored job).
 */
export const FailureReason = Schema.Literals(["Unavailable", "Refused", "Corrupt"])
export type FailureReason = typeof FailureReason.Type

/** The reason of a failed Redis command: an outage is `Unavailable`, anything else `Refused`. */
export const reasonOfRedisFailure = (error: RedisUnavailable | RedisError): FailureReason =>
  error._tag === "RedisUnavailable" ? "Unavailable" : "Refused"
