/**
 * One order's life with both services on the local Redis Cluster (`REDIS_CLUSTER_NODES`, 3
 * masters + replicas of `stack.sh redis-cluster-up`, started by the project's global setup):
 * sellers registered, order registered, initiate → SellersSelected, two proposals, an update,
 * finalise with a winner. The buyer's `WatchOrder` stream sees every seq once and in order, the
 * topics get the order's messages through the per-shard outbox relays, and the order's keys sit
 * in its shard's hash slot on the cluster.
 */
import { Cluster } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { streamShardSet } from "../../requestor/src/processor-streams/StreamHolder.ts"
import { liveOrdersKey } from "../../shared/src/archive/Archiver.ts"
import { shardKeys } from "../../shared/src/coordination/ShardLeases.ts"
import { allKeyShards, orderTag } from "../../shared/src/redis/keys.ts"
import {
  awaitTopic,
  describeResponse,
  http,
  type JsonResponse,
  type Stack,
  startStack,
  stopStack,
  uniqueId,
  watchOrder,
} from "../support/e2e.ts"
import { eventsKey, orderKey, processorPrefix, requestorPrefix } from "../support/redisKeys.ts"
import { redisClusterNodes, redisClusterNodesEnv } from "../support/servers.ts"

const run = uniqueId("RC")
const orderId = `${run}-ORD`
const industry = `Cluster Supplies ${run}`
const origin = { Lat: 12.9716, Lng: 77.5946 }
const sellers = [0.01, 0.02, 0.03].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `Cluster seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))

let stack: Stack | undefined
let cluster: Cluster

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

beforeAll(async () => {
  cluster = new Cluster(redisClusterNodes.map(({ host, port }) => ({ host, port })))
  // Left by an earlier run's killed requestor: live orders it would resume, leases it would hold.
  await Promise.all([
    ...allKeyShards.map((shard) => cluster.del(`${requestorPrefix}${liveOrdersKey(shard)}`)),
    ...Object.values(shardKeys(streamShardSet)).map((key) => cluster.del(`${requestorPrefix}${key}`)),
  ])
  const onCluster = { REDIS_CLUSTER_NODES: redisClusterNodesEnv }
  // The databases are not used (a cluster has one); REDIS_URL only names the protocol.
  stack = await startStack({ processorDb: 13, requestorDb: 13, processorEnv: onCluster, requestorEnv: onCluster })
}, 120_000)

afterAll(async () => {
  await stopStack(stack)
  cluster?.disconnect()
})

describe("an order's life on Redis Cluster", () => {
  it("runs initiate → proposals → finalise with every event once, in order, and the topics filled", async () => {
    const { processor, requestor } = stack as Stack
    const since = Date.now() - 1_000
    expectStatus(await http("POST", `${processor.httpUrl}/api/v1/sellers`, sellers), 201)
    const registered = await http("POST", `${requestor.httpUrl}/api/v1/orders`, {
      OrderReqID: orderId,
      BuyerID: `${run}-BUYER`,
      Industry: industry,
      Location: origin,
      Products: [{ ProductID: "P-1", Name: "Copper wire", Quantity: 10, Unit: "roll" }],
      DeliveryDate: "2026-12-20",
      Priority: "HIGH",
    })
    expectStatus(registered, 201)
    const watch = watchOrder(requestor.grpcAddress, orderId)
    try {
      expectStatus(
        await http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
          OrderReqId: orderId,
          SessionID: `${run}-SES`,
          "Notification type": "Email",
        }),
        202,
      )
      await watch.waitFor((event) => event.status === "SellersSelected", "SellersSelected")
      const submit = (seller: number, proposalId: string, price: number) =>
        http("POST", `${processor.httpUrl}/api/v1/proposal-submissions`, {
          OrderReqID: orderId,
          Seller: `${run}-S${seller}`,
          ProposalDictObj: { ProposalID: proposalId, Price: price, DeliveryDate: "2026-12-15T00:00:00Z" },
        })
      expectStatus(await submit(1, `${run}-P1`, 100), 201)
      expectStatus(await submit(2, `${run}-P2`, 90), 201)
      const update = await submit(1, `${run}-P1`, 80)
      expect([200, 201], describeResponse(update)).toContain(update.status)
      await watch.waitFor((event) => event.status === "ProposalUpdate", "ProposalUpdate")
      const finalise = await http("PUT", `${requestor.httpUrl}/api/v1/finalize/${orderId}`, {
        ProposalID: `${run}-P1`,
      })
      expectStatus(finalise, 200)
      const last = await watch.waitFor((event) => event.status === "OrderFinalised", "OrderFinalised")
      expect(
        await Promise.race([watch.ended, new Promise((resolve) => setTimeout(() => resolve("open"), 10_000))]),
      ).toEqual({
        clean: true,
      })
      // Every seq once, in order, none missing.
      expect(watch.events.map((event) => event.seq)).toEqual(Array.from({ length: last.seq }, (_, i) => i + 1))
      expect(watch.events.map((event) => event.status)).toEqual(
        expect.arrayContaining([
          "SellersSelected",
          "NewProposal",
          "ProposalUpdate",
          "ProposalAccepted",
          "OrderFinalised",
        ]),
      )
    } finally {
      watch.close()
    }

    // The outbox relays (one per shard) published the order's messages.
    const keys = new Set([orderId])
    const acks = await awaitTopic("BUYER_ACKNOWLEDGEMENTS", keys, since, (found) => found.length >= 1)
    expect(acks.length).toBe(1)
    const notify = await awaitTopic("SELLER_NOTIFY", keys, since, (found) => found.length >= 3)
    expect(notify.length).toBeGreaterThanOrEqual(3)

    // The order's keys are in its shard's slot, on the cluster.
    expect(orderKey(requestorPrefix, orderId)).toContain(orderTag(orderId))
    expect(await cluster.exists(orderKey(requestorPrefix, orderId))).toBe(1)
    expect(await cluster.xlen(eventsKey(processorPrefix, orderId))).toBeGreaterThanOrEqual(5)
    const slot = Number(await cluster.cluster("KEYSLOT", eventsKey(processorPrefix, orderId)))
    expect(Number(await cluster.cluster("KEYSLOT", orderKey(processorPrefix, orderId)))).toBe(slot)
  })
})
