/**
 * Two processors and two requestors against one Kafka and one Redis behave as one system:
 *
 * - both requestors reach both processors (`PROCESSOR_GRPC_URL=<p1>,<p2>`, round-robin);
 * - orders are initiated through both requestors, alternately and concurrently, and the same
 *   initiate is sent to both at once: one `BUYER_ACKNOWLEDGEMENTS` per order, one 202;
 * - each live order's stream is held by exactly one requestor (the owner of its stream shard;
 *   `STREAM_SHARDS=2` here, and the orders are spread over both shards, so each replica holds
 *   half of them);
 * - proposals submitted to either processor reach the buyer's `WatchOrder` stream exactly once;
 * - `kill -9` of the requestor holding some orders: the other takes its shard over within the
 *   lease TTL and one claim period (measured and printed) and new proposals still arrive exactly
 *   once, in order;
 * - `kill -9` of a processor: the streams carry on through the other one;
 * - every order's dispatch job ran once (the processors' `dispatch:stats`).
 *
 * The buyer apps (one independent `WatchOrder` call per order) stay on the surviving requestor the
 * whole time, and see seq 1..N once each, in order, through `OrderFinalised`.
 */

import { shardKeys } from "@dcent/shared/coordination/ShardLeases"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { streamShardOf, streamShardSet } from "../../requestor/src/processor-streams/StreamHolder.ts"
import {
  awaitTopic,
  describeResponse,
  eventually,
  http,
  type JsonResponse,
  redisDbUrl,
  type SeenEvent,
  type StackOptions,
  sleep,
  startReadyProcessor,
  uniqueId,
  watchOrder,
  withRedis,
} from "../support/e2e.ts"
import { waitForHttp } from "../support/processes.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../support/redisKeys.ts"
import { kafkaUrl } from "../support/servers.ts"
import { type RunningProcessor, type RunningRequestor, startRequestor } from "../support/services.ts"

/** Databases of their own: no other test's requestor takes part in these leases. */
const PROCESSOR_DB = 13
const REQUESTOR_DB = 14
const LEASE_TTL_SECONDS = 4
/** Two shards for two replicas: one each, so each holds the orders of its shard. */
const SHARDS = 2
const ORDERS = 10
/** Orders 0..5 are initiated alternately through A and B; 6..9 through both at once. */
const BOTH_AT_ONCE_FROM = 6

