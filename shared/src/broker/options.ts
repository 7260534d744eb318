/** The options both networked adapters (Kafka, NATS JetStream) take, with one set of defaults. */
import { Duration } from "effect"
import { nominalDelay } from "../resilience/schedules.ts"
import { allTopicNames } from "./topics.ts"

export interface ClientOptions {
  readonly servers: ReadonlyArray<string>
  readonly url?: string
  readonly knownTopics?: ReadonlyArray<string>
  readonly connectTimeoutMs?: number
  readonly requestTimeoutMs?: number
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number }
}

/** `options` with the defaults: `<scheme>://<servers>`, the eight lifecycle topics, 5 s / 3 s bounds, 100 ms → 5 s backoff. */
export const resolveClientOptions = (scheme: "kafka" | "nats", options: ClientOptions) => ({
  servers: options.servers,
  url: options.url ?? `${scheme}://${options.servers.join(",")}`,
  knownTopics: options.knownTopics ?? allTopicNames,
  connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
  requestTimeoutMs: options.requestTimeoutMs ?? 3_000,
  retryBackoff: options.retryBackoff ?? { initialMs: 100, maxMs: 5_000 },
})

/**
 * The pause before a message whose handler failed is delivered again, by its delivery `attempt`
 * (1, 2, …): the retry policies' exponential delay, capped (`../resilience/schedules.ts`); a
 * redelivery counts attempts per message, so it takes the delay of its attempt, not a schedule.
 */
export const redeliveryDelay = (
  backoff: { readonly initialMs: number; readonly maxMs: number },
  attempt: number,
): Duration.Duration =>
  nominalDelay({ base: Duration.millis(backoff.initialMs), max: Duration.millis(backoff.maxMs) }, attempt)
