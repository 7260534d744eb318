/**
 * Picks the broker adapter from configuration.
 *
 * `BROKER_URL` decides: `kafka://…` → Kafka, `nats://…` → NATS JetStream, `memory://` → the
 * in-process broker. See `config.ts` for the variables and README.md for the semantics.
 */
import { type Config, Effect, Layer } from "effect"
import type { Broker } from "./Broker.ts"
import {
  type BrokerUrl,
  brokerUrlConfig,
  clientIdConfig,
  kafkaLingerMsConfig,
  kafkaLogLevelConfig,
  kafkaSecurityConfig,
  plaintextKafka,
} from "./config.ts"
import type { BrokerError, BrokerUnavailable } from "./errors.ts"
import { BrokerKafka, type KafkaBrokerOptions } from "./kafka.ts"
import { BrokerMemory } from "./memory.ts"
import { BrokerNats, type NatsBrokerOptions } from "./nats.ts"

export { BrokerKafka } from "./kafka.ts"
export { BrokerMemory } from "./memory.ts"
export { BrokerNats } from "./nats.ts"

export interface AdapterOverrides {
  readonly kafka?: Omit<KafkaBrokerOptions, "servers" | "url">
  readonly nats?: Omit<NatsBrokerOptions, "servers" | "url">
}

/** The adapter for an already parsed URL. */
export const layerFromUrl = (
  broker: BrokerUrl,
  overrides: AdapterOverrides = {},
): Layer.Layer<Broker, BrokerUnavailable | BrokerError> => {
  switch (broker.kind) {
    case "kafka":
      return BrokerKafka.layer({ ...overrides.kafka, servers: broker.servers, url: broker.url })
    case "nats":
      return BrokerNats.layer({ ...overrides.nats, servers: broker.servers, url: broker.url })
    case "memory":
      return BrokerMemory.layer
  }
}

/**
 * The broker named by `BROKER_URL` (with `KAFKA_BOOTSTRAP_SERVERS`, `BROKER_CLIENT_ID`,
 * `KAFKA_LOG_LEVEL`). Fails with `ConfigError` on a bad variable, `BrokerUnavailable` when the
 * broker does not answer.
 */
export const layerFromConfig = (
  overrides: AdapterOverrides = {},
): Layer.Layer<Broker, BrokerUnavailable | BrokerError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const broker = yield* brokerUrlConfig
      const clientId = yield* clientIdConfig
      const logLevel = yield* kafkaLogLevelConfig
      const security = broker.kind === "kafka" ? yield* kafkaSecurityConfig : plaintextKafka
      // Read only for Kafka: a bad KAFKA_LINGER_MS must not stop a service on NATS.
      const lingerMs = broker.kind === "kafka" ? yield* kafkaLingerMsConfig : undefined
      yield* Effect.logDebug("broker adapter selected").pipe(Effect.annotateLogs({ broker: broker.url }))
      return layerFromUrl(broker, {
        kafka: { clientId, logLevel, security, ...(lingerMs === undefined ? {} : { lingerMs }), ...overrides.kafka },
        nats: { name: clientId, ...overrides.nats },
      })
    }),
  )

/** `layerFromConfig()` with the defaults. */
export const BrokerLive: Layer.Layer<Broker, BrokerUnavailable | BrokerError | Config.ConfigError> = layerFromConfig()

/** A fresh in-memory broker (the eight topics pre-created): for tests. */
export const BrokerTest: Layer.Layer<Broker> = BrokerMemory.layer
