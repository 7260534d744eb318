/**
 * One trace across both services and the broker, read back from a real OTLP receiver (Jaeger v2,
 * `test/support/traceReceiver.ts`): the processor and the requestor run as real processes with
 * `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at it, and this test is a buyer app consuming
 * `BUYER_NOTIFY` through the traced broker facade (exporting its own spans as `e2e-buyer-app`).
 *
 * - A seller's proposal: processor `POST /api/v1/proposal-submissions` (root, SERVER) → Effect
 *   spans → the event committed with its trace context → requestor `receive OrderEvent` (over the
 *   gRPC order stream) → requestor `send BUYER_NOTIFY` (outbox relay, PRODUCER) → this test's
 *   `process BUYER_NOTIFY` (CONSUMER). One trace id, every parent present, one root.
 * - The initiate: requestor `POST /api/v1/initiate` (root) → CLIENT span
 *   `dcent.orders.v1.OrderStreamingService/ProcessOrderStreams open` (the order's `open` on its
 *   shard's multiplexed call) → the processor's SERVER span of the same name (through the
 *   command's `trace_context`) → the dispatch job it queued (`Dispatch.job`, the
 *   trace context rides on the queued job) → `send SELLER_NOTIFY` and the requestor's
 *   `receive OrderEvent` of SellersSelected.
 *
 * Long-lived spans (the order stream) end when the order is finalised; the services are stopped
 * (SIGTERM flushes their exporters) before the spans are read.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node"
import { type Context, Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Broker, type BrokerMessage } from "../../shared/src/broker/Broker.ts"
import { parseBrokerUrl } from "../../shared/src/broker/config.ts"
import { layerFromUrl } from "../../shared/src/broker/layer.ts"
import { tracedBroker } from "../../shared/src/telemetry/messaging.ts"
import { tracerLayer } from "../../shared/src/telemetry/Telemetry.ts"
import {
  describeResponse,
  http,
  type JsonResponse,
  type Stack,
  startStack,
  stopStack,
  uniqueId,
  watchOrder,
  withRedis,
} from "../support/e2e.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../support/redisKeys.ts"
import { kafkaUrl } from "../support/servers.ts"
import { type ReceivedSpan, startTraceReceiver, type TraceReceiver } from "../support/traceReceiver.ts"

/** Both services on one database: their keys have different prefixes. */
const REDIS_DB = 15

const run = uniqueId("TRC")
const orderId = `${run}-ORD`
const industry = `Tracing ${run}`
const seller = {
  SellerID: `${run}-S1`,
  Name: "Tracing seller",
  Industries: [industry],
  Location: { Lat: 12.98, Lng: 77.6 },
  Active: true,
}
const proposalId = `${run}-P1`
const appService = "e2e-buyer-app"

let receiver: TraceReceiver
let stack: Stack | undefined
let scope: Scope.Closeable
let appContext: Context.Context<Broker>
/** BUYER_NOTIFY messages of this order, as the buyer app processed them. */
const notified: Array<{ readonly status: string; readonly message: BrokerMessage }> = []

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

