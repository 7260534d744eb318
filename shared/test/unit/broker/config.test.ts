import { type Config, ConfigProvider, Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  brokerUrlConfig,
  InvalidBrokerUrl,
  kafkaLogLevelConfig,
  parseBrokerUrl,
  topicSettingsConfig,
  topicSpecsConfig,
} from "../../../src/broker/config.ts"
import { allTopicNames } from "../../../src/broker/topics.ts"

const load = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.runPromise(config.parse(ConfigProvider.fromUnknown(env)))
const loadError = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.runPromise(Effect.flip(config.parse(ConfigProvider.fromUnknown(env)))).then((e) => e.message)

describe("parseBrokerUrl", () => {
  it("parses kafka, nats and memory URLs", () => {
    expect(parseBrokerUrl("kafka://h1:9092,h2:9093")).toEqual({
      kind: "kafka",
      servers: ["h1:9092", "h2:9093"],
      url: "kafka://h1:9092,h2:9093",
    })
    expect(parseBrokerUrl("nats://127.0.0.1:4222")).toEqual({
      kind: "nats",
      servers: ["127.0.0.1:4222"],
      url: "nats://127.0.0.1:4222",
    })
    expect(parseBrokerUrl("memory://")).toEqual({ kind: "memory", servers: [], url: "memory://" })
    expect(parseBrokerUrl(" KAFKA://broker/ ").servers).toEqual(["broker:9092"])
    expect(parseBrokerUrl("nats://n1, n2:4333").servers).toEqual(["n1:4222", "n2:4333"])
    expect(parseBrokerUrl("kafka://[::1]:9092").servers).toEqual(["[::1]:9092"])
  })

  it("falls back to KAFKA_BOOTSTRAP_SERVERS for kafka:// without hosts", () => {
    expect(parseBrokerUrl("kafka://", "k1:1,k2").servers).toEqual(["k1:1", "k2:9092"])
    expect(() => parseBrokerUrl("kafka://", "")).toThrow("KAFKA_BOOTSTRAP_SERVERS is empty")
  })

  it("rejects malformed URLs with a reason", () => {
    expect(() => parseBrokerUrl("localhost:9092")).toThrow(InvalidBrokerUrl)
    expect(() => parseBrokerUrl("amqp://x")).toThrow('unknown scheme "amqp"')
    expect(() => parseBrokerUrl("kafka://h:99999")).toThrow("not in 1..65535")
    expect(() => parseBrokerUrl("kafka://h1,,h2")).toThrow("empty server entry")
    expect(() => parseBrokerUrl("nats://")).toThrow("needs a host")
    expect(() => parseBrokerUrl("memory://x")).toThrow("takes no host")
    expect(() => parseBrokerUrl("nats://user:pw@h")).toThrow("credentials")
  })
})

describe("broker configuration from the environment", () => {
  it("reads BROKER_URL, defaulting to kafka://127.0.0.1:9092", async () => {
    expect(await load(brokerUrlConfig, {})).toMatchObject({ kind: "kafka", servers: ["127.0.0.1:9092"] })
    expect(await load(brokerUrlConfig, { KAFKA_BOOTSTRAP_SERVERS: "k:1" })).toMatchObject({ servers: ["k:1"] })
    expect(await load(brokerUrlConfig, { BROKER_URL: "nats://n:1", KAFKA_BOOTSTRAP_SERVERS: "k:1" })).toMatchObject({
      kind: "nats",
      servers: ["n:1"],
    })
    expect(await load(brokerUrlConfig, { BROKER_URL: "memory://" })).toMatchObject({ kind: "memory" })
  })

  it("names the variable in errors", async () => {
    expect(await loadError(brokerUrlConfig, { BROKER_URL: "redis://x" })).toContain("BROKER_URL")
    expect(await loadError(brokerUrlConfig, { BROKER_URL: "kafka://", KAFKA_BOOTSTRAP_SERVERS: "h:0" })).toContain(
      "KAFKA_BOOTSTRAP_SERVERS",
    )
    expect(await loadError(topicSpecsConfig, { KAFKA_TOPIC_PARTITIONS: "three" })).toContain("KAFKA_TOPIC_PARTITIONS")
    expect(await loadError(topicSpecsConfig, { KAFKA_REPLICATION_FACTOR: "0" })).toContain(
      "KAFKA_REPLICATION_FACTOR must be >= 1",
    )
    expect(await loadError(kafkaLogLevelConfig, { KAFKA_LOG_LEVEL: "9" })).toContain("KAFKA_LOG_LEVEL")
  })

  it("builds the eight topic specs from KAFKA_TOPIC_PARTITIONS and KAFKA_REPLICATION_FACTOR", async () => {
    const defaults = await load(topicSpecsConfig, {})
    expect(defaults.map((spec) => spec.name)).toEqual([...allTopicNames])
    expect(
      defaults.every(
        (spec) => spec.partitions === 3 && spec.replicationFactor === 1 && spec.minInsyncReplicas === undefined,
      ),
    ).toBe(true)
    const custom = await load(topicSpecsConfig, { KAFKA_TOPIC_PARTITIONS: "12", KAFKA_REPLICATION_FACTOR: "3" })
    expect(custom).toHaveLength(8)
    expect(custom[0]).toEqual({
      name: "BUYER_ACKNOWLEDGEMENTS",
      partitions: 12,
      replicationFactor: 3,
      minInsyncReplicas: 2,
    })
  })

  it("sets min.insync.replicas from KAFKA_MIN_INSYNC_REPLICAS, never above the replication factor", async () => {
    const settings = async (env: Record<string, string>) => (await load(topicSettingsConfig, env)).minInsyncReplicas
    expect(await settings({ KAFKA_MIN_INSYNC_REPLICAS: "1" })).toBe(1)
    expect(await settings({ KAFKA_REPLICATION_FACTOR: "2" })).toBe(1)
    expect(await settings({ KAFKA_REPLICATION_FACTOR: "5" })).toBe(2)
    expect(await settings({ KAFKA_REPLICATION_FACTOR: "3", KAFKA_MIN_INSYNC_REPLICAS: "3" })).toBe(3)
    expect(await loadError(topicSettingsConfig, { KAFKA_MIN_INSYNC_REPLICAS: "2" })).toContain(
      "KAFKA_MIN_INSYNC_REPLICAS (2) must not exceed KAFKA_REPLICATION_FACTOR (1)",
    )
    expect(await loadError(topicSettingsConfig, { KAFKA_MIN_INSYNC_REPLICAS: "0" })).toContain(
      "KAFKA_MIN_INSYNC_REPLICAS must be >= 1",
    )
    expect(await loadError(topicSettingsConfig, { KAFKA_MIN_INSYNC_REPLICAS: "two" })).toContain(
      "KAFKA_MIN_INSYNC_REPLICAS",
    )
  })
})