const run = uniqueId("E2E")
const industry = `E2E Replicas ${run}`
const origin = { Lat: 52.52, Lng: 13.405 }
const sellers = [0.01, 0.02].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `E2E replicas seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))
const [s1, s2] = sellers.map((seller) => seller.SellerID) as [string, string]
/** `count` ids `${prefix}<n>` in `shard`. */
const idsInShard = (prefix: string, shard: number, count: number) => {
  const ids: Array<string> = []
  for (let n = 0; ids.length < count; n++) {
    if (streamShardOf(`${prefix}${n}`, SHARDS) === shard) ids.push(`${prefix}${n}`)
  }
  return ids
}
/** Half of the orders in each shard, interleaved. */
const orderIds = idsInShard(`${run}-O`, 0, ORDERS / 2).flatMap((id, index) => [
  id,
  idsInShard(`${run}-O`, 1, ORDERS / 2)[index] as string,
])
/** Initiated through a third requestor (in the shard it takes) that then stops gracefully. */
let handedOverIds: Array<string> = []
const proposal = (orderId: string, n: number) => `${orderId}-P${n}`
const shardOwnersKey = `dcent:requestor:${shardKeys(streamShardSet).owners}`

const stackOptions: StackOptions = { processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB }

let p1: RunningProcessor
let p2: RunningProcessor
/** The processor left after one is killed. */
let survivor: RunningProcessor
let a: RunningRequestor
let b: RunningRequestor
let since: number
const watches = new Map<string, ReturnType<typeof watchOrder>>()
/** [status, proposalId] per seq, per order, as the test drives it. */
const expected = new Map<string, Array<readonly [string, string]>>(orderIds.map((id) => [id, []]))
/** Log lines of a stream that broke and reconnects. */
const streamBreaks = (requestor: RunningRequestor) =>
  requestor
    .output()
    .split("\n")
    .filter((line) => /order streams (broke|unavailable)/.test(line)).length

/** The multiplexed `ProcessOrderStreams` calls a processor holds open now. */
const orderStreamsCalls = async (processor: RunningProcessor) => {
  const text = await (await fetch(`${processor.httpUrl}/metrics`)).text()
  return Number(/dcent_streams_open\{[^}]*stream="order_streams_call"[^}]*\} (\d+)/.exec(text)?.[1] ?? "0")
}

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

const startReplica = async (processors: string, name: string): Promise<RunningRequestor> => {
  const requestor = await startRequestor({
    name,
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(REQUESTOR_DB),
      PROCESSOR_GRPC_URL: processors,
      STREAM_LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS),
      STREAM_SHARDS: String(SHARDS),
      // Info: the stream breaks and reconnects are counted from the log.
      LOG_LEVEL: "info",
    },
  })
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 45_000 })
  return requestor
}

/** The owner token of each order's stream shard now (null: none). */
const shardOwners = (ids: ReadonlyArray<string>) =>
  withRedis(REQUESTOR_DB, (redis) => redis.hmget(shardOwnersKey, ...ids.map((id) => String(streamShardOf(id, SHARDS)))))

/** Which requestor owns the order's stream shard now (`A`, `B`, or the raw value). */
const holders = async (ids: ReadonlyArray<string>): Promise<Array<string>> => {
  const values = await shardOwners(ids)
  return values.map((value) =>
    value === null
      ? "none"
      : value.includes(`:${a.httpPort}/`)
        ? "A"
        : value.includes(`:${b.httpPort}/`)
          ? "B"
          : `other(${value})`,
  )
}

const submit = async (processor: RunningProcessor, orderId: string, seller: string, n: number) => {
  const response = await http("POST", `${processor.httpUrl}/api/v1/proposal-submissions`, {
    OrderReqID: orderId,
    Seller: seller,
    ProposalDictObj: { ProposalID: proposal(orderId, n), Price: 100 + n, DeliveryDate: "2026-12-01", Currency: "EUR" },
  })
  expectStatus(response, 201)
  const sequence = expected.get(orderId) as Array<readonly [string, string]>
  sequence.push(["NewProposal", proposal(orderId, n)])
  expect(response.body.Seq).toBe(sequence.length)
}

/** The number of the order's next proposal. */
const nextProposal = (orderId: string) =>
  (expected.get(orderId) as Array<readonly [string, string]>).filter(([status]) => status === "NewProposal").length + 1

const register = (requestor: RunningRequestor, orderId: string) =>
  http("POST", `${requestor.httpUrl}/api/v1/orders`, {
    OrderReqID: orderId,
    BuyerID: `${run}-BUYER`,
    Industry: industry,
    Location: origin,
    Products: [{ Name: "Steel beam", Quantity: 4, Unit: "pcs" }],
    DeliveryDate: "2026-12-01",
  })

const initiate = (requestor: RunningRequestor, orderId: string) =>
  http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
    OrderReqId: orderId,
    SessionID: `${orderId}-SESSION`,
    "Notification type": "SMS",
  })

const seen = (orderId: string, seq: number, timeoutMs = 30_000): Promise<SeenEvent> =>
  (watches.get(orderId) as ReturnType<typeof watchOrder>).waitFor(
    (event) => event.seq === seq,
    `${orderId} event #${seq}`,
    timeoutMs,
  )

/** Each order's WatchOrder call so far: seq 1..n once each, in order, as expected. */
const expectExactlyOnceInOrder = (orderId: string) => {
  const events = (watches.get(orderId) as ReturnType<typeof watchOrder>).events
  const sequence = expected.get(orderId) as Array<readonly [string, string]>
  expect(
    events.map(({ seq, status, proposalId }) => ({ seq, status, proposalId })),
    orderId,
  ).toEqual(sequence.map(([status, proposalId], index) => ({ seq: index + 1, status, proposalId })))
  expect(new Set(events.map((event) => event.eventId)).size).toBe(sequence.length)
}

