/**
 * `/metrics` on both services as real processes (real Kafka and Redis): after a short workload —
 * sellers registered, an order registered and initiated with a WatchOrder and an SSE client
 * attached, a proposal submitted, the order finalised — both expositions hold the whole catalogue
 * (HELP and TYPE lines), and the request, gRPC, stream, queue, semaphore, outbox, broker, Redis,
 * order-event and end-to-end latency series have samples with the expected label values.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MetricNames, metricNames } from "../../shared/src/metrics/catalogue.ts"
import { findSamples, parseExposition, type Sample, sumSamples } from "../../shared/test/support/exposition.ts"
import {
  describeResponse,
  type EventReader,
  eventually,
  http,
  type JsonResponse,
  type Stack,
  startStack,
  stopStack,
  uniqueId,
  watchOrder,
  watchSse,
  withRedis,
} from "../support/e2e.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../support/redisKeys.ts"

const PROCESSOR_DB = 7
const REQUESTOR_DB = 8
const MAX_CONCURRENT_TASKS = 3

const run = uniqueId("MET")
const orderId = `${run}-ORD`
const proposalId = `${run}-P1`
const industry = `Metrics supplies ${run}`
const origin = { Lat: 19.076, Lng: 72.8777 }
const sellers = [1, 2].map((n) => ({
  SellerID: `${run}-S${n}`,
  Name: `Metrics seller ${n}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + n * 0.01, Lng: origin.Lng },
  Active: true,
}))

interface Exposition {
  readonly contentType: string
  readonly text: string
  readonly samples: ReadonlyArray<Sample>
}

const scrape = async (baseUrl: string): Promise<Exposition> => {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  expect(response.status).toBe(200)
  const text = await response.text()
  return { contentType: response.headers.get("content-type") ?? "", text, samples: parseExposition(text) }
}

const find = (exposition: Exposition, name: string, labels: Record<string, string> = {}) =>
  findSamples(exposition.samples, name, labels)

const total = (exposition: Exposition, name: string, labels: Record<string, string> = {}) =>
  sumSamples(exposition.samples, name, labels)

const describeSeries = (exposition: Exposition, name: string) =>
  find(exposition, name)
    .map((sample) => `${JSON.stringify(sample.labels)} ${sample.value}`)
    .join("\n") || "(no samples)"

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

let stack: Stack
let grpc: EventReader
let sse: ReturnType<typeof watchSse>
let processor: Exposition
let requestor: Exposition

beforeAll(async () => {
  await withRedis(REQUESTOR_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  stack = await startStack({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: { MAX_CONCURRENT_TASKS: String(MAX_CONCURRENT_TASKS), FIND_MAX_SEL: "2" },
  })
  const processorUrl = stack.processor.httpUrl
  const requestorUrl = stack.requestor.httpUrl

  expectStatus(await http("POST", `${processorUrl}/api/v1/sellers`, sellers), 201)
  expectStatus(
    await http("POST", `${requestorUrl}/api/v1/orders`, {
      OrderReqID: orderId,
      BuyerID: `${run}-BUYER`,
      Industry: industry,
      Location: origin,
      Products: [{ ProductID: "MET-1", Name: "Copper wire", Quantity: 10, Unit: "roll" }],
      DeliveryDate: "2026-12-20",
      Priority: "HIGH",
    }),
    201,
  )
  grpc = watchOrder(stack.requestor.grpcAddress, orderId)
  sse = watchSse(requestorUrl, orderId)
  expect((await sse.response).status).toBe(200)

  expectStatus(
    await http("POST", `${requestorUrl}/api/v1/initiate`, {
      OrderReqId: orderId,
      SessionID: `${run}-SESSION`,
      "Notification type": "Email",
    }),
    202,
  )
  await Promise.all([grpc.waitFor((e) => e.seq === 1, "SellersSelected"), sse.waitFor((e) => e.seq === 1, "#1")])

  expectStatus(
    await http("POST", `${processorUrl}/api/v1/proposal-submissions`, {
      OrderReqID: orderId,
      Seller: sellers[0]?.SellerID,
      ProposalDictObj: { ProposalID: proposalId, Price: 100, DeliveryDate: "2026-12-15T00:00:00Z", Currency: "INR" },
    }),
    201,
  )
  await Promise.all([grpc.waitFor((e) => e.seq === 2, "NewProposal"), sse.waitFor((e) => e.seq === 2, "#2")])
  // An unknown route and a request for an unknown order: 404s under a bounded route label.
  await http("GET", `${requestorUrl}/no/such/${run}`)
  await http("GET", `${requestorUrl}/api/v1/orders/${run}-UNKNOWN`)

  expectStatus(await http("PUT", `${requestorUrl}/api/v1/finalize/${orderId}`, { ProposalID: proposalId }), 200)
  await Promise.all([grpc.ended, sse.ended])

  // The relays publish the topic messages (SELLER_NOTIFY, BUYER_NOTIFY, ...) shortly after the commits.
  const topicLatencies = (exposition: Exposition) =>
    total(exposition, `${MetricNames.eventDeliveryLatency}_count`, { stage: "topic" })
  // Wait for the messages the assertions below count, not just the first one (under load the
  // relay may publish the second BUYER_NOTIFY a moment after the first).
  const published = (exposition: Exposition, topic: string) => total(exposition, MetricNames.brokerPublished, { topic })
  processor = await eventually(
    () => scrape(processorUrl),
    (exposition) => topicLatencies(exposition) > 0 && published(exposition, "SELLER_NOTIFY") >= 2,
    { what: "a topic-stage latency and two SELLER_NOTIFY on the processor" },
  )
  requestor = await eventually(
    () => scrape(requestorUrl),
    (exposition) =>
      topicLatencies(exposition) > 0 &&
      published(exposition, "BUYER_NOTIFY") >= 2 &&
      total(exposition, MetricNames.streamDisconnects, { stream: "requestor_order_stream" }) > 0,
    { what: "a topic-stage latency, two BUYER_NOTIFY and the closed processor stream on the requestor" },
  )
}, 120_000)

afterAll(async () => {
  grpc?.close()
  sse?.close()
  await stopStack(stack)
})

describe("/metrics on both services", () => {
  it("serves the Prometheus text format with every catalogue metric (HELP and TYPE) and the service label", () => {
    for (const [service, exposition] of [
      ["processor", processor],
      ["requestor", requestor],
    ] as const) {
      expect(exposition.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
      for (const name of metricNames) {
        expect(exposition.text, `${service}: ${name}`).toMatch(new RegExp(`^# HELP ${name} \\S`, "m"))
        expect(exposition.text, `${service}: ${name}`).toMatch(
          new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, "m"),
        )
      }
      expect(exposition.samples.length).toBeGreaterThan(0)
      expect(exposition.samples.every((sample) => sample.labels.service === service)).toBe(true)
      // Node's default process metrics are there too.
      expect(find(exposition, "process_cpu_user_seconds_total").length).toBe(1)
    }
  })

  it("REST requests: route templates (never raw paths), methods and status codes; /metrics itself not counted", () => {
    const requests = `${MetricNames.httpRequestDuration}_count`
    expect(
      total(requestor, requests, { method: "POST", route: "/api/v1/initiate", status_code: "202" }),
      describeSeries(requestor, requests),
    ).toBe(1)
    expect(
      total(processor, requests, { method: "POST", route: "/api/v1/proposal-submissions", status_code: "201" }),
      describeSeries(processor, requests),
    ).toBe(1)
    expect(total(requestor, requests, { route: "unmatched", status_code: "404" })).toBe(1)
    const orderRoutes = find(requestor, requests, { method: "GET", status_code: "404" }).map((s) => s.labels.route)
    expect(orderRoutes).toContain("/api/v1/orders/:OrderReqID")
    for (const exposition of [processor, requestor]) {
      const routes = find(exposition, requests).map((sample) => sample.labels.route ?? "")
      expect(routes.filter((route) => route.includes(run) || route.includes("metrics"))).toEqual([])
    }
    expect(total(requestor, MetricNames.httpActiveRequests, { method: "POST" })).toBe(0)
  })

  it("gRPC: server calls on the processor, client calls on the requestor, by service, method and status code", () => {
    const server = `${MetricNames.rpcServerDuration}_count`
    const client = `${MetricNames.rpcClientDuration}_count`
    // The order streams ride on multiplexed calls held for as long as the shard is owned: still
    // open (so not in the call durations yet), counted in the open-streams gauge on both sides.
    const calls = { stream: "order_streams_call" }
    expect(
      total(processor, MetricNames.streamsOpen, calls),
      describeSeries(processor, MetricNames.streamsOpen),
    ).toBeGreaterThan(0)
    expect(
      total(requestor, MetricNames.streamsOpen, calls),
      describeSeries(requestor, MetricNames.streamsOpen),
    ).toBeGreaterThan(0)
    const finalise = { rpc_service: "dcent.orders.v1.OrderNonStreamingService", rpc_method: "FinaliseOrder" }
    expect(total(processor, server, { ...finalise, rpc_grpc_status_code: "0" })).toBe(1)
    expect(total(requestor, client, { ...finalise, rpc_grpc_status_code: "0" })).toBe(1)
    // The requestor's public WatchOrder server.
    expect(
      total(requestor, server, { rpc_service: "dcent.orders.v1.OrderWatchService", rpc_method: "WatchOrder" }),
    ).toBeGreaterThan(0)
  })

  it("streams: open gauges per stream and disconnects with their reasons once the order is finalised", () => {
    const disconnects = MetricNames.streamDisconnects
    for (const stream of ["watch_order", "sse", "requestor_order_stream"]) {
      expect(find(requestor, MetricNames.streamsOpen, { stream }).length, stream).toBe(1)
      expect(
        total(requestor, disconnects, { stream, reason: "completed" }),
        describeSeries(requestor, disconnects),
      ).toBe(stream === "requestor_order_stream" ? total(requestor, disconnects, { stream }) : 1)
    }
    expect(total(requestor, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(0)
    expect(total(requestor, MetricNames.streamsOpen, { stream: "sse" })).toBe(0)
    expect(find(processor, MetricNames.streamsOpen, { stream: "processor_order_stream" }).length).toBe(1)
    const processorEnds = find(processor, disconnects, { stream: "processor_order_stream" }).filter((s) => s.value > 0)
    expect(processorEnds.length, describeSeries(processor, disconnects)).toBeGreaterThan(0)
    for (const end of processorEnds) expect(["completed", "client_closed"]).toContain(end.labels.reason)
  })

  it("order events per status: committed on the processor, recorded by the requestor", () => {
    for (const exposition of [processor, requestor]) {
      for (const status of ["SellersSelected", "NewProposal", "ProposalAccepted", "OrderFinalised"]) {
        expect(total(exposition, MetricNames.orderEvents, { status }), status).toBeGreaterThanOrEqual(1)
      }
    }
  })

  it("queue and semaphore: depth per priority, the HIGH job's wait, the dispatch semaphore's permits", () => {
    for (const priority of ["HIGH", "MEDIUM", "LOW"]) {
      const depth = find(processor, MetricNames.queueDepth, { priority })
      expect(depth.length, priority).toBe(1)
      // Jobs of other runs may still wait on this shared database: a count, not a figure.
      expect(Number.isSafeInteger(depth[0]?.value) && (depth[0]?.value ?? -1) >= 0, String(depth[0]?.value)).toBe(true)
    }
    expect(total(processor, `${MetricNames.queueWait}_count`, { priority: "HIGH" })).toBeGreaterThanOrEqual(1)
    expect(total(processor, MetricNames.semaphorePermits, { semaphore: "dispatch" })).toBe(MAX_CONCURRENT_TASKS)
    expect(find(processor, MetricNames.semaphorePermitsInUse, { semaphore: "dispatch" }).length).toBe(1)
    expect(find(processor, MetricNames.semaphoreWaiters, { semaphore: "dispatch" }).length).toBe(1)
  })

  it("outbox lag and pending entries on both services", () => {
    for (const exposition of [processor, requestor]) {
      const lag = find(exposition, MetricNames.outboxLag)
      expect(lag.length).toBe(1)
      expect(lag[0]?.value).toBeGreaterThanOrEqual(0)
      expect(lag[0]?.value).toBeLessThan(60)
      expect(find(exposition, MetricNames.outboxPending).length).toBe(1)
    }
  })

  it("broker publishes per topic, and Redis command latency per command", () => {
    expect(total(processor, MetricNames.brokerPublished, { topic: "SELLER_NOTIFY" })).toBeGreaterThanOrEqual(2)
    expect(total(requestor, MetricNames.brokerPublished, { topic: "BUYER_NOTIFY" })).toBeGreaterThanOrEqual(2)
    expect(total(processor, `${MetricNames.brokerPublishDuration}_count`)).toBe(
      total(processor, MetricNames.brokerPublished) + total(processor, MetricNames.brokerPublishErrors),
    )
    for (const exposition of [processor, requestor]) {
      const redis = `${MetricNames.redisCommandDuration}_count`
      expect(total(exposition, redis, { command: "evalsha" }), describeSeries(exposition, redis)).toBeGreaterThan(0)
      expect(total(exposition, redis, { command: "xreadgroup" })).toBeGreaterThan(0)
      const commands = find(exposition, redis).map((sample) => sample.labels.command ?? "")
      expect(commands.every((command) => /^[a-z]+$/.test(command))).toBe(true)
    }
  })

  it("end-to-end latency: occurred_at → processor stream, WatchOrder, SSE (requestor) and the topic (both)", () => {
    const count = `${MetricNames.eventDeliveryLatency}_count`
    const sum = `${MetricNames.eventDeliveryLatency}_sum`
    for (const stage of ["stream", "watch_order", "sse"]) {
      // Every event of the order (SellersSelected … OrderFinalised) passed each stage at least once.
      expect(total(requestor, count, { stage }), stage).toBeGreaterThanOrEqual(4)
      const mean = total(requestor, sum, { stage }) / total(requestor, count, { stage })
      expect(mean, stage).toBeGreaterThanOrEqual(0)
      expect(mean, stage).toBeLessThan(10)
    }
    expect(total(processor, count, { stage: "topic" })).toBeGreaterThan(0)
    expect(total(requestor, count, { stage: "topic" })).toBeGreaterThan(0)
    expect(total(processor, count, { stage: "sse" })).toBe(0)
  })
})
