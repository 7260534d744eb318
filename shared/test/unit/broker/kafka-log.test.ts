import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Effect, Layer, Logger, References } from "effect"
import { describe, expect, it } from "vitest"
import { makeKafkaLogger } from "../../../src/broker/kafka-log.ts"
import { lineLogger } from "../../../src/runtime/logging.ts"

/** A KafkaJS logger over a JSON line logger that keeps its lines, on a clock the test moves. */
const capture = () => {
  const lines: Array<Record<string, unknown>> = []
  const layer = Layer.mergeAll(
    Logger.layer([Logger.map(lineLogger("json"), (line) => lines.push(JSON.parse(line)))]),
    Layer.succeed(References.MinimumLogLevel, "Debug"),
  )
  const clock = { now: 0 }
  const logger = makeKafkaLogger(
    (effect) => Effect.runSync(effect.pipe(Effect.provide(layer))),
    () => clock.now,
  )
  return { lines, logger, clock }
}

describe("makeKafkaLogger", () => {
  it("writes librdkafka's lines at the level the client sets, with the client and facility", () => {
    const { lines, logger } = capture()
    logger.warn("before any level", { name: "dcent#producer-1", fac: "FAIL" })
    logger.setLogLevel(KafkaJS.logLevel.WARN)
    logger.error("Connect to ipv4#127.0.0.1:9092 failed", { name: "dcent#producer-1", fac: "FAIL" })
    logger.warn("Failed to acquire idempotence PID", { name: "dcent#producer-1", fac: "GETPID" })
    logger.info("Producer connected", { name: "dcent#producer-1" })
    expect(lines.map((line) => [line.level, line.message, line.kafkaClient, line.facility])).toEqual([
      ["error", "librdkafka: Connect to ipv4#127.0.0.1:9092 failed", "dcent#producer-1", "FAIL"],
      ["warn", "librdkafka: Failed to acquire idempotence PID", "dcent#producer-1", "GETPID"],
    ])
  })

  it("writes a repeated line once a minute, the next time with how many were left out", () => {
    const { lines, logger, clock } = capture()
    logger.setLogLevel(KafkaJS.logLevel.WARN)
    // librdkafka during an outage: the same error every 2 s, another one now and then.
    for (let second = 0; second < 130; second += 2) {
      clock.now = second * 1000
      logger.error("Error: all broker connections are down", { fac: "BINDING" })
      if (second === 10) logger.error("Error: broker transport failure", { fac: "BINDING" })
    }
    expect(lines.map((line) => [line.message, line.repeated])).toEqual([
      ["librdkafka: Error: all broker connections are down", undefined],
      ["librdkafka: Error: broker transport failure", undefined],
      ["librdkafka: Error: all broker connections are down", 29],
      ["librdkafka: Error: all broker connections are down", 29],
    ])
  })
})
