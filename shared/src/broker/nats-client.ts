/**
 * NATS adapter plumbing: options and their defaults, error classification, header conversion.
 * The adapter itself is `nats.ts` (connection, streams, publish) and `nats-consumer.ts`.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import { errors, type MsgHdrs } from "@nats-io/transport-node"
import type { Headers } from "./Broker.ts"
import { BrokerError, BrokerUnavailable } from "./errors.ts"
import { resolveClientOptions } from "./options.ts"

export interface NatsBrokerOptions {
  /** `host:port` servers. */
  readonly servers: ReadonlyArray<string>
  /** Shown in errors; default `nats://<servers>`. */
  readonly url?: string
  /** Connection name; default `dcent`. */
  readonly name?: string
  /**
   * Topics a wildcard topic token expands to, besides every topic created through this
   * instance's `ensureTopics`. Default: the eight lifecycle topics. Missing streams are left out.
   */
  readonly knownTopics?: ReadonlyArray<string>
  /** Bound on connecting. Default 5 s. */
  readonly connectTimeoutMs?: number
  /** Bound on JetStream API requests and `healthCheck`. Default 3 s. */
  readonly requestTimeoutMs?: number
  /** Bound on waiting for a PubAck. Default 10 s. */
  readonly publishTimeoutMs?: number
  /** Consumer `ack_wait`: an unacknowledged message is redelivered after this. Default 10 s. */
  readonly ackWaitMs?: number
  /** Messages pulled per request (buffered client-side while handled one at a time). Default 10. */
  readonly pullBatch?: number
  /** Consumer `max_ack_pending` (across all members of the group). Default 1000. */
  readonly maxAckPending?: number
  /** `nak` delay after a handler failure; doubles per delivery attempt. */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number }
  /** Stream storage; default `file`. */
  readonly storage?: "file" | "memory"
}

export type ResolvedNatsOptions = Required<Omit<NatsBrokerOptions, "url">> & { readonly url: string }

export const resolveNatsOptions = (o: NatsBrokerOptions): ResolvedNatsOptions => ({
  ...resolveClientOptions("nats", o),
  name: o.name ?? "dcent",
  publishTimeoutMs: o.publishTimeoutMs ?? 10_000,
  ackWaitMs: o.ackWaitMs ?? 10_000,
  pullBatch: o.pullBatch ?? 10,
  maxAckPending: o.maxAckPending ?? 1_000,
  storage: o.storage ?? "file",
})

export const text = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/** Is this a "cannot reach / no answer" failure of the client? */
export const isUnavailable = (cause: unknown): boolean =>
  cause instanceof errors.TimeoutError ||
  cause instanceof errors.ConnectionError ||
  cause instanceof errors.ClosedConnectionError ||
  cause instanceof errors.DrainingConnectionError ||
  (cause instanceof errors.RequestError && isUnavailable(cause.cause))

export const classifyNats =
  (url: string, operation: string) =>
  (cause: unknown): BrokerUnavailable | BrokerError =>
    isUnavailable(cause)
      ? new BrokerUnavailable({ url, reason: `${operation}: ${text(cause)}` })
      : new BrokerError({ operation, reason: text(cause) })

export const isStreamNotFound = (cause: unknown): boolean =>
  cause instanceof JetStreamApiError && cause.code === JetStreamApiCodes.StreamNotFound

export const fromNatsHeaders = (headers: MsgHdrs | undefined): Headers => {
  const out: Record<string, string> = {}
  if (headers === undefined) return out
  for (const name of headers.keys()) out[name] = headers.get(name)
  return out
}
