/**
 * The Kafka producer's log goes through the application's logger (JSON lines), on the real
 * client against the real Kafka: the KafkaJS block that carries the logger must not change how
 * the producer delivers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, References } from "effect"
import { kafkaUrl, servers } from "../../../../test/support/servers.ts"
import { Broker } from "../../../src/broker/Broker.ts"
import { BrokerKafka } from "../../../src/broker/kafka.ts"
import { lineLogger } from "../../../src/runtime/logging.ts"

const bootstrap = `${servers.kafka.host}:${servers.kafka.port}`

describe("the Kafka producer's log", () => {
  it("reaches the application's logger as JSON lines, at KAFKA_LOG_LEVEL's level, and the producer still delivers", async () => {
    const lines: Array<Record<string, unknown>> = []
    const topic = `producer-log-${process.pid}-${Date.now()}`
    const logging = Layer.mergeAll(
      Logger.layer([Logger.map(lineLogger("json"), (line) => lines.push(JSON.parse(line)))]),
      Layer.succeed(References.MinimumLogLevel, "Debug"),
    )
    await Effect.runPromise(
      Effect.gen(function* () {
        const broker = yield* Broker
        yield* broker.ensureTopics([{ name: topic, partitions: 1, replicationFactor: 1 }])
        yield* broker.publish(`${topic}.key-1`, "hello")
      }).pipe(
        Effect.provide(
          BrokerKafka.layer({ servers: [bootstrap], url: kafkaUrl, clientId: "producer-log", logLevel: 6 }).pipe(
            Layer.provide(logging),
          ),
        ),
        Effect.provide(logging),
      ),
    )
    const librdkafka = lines.filter((line) => String(line.message).startsWith("librdkafka: "))
    // KAFKA_LOG_LEVEL 6 (info): the client's "Producer connected" and "Producer disconnected".
    expect(librdkafka.map((line) => line.message)).toEqual(
      expect.arrayContaining(["librdkafka: Producer connected", "librdkafka: Producer disconnected"]),
    )
    expect(librdkafka.every((line) => line.level === "info" || line.level === "warn" || line.level === "error")).toBe(
      true,
    )
  })
})
