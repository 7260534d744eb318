/**
 * The baseline of every scenario: a bare server that answers the requests the load generator
 * sends exactly where the services would, with the same bodies and the same messages, but does
 * nothing else — no Redis, no locks, no outbox, no framework. What the generator measures on it
 * is what this machine, Node and the generator can do; the services' figures are read against it.
 *
 *   POST /api/v1/sellers                   201 (the sellers are not kept)
 *   POST /api/v1/orders, /api/v1/initiate  the order in memory; initiate appends SellersSelected (seq 1)
 *   POST /api/v1/proposal-submissions      NewProposal / ProposalUpdate appended, 201 / 200 with the
 *                                          processor's body, and the same topic message produced by a
 *                                          bare Kafka producer (acks=all, idempotent: the project's config)
 *   GET  /api/v1/orders/:id/events         SSE, framed like the requestor's (resumes after Last-Event-ID)
 *   gRPC dcent.orders.v1.OrderWatchService/WatchOrder   the same `OrderEvent` messages, replay then live
 *
 * Started by `../lib/targets.ts` as a process of its own; prints `listening http=<port> grpc=<port>`.
 * BASELINE_KAFKA=host:port enables the producer (topic BASELINE_TOPIC, created at start).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { commonConfig, producerConfig, resolveKafkaOptions } from "@dcent/shared/broker/kafka-client"
import {
  OrderWatchServiceDefinition,
  type WatchOrderRequest,
} from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { type EventStatus, type OrderEventRecord, orderEventToProto } from "@dcent/shared/orders/events"
import { eventTopicMessage } from "@dcent/shared/orders/topicMessage"
import { type CallContext, createServer as createGrpcServer, ServerError, Status } from "nice-grpc"

interface Proposal {
  readonly sellerId: string
  price: number
  version: number
  readonly submittedAt: string
  updatedAt: string
  readonly currency: string
  deliveryDate: string
}

interface Order {
  readonly id: string
  readonly sessionId: string
  readonly events: Array<OrderEventRecord>
  readonly proposals: Map<string, Proposal>
  readonly watchers: Set<(record: OrderEventRecord) => void>
}

const orders = new Map<string, Order>()

// --- Kafka (optional) ------------------------------------------------------------------------------

const kafkaServers = process.env.BASELINE_KAFKA ?? ""
const topic = process.env.BASELINE_TOPIC ?? "BENCH_BASELINE"
let producer: KafkaJS.Producer | undefined
let produceErrors = 0

if (kafkaServers !== "") {
  const options = resolveKafkaOptions({ servers: kafkaServers.split(","), clientId: "bench-baseline" })
  const kafka = new KafkaJS.Kafka(commonConfig(options))
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] }).catch((error: unknown) => {
    if (!/already exists/i.test(String(error))) throw error
  })
  await admin.disconnect()
  producer = kafka.producer(producerConfig(options))
  await producer.connect()
}

// --- the event log in memory -------------------------------------------------------------------------

const append = (
  order: Order,
  status: EventStatus,
  message: string,
  extra: { proposalId?: string; details?: Record<string, string> } = {},
) => {
  const record: OrderEventRecord = {
    orderReqId: order.id,
    seq: order.events.length + 1,
    eventId: crypto.randomUUID(),
    status,
    ...(extra.proposalId === undefined ? {} : { proposalId: extra.proposalId }),
    occurredAt: new Date().toISOString(),
    message,
    details: extra.details ?? {},
  }
  order.events.push(record)
  for (const watcher of order.watchers) watcher(record)
  return record
}

const openOrder = (id: string, sessionId: string) => {
  const existing = orders.get(id)
  if (existing !== undefined) return { order: existing, created: false }
  const order: Order = { id, sessionId, events: [], proposals: new Map(), watchers: new Set() }
  orders.set(id, order)
  append(order, "SellersSelected", "sellers selected", { details: { Sellers: "baseline" } })
  return { order, created: true }
}

// --- REST ----------------------------------------------------------------------------------------------

type Json = Record<string, unknown>

const send = (response: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

const problem = (response: ServerResponse, status: number, code: string, message: string) =>
  send(response, status, { error: { code, message, details: [] } })

const readJson = async (request: IncomingMessage): Promise<Json | undefined> => {
  let text = ""
  request.setEncoding("utf8")
  for await (const chunk of request) text += chunk
  try {
    const parsed: unknown = JSON.parse(text)
    return typeof parsed === "object" && parsed !== null ? (parsed as Json) : undefined
  } catch {
    return undefined
  }
}

const submit = (body: Json, response: ServerResponse) => {
  const orderId = String(body.OrderReqID ?? body.OrderReqId ?? "")
  const sellerId = String(body.Seller ?? "")
  const offer = body.ProposalDictObj as Json | undefined
  const order = orders.get(orderId)
  if (order === undefined) return problem(response, 404, "not_found", `order ${orderId} not found`)
  if (offer === undefined || typeof offer.ProposalID !== "string" || sellerId === "")
    return problem(response, 400, "invalid_request", "ProposalDictObj.ProposalID and Seller are required")
  const proposalId = offer.ProposalID
  const price = Number(offer.Price)
  const deliveryDate = String(offer.DeliveryDate ?? "")
  const at = new Date().toISOString()
  const existing = order.proposals.get(proposalId)
  const proposal: Proposal = existing ?? {
    sellerId,
    price,
    version: 0,
    submittedAt: at,
    updatedAt: at,
    currency: String(offer.Currency ?? "EUR").toUpperCase(),
    deliveryDate,
  }
  proposal.price = price
  proposal.version += 1
  proposal.updatedAt = at
  proposal.deliveryDate = deliveryDate
  order.proposals.set(proposalId, proposal)
  const status: EventStatus = existing === undefined ? "NewProposal" : "ProposalUpdate"
  const record = append(order, status, `Proposal ${proposalId} from ${sellerId}: ${price} ${proposal.currency}`, {
    proposalId,
    details: {
      SellerID: sellerId,
      Price: String(price),
      Currency: proposal.currency,
      DeliveryDate: deliveryDate,
      Version: String(proposal.version),
    },
  })
  if (producer !== undefined) {
    const entry = eventTopicMessage(record, {
      topic,
      key: "PRP_SUBMISSION",
      sessionId: order.sessionId,
      eventId: `${record.eventId}:${sellerId}`,
    })
    producer
      .send({ topic, messages: [{ key: entry.key, value: entry.payload, headers: { ...entry.headers } }] })
      .catch(() => {
        produceErrors += 1
      })
  }
  send(response, existing === undefined ? 201 : 200, {
    Message: existing === undefined ? "Proposal Submitted" : "Proposal Updated",
    Outcome: existing === undefined ? "created" : "updated",
    Seq: record.seq,
    Proposal: {
      ProposalID: proposalId,
      OrderReqID: orderId,
      SellerID: sellerId,
      Price: price,
      Currency: proposal.currency,
      DeliveryDate: deliveryDate,
      Status: "SUBMITTED",
      Version: proposal.version,
      SubmittedAt: proposal.submittedAt,
      UpdatedAt: at,
      QueuedFollowUps: 0,
      Notes: [],
    },
  })
}

const sseFrame = (record: OrderEventRecord) =>
  `id: ${record.seq}\nevent: ${record.status}\ndata: ${JSON.stringify({
    OrderReqID: record.orderReqId,
    Seq: record.seq,
    EventID: record.eventId,
    Status: record.status,
    ...(record.proposalId === undefined ? {} : { ProposalID: record.proposalId }),
    OccurredAt: record.occurredAt,
    Message: record.message,
    Details: record.details,
  })}\n\n`

const events = (request: IncomingMessage, response: ServerResponse, orderId: string, query: URLSearchParams) => {
  const order = orders.get(orderId)
  if (order === undefined) return problem(response, 404, "not_found", `order ${orderId} not found`)
  const after = Number(request.headers["last-event-id"] ?? query.get("from_seq") ?? 0) || 0
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  for (const record of order.events.slice(after)) response.write(sseFrame(record))
  const watcher = (record: OrderEventRecord) => response.write(sseFrame(record))
  const heartbeat = setInterval(() => response.write(": keep-alive\n\n"), 15_000)
  order.watchers.add(watcher)
  request.once("close", () => {
    clearInterval(heartbeat)
    order.watchers.delete(watcher)
  })
}

const handle = async (request: IncomingMessage, response: ServerResponse) => {
  const url = new URL(request.url ?? "/", "http://baseline")
  const path = url.pathname
  if (request.method === "GET" && (path === "/healthz" || path === "/readyz")) return send(response, 200, { ok: true })
  const watch = /^\/api\/v1\/orders\/([^/]+)\/events$/.exec(path)
  if (request.method === "GET" && watch !== null)
    return events(request, response, decodeURIComponent(watch[1] ?? ""), url.searchParams)
  if (request.method !== "POST") return problem(response, 404, "not_found", `no route ${request.method} ${path}`)
  const body = await readJson(request)
  if (body === undefined) return problem(response, 400, "invalid_request", "the body is not a JSON object")
  switch (path) {
    case "/api/v1/proposal-submissions":
      return submit(body, response)
    case "/api/v1/sellers":
      return send(response, 201, { Created: Array.isArray(body) ? body.length : 1, Updated: 0 })
    case "/api/v1/orders":
    case "/api/v1/initiate": {
      const orderId = String(body.OrderReqID ?? body.OrderReqId ?? "")
      if (orderId === "") return problem(response, 400, "invalid_request", "OrderReqID is required")
      const { created } = openOrder(orderId, String(body.SessionID ?? ""))
      return send(response, path === "/api/v1/orders" ? 201 : created ? 202 : 200, {
        Outcome: created ? "accepted" : "already_live",
        Order: { OrderReqID: orderId, Status: "SUBMITTED" },
        Watch: { sse: `/api/v1/orders/${orderId}/events` },
      })
    }
    default:
      return problem(response, 404, "not_found", `no route POST ${path}`)
  }
}

const http = createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  handle(request, response).catch((error: unknown) => {
    if (!response.headersSent) problem(response, 500, "internal", String(error))
  })
})

// --- gRPC ------------------------------------------------------------------------------------------------

async function* watchOrder(request: WatchOrderRequest, context: CallContext) {
  const order = orders.get(request.orderReqId)
  if (order === undefined) throw new ServerError(Status.NOT_FOUND, `order ${request.orderReqId} not found`)
  const queue = order.events.slice(request.fromSeq)
  let wake: (() => void) | undefined
  const watcher = (record: OrderEventRecord) => {
    queue.push(record)
    wake?.()
  }
  const onAbort = () => wake?.()
  order.watchers.add(watcher)
  context.signal.addEventListener("abort", onAbort)
  try {
    while (!context.signal.aborted) {
      let record = queue.shift()
      while (record !== undefined) {
        yield { event: orderEventToProto(record) }
        record = queue.shift()
      }
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      wake = undefined
    }
  } finally {
    order.watchers.delete(watcher)
    context.signal.removeEventListener("abort", onAbort)
  }
}

const grpc = createGrpcServer()
grpc.add(OrderWatchServiceDefinition, { watchOrder })

const grpcPort = await grpc.listen("127.0.0.1:0")
await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
process.stdout.write(`listening http=${(http.address() as AddressInfo).port} grpc=${grpcPort}\n`)

const shutdown = async () => {
  grpc.forceShutdown()
  http.closeAllConnections()
  http.close()
  await producer?.disconnect().catch(() => {})
  if (produceErrors > 0) process.stderr.write(`baseline: ${produceErrors} produce errors\n`)
  process.exit(0)
}
process.once("SIGTERM", () => void shutdown())
process.once("SIGINT", () => void shutdown())
