/**
 * What the outbox holds: messages to publish to the broker once the change that wrote them is
 * committed. Written by the event log's commits (`../eventlog`) and by `Outbox.add`, read by
 * `OutboxRelay`.
 */
import { shardTag } from "../redis/keys.ts"
import { type TraceCarrier, traceparentHeader } from "../telemetry/traceContext.ts"

/** A message to publish to the broker as `${topic}.${key}`. */
export interface OutboxEntry {
  readonly topic: string
  readonly key: string
  readonly headers: Record<string, string>
  readonly payload: string
}

/**
 * The outbox stream of a key shard (relative to the service's key prefix), read by `OutboxRelay`
 * (one reader per shard); the entries of one id (an order) go to its shard's stream.
 */
export const outboxStreamKey = (shard: number): string => `outbox:${shardTag(shard)}`

/** Why `entry` cannot be written to the outbox, or `undefined`. */
export const outboxEntryProblem = (entry: OutboxEntry): string | undefined => {
  if (typeof entry.topic !== "string" || entry.topic === "") return "outbox: empty topic"
  if (typeof entry.key !== "string" || entry.key === "") return "outbox: empty key"
  if (typeof entry.payload !== "string") return "outbox: payload must be a string"
  return undefined
}

/** `entry` with headers carrying `carrier` unless they carry a trace context already (the relay's `send` joins it). */
export const withTraceCarrier = (entry: OutboxEntry, carrier: TraceCarrier): OutboxEntry =>
  entry.headers?.[traceparentHeader] !== undefined || Object.keys(carrier).length === 0
    ? entry
    : { ...entry, headers: { ...entry.headers, ...carrier } }
