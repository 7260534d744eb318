import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { natsUrl, servers } from "../../../../test/support/servers.ts"
import { BrokerNats } from "../../../src/broker/nats.ts"
import { brokerContract } from "../../support/broker-contract.ts"

const server = `${servers.nats.host}:${servers.nats.port}`

/** A short ack_wait and backoff keep redelivery quick; wildcards see only this run's streams. */
const testOptions = {
  name: "broker-contract",
  knownTopics: [],
  ackWaitMs: 3_000,
  retryBackoff: { initialMs: 50, maxMs: 500 },
} as const

const deleteTopics = async (topics: ReadonlyArray<string>) => {
  const nc = await connect({ servers: server })
  try {
    const jsm = await jetstreamManager(nc)
    for (const stream of topics) await jsm.streams.delete(stream).catch(() => false)
  } finally {
    await nc.close()
  }
}

brokerContract({
  name: "nats",
  layer: () => BrokerNats.layer({ ...testOptions, servers: [server], url: natsUrl }),
  unreachable: {
    url: "nats://127.0.0.1:1",
    layer: () => BrokerNats.layer({ ...testOptions, servers: ["127.0.0.1:1"], connectTimeoutMs: 3_000 }),
  },
  deliveryMs: 15_000,
  quietMs: 500,
  testTimeoutMs: 45_000,
  deleteTopics,
})
