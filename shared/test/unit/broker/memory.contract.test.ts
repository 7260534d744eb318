import { BrokerMemory } from "../../../src/broker/memory.ts"
import { brokerContract } from "../../support/broker-contract.ts"

brokerContract({
  name: "memory",
  layer: () => BrokerMemory.layerWith({ topics: [] }),
  deliveryMs: 2_000,
  quietMs: 50,
  testTimeoutMs: 5_000,
})
