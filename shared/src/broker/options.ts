/** The options both networked adapters (Kafka, NATS JetStream) take, with one set of defaults. */
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
