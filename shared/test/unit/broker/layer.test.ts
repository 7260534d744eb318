import { ConfigProvider, Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Broker } from "../../../src/broker/Broker.ts"
import { layerFromConfig } from "../../../src/broker/layer.ts"

const withEnv = (env: Record<string, string>) =>
  layerFromConfig({ kafka: { connectTimeoutMs: 1_500 }, nats: { connectTimeoutMs: 1_500 } }).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))),
  )

const kindOf = (env: Record<string, string>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      return (yield* Broker).kind
    }).pipe(Effect.provide(withEnv(env))),
  )

const errorOf = (env: Record<string, string>) =>
  Effect.runPromise(
    Effect.flip(
      Effect.gen(function* () {
        return (yield* Broker).kind
      }).pipe(Effect.provide(withEnv(env))),
    ),
  )

describe("layerFromConfig", () => {
  it("picks the in-memory broker for memory://", async () => {
    expect(await kindOf({ BROKER_URL: "memory://" })).toBe("memory")
  })

  it("fails with a ConfigError naming BROKER_URL when it is malformed", async () => {
    const error = await errorOf({ BROKER_URL: "rabbit://x" })
    expect(error._tag).toBe("ConfigError")
    expect(error.message).toContain("BROKER_URL")
  })

  it("reads KAFKA_LINGER_MS for Kafka (a bad value is a ConfigError naming it), and not for other brokers", async () => {
    const error = await errorOf({ BROKER_URL: "kafka://127.0.0.1:1", KAFKA_LINGER_MS: "5000" })
    expect(error._tag).toBe("ConfigError")
    expect(error.message).toContain("KAFKA_LINGER_MS")
    expect(await kindOf({ BROKER_URL: "memory://", KAFKA_LINGER_MS: "5000" })).toBe("memory")
  })

  it("fails with BrokerUnavailable for an unreachable Kafka or NATS", async () => {
    for (const url of ["kafka://127.0.0.1:1", "nats://127.0.0.1:1"]) {
      const started = Date.now()
      const error = await errorOf({ BROKER_URL: url })
      expect(error._tag).toBe("BrokerUnavailable")
      expect(error.message).toContain(url)
      expect(Date.now() - started).toBeLessThan(5_000)
    }
  }, 15_000)
})
