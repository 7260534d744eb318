import { KafkaJS } from "@confluentinc/kafka-javascript"
import { kafkaUrl, servers } from "../../../../test/support/servers.ts"
import { BrokerKafka } from "../../../src/broker/kafka.ts"
import { brokerContract } from "../../support/broker-contract.ts"

const bootstrap = `${servers.kafka.host}:${servers.kafka.port}`

/** Short group timeouts keep joins and rebalances quick; wildcards see only this run's topics. */
const testOptions = {
  clientId: "broker-contract",
  knownTopics: [],
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 1_000,
  retryBackoff: { initialMs: 50, maxMs: 500 },
} as const

const deleteTopics = async (topics: ReadonlyArray<string>) => {
  const admin = new KafkaJS.Kafka({ "bootstrap.servers": bootstrap, log_level: 0 }).admin()
  await admin.connect()
  try {
    await admin.deleteTopics({ topics: [...topics], timeout: 10_000 })
  } finally {
    await admin.disconnect()
  }
}

brokerContract({
  name: "kafka",
  layer: () => BrokerKafka.layer({ ...testOptions, servers: [bootstrap], url: kafkaUrl }),
  unreachable: {
    url: "kafka://127.0.0.1:1",
    layer: () => BrokerKafka.layer({ ...testOptions, servers: ["127.0.0.1:1"], connectTimeoutMs: 3_000 }),
  },
  deliveryMs: 20_000,
  quietMs: 1_000,
  testTimeoutMs: 45_000,
  deleteTopics,
})