beforeAll(async () => {
  since = Date.now() - 2_000
  // Orders left live by an interrupted earlier run would be resumed by the new requestors, and
  // shard owners left by killed requestors of an earlier run would hold the shards until they expire.
  await withRedis(REQUESTOR_DB, (redis) =>
    redis.del(
      ...allLiveOrdersKeys(requestorPrefix),
      ...Object.values(shardKeys(streamShardSet)).map((key) => `dcent:requestor:${key}`),
    ),
  )
  ;[p1, p2] = await Promise.all([
    startReadyProcessor(stackOptions, {}, "processor-1"),
    startReadyProcessor(stackOptions, {}, "processor-2"),
  ])
  const processors = `${p1.grpcAddress},${p2.grpcAddress}`
  ;[a, b] = await Promise.all([startReplica(processors, "requestor-A"), startReplica(processors, "requestor-B")])
})

afterAll(async () => {
  for (const watch of watches.values()) watch.close()
  await Promise.allSettled([a?.stop(), b?.stop(), p1?.stop(), p2?.stop()])
})

describe(`two processors and two requestors as one system (${run})`, () => {
  it("initiates through both requestors: one 202 and one acknowledgement per order, each stream held once", async () => {
    expectStatus(await http("POST", `${p1.httpUrl}/api/v1/sellers`, sellers), 201)
    // Registered through either requestor, alternately.
    for (const [index, orderId] of orderIds.entries()) {
      const requestor = index % 2 === 0 ? a : b
      expectStatus(await register(requestor, orderId), 201)
      // The buyer app watches every order on B (the requestor that survives).
      watches.set(orderId, watchOrder(b.grpcAddress, orderId))
    }

    const answers = await Promise.all(
      orderIds.map(async (orderId, index) =>
        index < BOTH_AT_ONCE_FROM
          ? [await initiate(index % 2 === 0 ? a : b, orderId)]
          : await Promise.all([initiate(a, orderId), initiate(b, orderId)]),
      ),
    )
    for (const [index, responses] of answers.entries()) {
      const statuses = responses.map((response) => response.status).sort()
      expect(statuses, responses.map(describeResponse).join("\n")).toEqual(
        index < BOTH_AT_ONCE_FROM ? [202] : [200, 202],
      )
    }
    for (const orderId of orderIds)
      (expected.get(orderId) as Array<readonly [string, string]>).push(["SellersSelected", ""])
    await Promise.all(orderIds.map((orderId) => seen(orderId, 1)))

    // One shard each (the first to start takes both, then gives one back when it sees the other).
    const owners = await eventually(
      () => holders(orderIds),
      (now) => now.includes("A") && now.includes("B"),
      { what: "each replica owning one shard" },
    )
    console.info(`replicas: stream holders after initiate: ${owners.join(" ")}`)
    for (const owner of owners) expect(["A", "B"]).toContain(owner)
    expect(owners.filter((owner) => owner === "A")).toHaveLength(ORDERS / 2)

    const acks = await awaitTopic(
      "BUYER_ACKNOWLEDGEMENTS",
      new Set(orderIds),
      since,
      (records) => records.length >= ORDERS,
      { settleMs: 2_000 },
    )
    expect(acks.map((record) => record.key).sort()).toEqual([...orderIds].sort())
  })

  it("proposals submitted to either processor reach the one stream of each order exactly once", async () => {
    await Promise.all(
      orderIds.map(async (orderId) => {
        await submit(p1, orderId, s1, 1)
        await submit(p2, orderId, s2, 2)
        await seen(orderId, 3)
      }),
    )
    // The holders did not change hands meanwhile.
    const owners = await holders(orderIds)
    expect(owners.filter((owner) => owner === "A").length + owners.filter((owner) => owner === "B").length).toBe(ORDERS)
    for (const orderId of orderIds) expectExactlyOnceInOrder(orderId)
  })

  it("kill -9 of a requestor: the other takes its shard over within the lease TTL; nothing lost or repeated", async () => {
    const before = await holders(orderIds)
    const ofA = orderIds.filter((_, index) => before[index] === "A")
    expect(ofA.length).toBeGreaterThan(0)

    const killedAt = Date.now()
    const killedAtPerf = performance.now()
    const exit = await a.stop({ signal: "SIGKILL" })
    expect(exit.signal).toBe("SIGKILL")
    // Proposals while nobody holds those streams (appended by the processors, delivered later).
    await Promise.all(ofA.map((orderId) => submit(p2, orderId, s1, 3)))

    const takenOver = new Map<string, number>()
    await eventually(
      async () => {
        const now = await holders(ofA)
        for (const [index, owner] of now.entries()) {
          const orderId = ofA[index] as string
          if (owner === "B" && !takenOver.has(orderId)) takenOver.set(orderId, Date.now() - killedAt)
        }
        return takenOver.size
      },
      (count) => count === ofA.length,
      { timeoutMs: (LEASE_TTL_SECONDS + 10) * 1_000, intervalMs: 50, what: "B holding every order of A" },
    )
    const delivered = await Promise.all(ofA.map((orderId) => seen(orderId, 4)))
    const deliveredAfter = delivered.map((event) => Math.round(event.receivedAt - killedAtPerf))
    const times = [...takenOver.values()].sort((x, y) => x - y)
    console.info(
      `replicas: requestor kill -9 → takeover of ${ofA.length} orders (one shard) by the other replica in ` +
        `${times[0]}..${times.at(-1)} ms (lease TTL ${LEASE_TTL_SECONDS} s); the proposal made meanwhile ` +
        `reached WatchOrder ${Math.min(...deliveredAfter)}..${Math.max(...deliveredAfter)} ms after the kill`,
    )
    // The lease runs out, then the survivor's next claim (every TTL/3) takes the shard.
    expect(times.at(-1)).toBeLessThan((LEASE_TTL_SECONDS * 4_000) / 3 + 1_500)
    expect((await holders(orderIds)).every((owner) => owner === "B")).toBe(true)

    // New proposals after the takeover arrive exactly once, too.
    await Promise.all(orderIds.map((orderId) => submit(p1, orderId, s2, nextProposal(orderId))))
    await Promise.all(orderIds.map((orderId) => seen(orderId, (expected.get(orderId) as Array<unknown>).length)))
    for (const orderId of orderIds) expectExactlyOnceInOrder(orderId)
  })

  it("kill -9 of a processor: the streams carry on through the other one", async () => {
    // B's shards ride on a multiplexed call each, spread round-robin: kill a processor holding one.
    const [callsOn1, callsOn2] = await Promise.all([orderStreamsCalls(p1), orderStreamsCalls(p2)])
    expect(callsOn1 + callsOn2).toBeGreaterThan(0)
    const victim = callsOn1 >= callsOn2 ? p1 : p2
    survivor = victim === p1 ? p2 : p1
    const breaksBefore = streamBreaks(b)
    const killedAt = Date.now()
    const exit = await victim.stop({ signal: "SIGKILL" })
    expect(exit.signal).toBe("SIGKILL")
    await Promise.all(
      orderIds.map(async (orderId) => {
        await submit(survivor, orderId, s1, nextProposal(orderId))
        await seen(orderId, (expected.get(orderId) as Array<unknown>).length)
      }),
    )
    const broken = streamBreaks(b) - breaksBefore
    console.info(
      `replicas: processor kill -9 → ${broken} shard calls on it broke and reconnected through the other; ` +
        `every order's next proposal delivered ${Date.now() - killedAt} ms after the kill`,
    )
    // The processor that died held some of the shards' calls.
    expect(broken).toBeGreaterThan(0)
    for (const orderId of orderIds) expectExactlyOnceInOrder(orderId)
  })

  it("finalises every order through the surviving pair; each WatchOrder call ends after seq 1..N once each", async () => {
    await Promise.all(
      orderIds.map(async (orderId) => {
        const sequence = expected.get(orderId) as Array<readonly [string, string]>
        const proposals = sequence.filter(([status]) => status === "NewProposal").map(([, id]) => id)
        const winner = proposals.at(-1) as string
        const response = await http("PUT", `${b.httpUrl}/api/v1/finalize/${orderId}`, { ProposalID: winner })
        expectStatus(response, 200)
        for (const id of [...proposals].sort()) {
          sequence.push([id === winner ? "ProposalAccepted" : "ProposalClosed", id])
        }
        sequence.push(["OrderFinalised", ""])
        expect(response.body.Seq).toBe(sequence.length)
        const watch = watches.get(orderId) as ReturnType<typeof watchOrder>
        const ended = await Promise.race([watch.ended, sleep(30_000).then(() => "still open after 30 s")])
        expect(ended, orderId).toEqual({ clean: true })
      }),
    )
    for (const orderId of orderIds) {
      const events = (watches.get(orderId) as ReturnType<typeof watchOrder>).events
      const sequence = expected.get(orderId) as Array<readonly [string, string]>
      // Closing order among the proposals is the processor's; compare as sets after the last proposal.
      const proposalsAt = sequence.findIndex(([status]) => status === "ProposalAccepted" || status === "ProposalClosed")
      expect(events.map((event) => event.seq)).toEqual(sequence.map((_, index) => index + 1))
      expect(events.slice(0, proposalsAt).map(({ status, proposalId }) => [status, proposalId])).toEqual(
        sequence.slice(0, proposalsAt),
      )
      expect(
        events
          .slice(proposalsAt)
          .map(({ status, proposalId }) => `${status}:${proposalId}`)
          .sort(),
      ).toEqual(
        sequence
          .slice(proposalsAt)
          .map(([status, proposalId]) => `${status}:${proposalId}`)
          .sort(),
      )
      expect(new Set(events.map((event) => event.eventId)).size).toBe(events.length)
    }
    // Finalised orders leave live-orders and their streams end (the shards stay owned).
    const live = await withRedis(REQUESTOR_DB, (redis) =>
      Promise.all(allLiveOrdersKeys(requestorPrefix).map((key) => redis.smembers(key))).then((sets) => sets.flat()),
    )
    expect(live.filter((id) => orderIds.includes(id))).toEqual([])
    await eventually(
      async () => {
        const text = await (await fetch(`${b.httpUrl}/metrics`)).text()
        return Number(/dcent_streams_open\{[^}]*stream="requestor_order_stream"[^}]*\} (\d+)/.exec(text)?.[1] ?? "-1")
      },
      (open) => open === 0,
      { what: "no stream held once every order is finalised" },
    )
  })

  it("a graceful stop hands the streams over at once (no wait for the lease TTL)", async () => {
    const c = await startReplica(`${p1.grpcAddress},${p2.grpcAddress}`, "requestor-C")
    try {
      // B gives C one of its two shards; the orders initiated through C are put in that one.
      const owned = await eventually(
        () => withRedis(REQUESTOR_DB, (redis) => redis.hgetall(shardOwnersKey)),
        (owners) => Object.values(owners).some((owner) => owner.includes(`:${c.httpPort}/`)),
        { what: "C owning a shard" },
      )
      const shardOfC = Number(Object.entries(owned).find(([, owner]) => owner.includes(`:${c.httpPort}/`))?.[0])
      handedOverIds = idsInShard(`${run}-H`, shardOfC, 4)
      for (const id of handedOverIds) expected.set(id, [])
      for (const orderId of handedOverIds) {
        expectStatus(await register(c, orderId), 201)
        watches.set(orderId, watchOrder(b.grpcAddress, orderId))
        expectStatus(await initiate(c, orderId), 202)
        ;(expected.get(orderId) as Array<readonly [string, string]>).push(["SellersSelected", ""])
      }
      await Promise.all(handedOverIds.map((orderId) => seen(orderId, 1)))
      const held = await shardOwners(handedOverIds)
      expect(held.every((owner) => owner?.includes(`:${c.httpPort}/`))).toBe(true)

      const stoppedAt = Date.now()
      const exit = await c.stop()
      expect(exit.code, c.output()).toBe(0)
      const takenOver = new Map<string, number>()
      await eventually(
        async () => {
          const now = await holders(handedOverIds)
          for (const [index, owner] of now.entries()) {
            const orderId = handedOverIds[index] as string
            if (owner === "B" && !takenOver.has(orderId)) takenOver.set(orderId, Date.now() - stoppedAt)
          }
          return takenOver.size
        },
        (count) => count === handedOverIds.length,
        { timeoutMs: (LEASE_TTL_SECONDS + 10) * 1_000, intervalMs: 20, what: "B holding the orders of C" },
      )
      const times = [...takenOver.values()].sort((x, y) => x - y)
      console.info(
        `replicas: graceful stop (SIGTERM, exit after ${exit.durationMs} ms) → takeover of ${handedOverIds.length} ` +
          `orders ${times[0]}..${times.at(-1)} ms after the signal`,
      )
      // Released and announced: well before the lease's TTL, or a waiting replica's next look (TTL/2).
      expect((times.at(-1) as number) - exit.durationMs).toBeLessThan(1_000)

      for (const orderId of handedOverIds) {
        await submit(survivor, orderId, s1, 1)
        await seen(orderId, 2)
        const response = await http("PUT", `${b.httpUrl}/api/v1/finalize/${orderId}`, {
          ProposalID: proposal(orderId, 1),
        })
        expectStatus(response, 200)
        ;(expected.get(orderId) as Array<readonly [string, string]>).push(
          ["ProposalAccepted", proposal(orderId, 1)],
          ["OrderFinalised", ""],
        )
        await seen(orderId, 4)
        expectExactlyOnceInOrder(orderId)
      }
    } finally {
      await c.stop()
    }
  })

  it("BUYER_NOTIFY has every buyer-facing event of every order (at least once, one EventID per seq)", async () => {
    const all = [...orderIds, ...handedOverIds]
    const wanted = new Set(
      all.flatMap((orderId) =>
        (watches.get(orderId) as ReturnType<typeof watchOrder>).events.map(
          (event) => `${orderId}#${event.seq}#${event.eventId}`,
        ),
      ),
    )
    // Entries a killed requestor recorded but had not relayed yet are claimed by the other's relay.
    const records = await awaitTopic(
      "BUYER_NOTIFY",
      new Set(all),
      since,
      (found) => {
        const have = new Set(found.map((record) => `${record.key}#${record.payload.Seq}#${record.payload.EventID}`))
        return [...wanted].every((id) => have.has(id))
      },
      { timeoutMs: 60_000 },
    )
    const have = records.map((record) => `${record.key}#${record.payload.Seq}#${record.payload.EventID}`)
    expect([...new Set(have)].sort()).toEqual([...wanted].sort())
    console.info(`replicas: BUYER_NOTIFY ${wanted.size} events, ${have.length - wanted.size} duplicate messages`)
  })

  it("each order's dispatch job ran once across both processors", async () => {
    const stats = await withRedis(PROCESSOR_DB, (redis) => redis.lrange("dcent:processor:dispatch:stats", 0, -1))
    const dispatched = stats
      .map((line) => JSON.parse(line) as { orderReqId: string; outcome: string; replica: string })
      .filter(
        (stat) =>
          (orderIds.includes(stat.orderReqId) || handedOverIds.includes(stat.orderReqId)) &&
          stat.outcome === "dispatched",
      )
    expect(dispatched.map((stat) => stat.orderReqId).sort()).toEqual([...orderIds, ...handedOverIds].sort())
    console.info(
      `replicas: dispatch jobs per processor replica: ${JSON.stringify(
        Object.fromEntries(
          [...new Set(dispatched.map((stat) => stat.replica))].map((replica) => [
            replica,
            dispatched.filter((stat) => stat.replica === replica).length,
          ]),
        ),
      )}`,
    )
  })
})