const waitUntil = async (what: string, check: () => boolean, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const describeSpans = (spans: ReadonlyArray<ReceivedSpan>) =>
  spans
    .map((span) => `  ${span.service} ${span.kind ?? ""} "${span.name}" ${span.spanId} parent=${span.parentSpanId}`)
    .join("\n")

/** The span of `service` named `name` (and of `kind`), exactly one. */
const only = (spans: ReadonlyArray<ReceivedSpan>, service: string, name: string, kind?: string): ReceivedSpan => {
  const found = spans.filter(
    (span) => span.service === service && span.name === name && (kind === undefined || span.kind === kind),
  )
  expect(found.length, `one ${service} "${name}" span in\n${describeSpans(spans)}`).toBe(1)
  return found[0]!
}

/** The chain of spans from `span` up to its root. */
const ancestry = (spans: ReadonlyArray<ReceivedSpan>, span: ReceivedSpan): Array<ReceivedSpan> => {
  const byId = new Map(spans.map((candidate) => [candidate.spanId, candidate]))
  const chain = [span]
  let current = span
  while (current.parentSpanId !== undefined) {
    const parent = byId.get(current.parentSpanId)
    if (parent === undefined) break
    chain.push(parent)
    current = parent
  }
  return chain
}

/** Every span of one trace has its parent in the trace, and exactly one span is the root. */
const expectWholeTrace = (spans: ReadonlyArray<ReceivedSpan>, traceId: string): ReceivedSpan => {
  const ids = new Set(spans.map((span) => span.spanId))
  for (const span of spans) {
    expect(span.traceId).toBe(traceId)
    if (span.parentSpanId !== undefined) {
      expect(ids.has(span.parentSpanId), `parent of ${span.service} "${span.name}" in\n${describeSpans(spans)}`).toBe(
        true,
      )
    }
  }
  const roots = spans.filter((span) => span.parentSpanId === undefined)
  expect(roots.length, `one root in\n${describeSpans(spans)}`).toBe(1)
  return roots[0]!
}

beforeAll(async () => {
  receiver = await startTraceReceiver()
  // Orders left live by an interrupted earlier run would be resumed by the new requestor.
  await withRedis(REDIS_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.otlpGrpcEndpoint, OTEL_BSP_SCHEDULE_DELAY: "200" }
  stack = await startStack({
    processorDb: REDIS_DB,
    requestorDb: REDIS_DB,
    processorEnv: { ...otel, FIND_MAX_SEL: "1" },
    requestorEnv: otel,
  })

  // The buyer app: a traced broker consumer exporting to the same receiver.
  scope = Effect.runSync(Scope.make())
  const exporter = new OTLPTraceExporter({ url: receiver.otlpGrpcEndpoint })
  const appLayer = Layer.merge(
    tracerLayer(appService, new SimpleSpanProcessor(exporter)),
    layerFromUrl(parseBrokerUrl(kafkaUrl)),
  )
  appContext = (await Effect.runPromise(Layer.buildWithScope(appLayer, scope))) as Context.Context<Broker>
  await Effect.runPromise(
    Effect.gen(function* () {
      const broker = tracedBroker(yield* Broker)
      const subscription = yield* broker.subscribe({
        subject: "BUYER_NOTIFY.>",
        group: `tracing-${run}`,
        handler: (message) =>
          Effect.sync(() => {
            const payload = JSON.parse(new TextDecoder().decode(message.payload)) as Record<string, unknown>
            if (payload.OrderReqID === orderId) notified.push({ status: String(payload.Status), message })
          }),
      })
      yield* subscription.ready
    }).pipe(Effect.provideContext(appContext), Scope.provide(scope)),
  )
})

afterAll(async () => {
  await stopStack(stack)
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  await receiver?.stop()
})

describe("one trace across the services and the broker", () => {
  let proposalTraceId: string

  it("drives an order: initiate, a proposal, its BUYER_NOTIFY, finalise", async () => {
    const current = stack!
    expectStatus(await http("POST", `${current.processor.httpUrl}/api/v1/sellers`, [seller]), 201)
    expectStatus(
      await http("POST", `${current.requestor.httpUrl}/api/v1/orders`, {
        OrderReqID: orderId,
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: { Lat: 12.97, Lng: 77.59 },
        Products: [{ ProductID: "SS-304", Name: "Steel sheet", Quantity: 4, Unit: "sheet" }],
        DeliveryDate: "2026-12-20",
        Priority: "HIGH",
      }),
      201,
    )
    const watch = watchOrder(current.requestor.grpcAddress, orderId)
    try {
      expectStatus(
        await http("POST", `${current.requestor.httpUrl}/api/v1/initiate`, {
          OrderReqId: orderId,
          SessionID: `${run}-SESSION`,
          "Notification type": "Email",
        }),
        202,
      )
      await watch.waitFor((event) => event.status === "SellersSelected", "SellersSelected")

      const submitted = await http("POST", `${current.processor.httpUrl}/api/v1/proposal-submissions`, {
        OrderReqID: orderId,
        Seller: seller.SellerID,
        ProposalDictObj: { ProposalID: proposalId, Price: 100, DeliveryDate: "2026-12-15T00:00:00Z", Currency: "INR" },
      })
      expectStatus(submitted, 201)
      const proposal = await watch.waitFor((event) => event.status === "NewProposal", "NewProposal")
      expect(proposal.proposalId).toBe(proposalId)

      await waitUntil("BUYER_NOTIFY NewProposal at the buyer app", () =>
        notified.some((entry) => entry.status === "NewProposal"),
      )
      const traceparent = notified.find((entry) => entry.status === "NewProposal")!.message.headers.traceparent
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      proposalTraceId = traceparent!.split("-")[1]!

      expectStatus(
        await http("PUT", `${current.requestor.httpUrl}/api/v1/finalize/${orderId}`, { ProposalID: proposalId }),
        200,
      )
      await watch.waitFor((event) => event.status === "OrderFinalised", "OrderFinalised")
    } finally {
      watch.close()
    }
    // SIGTERM: the services end their spans and flush their exporters.
    await stopStack(current)
    stack = undefined
  })

  it("links the proposal's HTTP request, the order stream, both outboxes and the buyer app in one trace", async () => {
    const spans = await receiver.waitForSpans({ traceId: proposalTraceId }, (found) =>
      found.some((span) => span.service === appService && span.name === "process BUYER_NOTIFY"),
    )
    const root = expectWholeTrace(spans, proposalTraceId)
    expect(root).toMatchObject({ service: "processor", kind: "server", name: "POST /api/v1/proposal-submissions" })
    expect(root.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/api/v1/proposal-submissions",
      "http.response.status_code": 201,
      "url.path": "/api/v1/proposal-submissions",
    })

    const consumed = only(spans, appService, "process BUYER_NOTIFY", "consumer")
    expect(consumed.attributes).toMatchObject({
      "messaging.system": "kafka",
      "messaging.destination.name": "BUYER_NOTIFY",
      "messaging.operation.type": "process",
    })
    const chain = ancestry(spans, consumed)
    const path = chain.map((span) => `${span.service}:${span.name}`)
    // From the buyer app up to the seller's request, through the requestor and the processor.
    expect(chain[1], path.join(" ← ")).toMatchObject({
      service: "requestor",
      name: "send BUYER_NOTIFY",
      kind: "producer",
    })
    expect(chain[1]?.attributes).toMatchObject({
      "messaging.system": "kafka",
      "messaging.destination.name": "BUYER_NOTIFY",
      "messaging.operation.type": "send",
    })
    const received = chain.find((span) => span.name === "receive OrderEvent")
    expect(received, path.join(" ← ")).toMatchObject({ service: "requestor", kind: "consumer" })
    expect(received?.attributes).toMatchObject({ "dcent.event.status": "NewProposal", "dcent.order_req_id": orderId })
    expect(chain.at(-1)).toBe(root)
    const services = chain.map((span) => span.service)
    expect(services.indexOf("requestor")).toBeLessThan(services.indexOf("processor"))

    // The processor's own topic message of the proposal joins the same trace.
    const sellerSide = spans.filter(
      (span) => span.service === "processor" && span.kind === "producer" && span.name.startsWith("send SELLER_"),
    )
    expect(sellerSide.length, describeSpans(spans)).toBeGreaterThan(0)
    // Effect's own spans are part of it.
    expect(spans.some((span) => span.service === "processor" && span.name === "OrderEventLog.appendAt")).toBe(true)
    // The buyer's WatchOrder delivery of the recorded event too.
    const recorded = spans.find((span) => span.service === "requestor" && span.name === "OrderEventLog.record")
    const delivered = spans.find((span) => span.service === "requestor" && span.name === "deliver OrderEvent")
    expect(recorded?.parentSpanId, describeSpans(spans)).toBe(received?.spanId)
    expect(delivered?.parentSpanId, describeSpans(spans)).toBe(recorded?.spanId)

    console.log(`proposal trace ${proposalTraceId}:\n${describeSpans(spans)}`)
  })

  it("links the initiate request to the processor's open of the order's stream through the command's trace context", async () => {
    const requestorSpans = await receiver.waitForSpans({ service: "requestor" }, (found) =>
      found.some((span) => span.name === "POST /api/v1/initiate"),
    )
    const initiate = requestorSpans.find((span) => span.name === "POST /api/v1/initiate")!
    const spans = await receiver.waitForSpans({ traceId: initiate.traceId }, (found) =>
      found.some((span) => span.service === "processor" && span.kind === "server"),
    )
    const root = expectWholeTrace(spans, initiate.traceId)
    expect(root).toMatchObject({ service: "requestor", kind: "server", name: "POST /api/v1/initiate" })
    expect(root.attributes).toMatchObject({ "http.route": "/api/v1/initiate", "http.response.status_code": 202 })

    // The order's `open` on the shard's multiplexed call (the call itself is a connection, untraced).
    const name = "dcent.orders.v1.OrderStreamingService/ProcessOrderStreams open"
    const client = only(spans, "requestor", name, "client")
    const server = only(spans, "processor", name, "server")
    expect(server.parentSpanId).toBe(client.spanId)
    expect(ancestry(spans, client).at(-1)).toBe(root)
    for (const span of [client, server]) {
      expect(span.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.service": "dcent.orders.v1.OrderStreamingService",
        "rpc.method": "ProcessOrderStreams",
        "dcent.order_req_id": expect.any(String),
      })
    }
    // The dispatch the initiate queued continues the trace: sellers selected, SELLER_NOTIFY sent,
    // and the requestor's receipt of SellersSelected with its BUYER_NOTIFY.
    const job = only(spans, "processor", "Dispatch.job")
    expect(ancestry(spans, job).at(-1)).toBe(root)
    expect(spans.some((span) => span.service === "processor" && span.name === "send SELLER_NOTIFY")).toBe(true)
    const selectedReceived = spans.find(
      (span) => span.name === "receive OrderEvent" && span.attributes["dcent.event.status"] === "SellersSelected",
    )
    expect(selectedReceived, describeSpans(spans)).toBeDefined()
    expect(ancestry(spans, selectedReceived!)).toContain(job)
    console.log(`initiate trace ${initiate.traceId}:\n${describeSpans(spans)}`)
  })

  it("records no traces of the services' own machinery (start-up, polling loops), only entry points", async () => {
    const all = [
      ...(await receiver.traces({ service: "processor" })),
      ...(await receiver.traces({ service: "requestor" })),
    ]
    const roots = all.filter((span) => span.parentSpanId === undefined)
    expect(roots.length).toBeGreaterThan(0)
    for (const root of roots) {
      const entryPoint = root.kind === "server" || root.kind === "consumer" || root.name === "Dispatch.job"
      expect(entryPoint, `root ${root.service} ${root.kind ?? "internal"} "${root.name}"`).toBe(true)
    }
  })
})
