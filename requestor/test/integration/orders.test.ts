/**
 * The requestor as a real process against the real Kafka and Redis, with a fake processor gRPC
 * server in the test process: register/initiate (one stream per order, idempotent re-initiate),
 * events recorded exactly once and visible through GET, SSE and WatchOrder in order, reconnects
 * that resume from the last recorded seq, follow-up/pause/resume/finalise with their error
 * mapping, the topics (BUYER_ACKNOWLEDGEMENTS, BUYER_NOTIFY, BUYER_FOLLOWUP, REQ_failures, also for
 * requests refused by validation or sent without a JSON content type), unary calls that wait for
 * a restarted processor, and a restart that resumes every live order.
 */
import { Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { liveOrdersKeyFor, orderKey, requestorPrefix } from "../../../test/support/redisKeys.ts"
import {
  cleanOrders,
  dropStaleLiveOrders,
  eventually,
  get,
  post,
  put,
  readSse,
  request,
  startTestRequestor,
  type TestRequestor,
  type TopicWatcher,
  testRedis,
  uniqueId,
  watchOrder,
  watchTopics,
} from "../support/clients.ts"
import { type FakeProcessor, startFakeProcessor } from "../support/fakeProcessor.ts"

const run = uniqueId("orders")
const id = (label: string) => `${run}-${label}`
const created: Array<string> = []
const track = (orderReqId: string) => {
  created.push(orderReqId)
  return orderReqId
}

const details = (orderReqId: string) => ({
  OrderReqID: orderReqId,
  BuyerID: "BUYER-1",
  Industry: "Electronics",
  Location: [77.5946, 12.9716],
  Products: [{ Name: "LED panel", Quantity: "50", Unit: "pcs" }],
  DeliveryDate: "2024-01-15",
  Priority: "high",
})

let fake: FakeProcessor
let requestor: TestRequestor
let topics: TopicWatcher
let api: string

const lastSeqOf = async (orderReqId: string) => (await get(`${api}/api/v1/orders/${orderReqId}`)).body.LastSeq as number

const waitForSeq = (orderReqId: string, seq: number) =>
  eventually(
    () => lastSeqOf(orderReqId),
    (last) => last >= seq,
    { what: `${orderReqId} at seq ${seq}` },
  )

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The sorted `details[].path` of an error body. */
const problemPaths = (response: { readonly body: AnyErrorBody }) =>
  response.body.error.details.map((detail: { path: string }) => detail.path).sort()
// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type AnyErrorBody = any

/** This run's REQ_failures messages of `orderReqId`, once there are at least `count`. */
const failuresOf = (orderReqId: string, count = 1) =>
  eventually(
    async () => topics.messages("REQ_failures", orderReqId),
    (messages) => messages.length >= count,
    { what: `${count} REQ_failures message(s) of ${orderReqId}` },
  )

const initiated = async (label: string) => {
  const orderReqId = track(id(label))
  expect((await post(`${api}/api/v1/orders`, details(orderReqId))).status).toBe(201)
  const response = await post(`${api}/api/v1/initiate`, {
    OrderReqId: orderReqId,
    SessionID: `SESSION-${label}`,
    "Notification type": "GChat",
  })
  expect(response.status, JSON.stringify(response.body)).toBe(202)
  await eventually(
    async () => fake.openStreams(orderReqId),
    (n) => n === 1,
    { what: "the order stream" },
  )
  return orderReqId
}

beforeAll(async () => {
  // Orders left live by an interrupted earlier run would be resumed against this fake.
  await dropStaleLiveOrders()
  fake = await startFakeProcessor()
  topics = await watchTopics(run)
  requestor = await startTestRequestor(fake.address)
  api = requestor.httpUrl
})

afterAll(async () => {
  await requestor?.stop()
  await topics?.close()
  await fake?.close()
  await cleanOrders(created)
})

describe("registering and initiating", () => {
  it("answers initiate of an unknown order without details 404 naming both fixes, and publishes REQ_failures", async () => {
    const orderReqId = track(id("unknown"))
    const response = await post(`${api}/api/v1/initiate`, {
      OrderReqId: orderReqId,
      SessionID: "SESSION-X",
      "Notification type": "GChat",
    })
    expect(response.status).toBe(404)
    expect(response.body.error.code).toBe("order_not_found")
    expect(response.body.error.message).toContain("POST /api/v1/orders")
    expect(response.body.error.message).toContain("inline")
    const failure = await eventually(
      async () => topics.messages("REQ_failures", orderReqId),
      (messages) => messages.length === 1,
      { what: "REQ_failures" },
    )
    expect(failure[0]?.headers["event-type"]).toBe("ORD_SUBMISSION")
    expect(failure[0]?.payload).toMatchObject({
      OrderReqID: orderReqId,
      SessionID: "SESSION-X",
      Key: "ORD_SUBMISSION",
      Operation: "initiate",
      Reason: "order_not_found",
      HttpStatus: 404,
      Request: { OrderReqId: orderReqId, SessionID: "SESSION-X", "Notification type": "GChat" },
    })
    expect(fake.callsFor(orderReqId)).toEqual([])
  })

  it("registers (201), repeats idempotently (200), and shows the registered order", async () => {
    const orderReqId = track(id("reg"))
    const first = await post(`${api}/api/v1/orders`, details(orderReqId))
    expect(first.status).toBe(201)
    expect(first.body.Order).toMatchObject({
      OrderReqID: orderReqId,
      Status: "REGISTERED",
      Location: { Lat: 12.9716, Lng: 77.5946 },
      Products: [{ Name: "LED panel", Quantity: 50, Unit: "pcs", Attributes: {} }],
      Priority: "HIGH",
      DeliveryDate: "2024-01-15",
      LastSeq: 0,
    })
    const again = await post(`${api}/api/v1/orders`, details(orderReqId))
    expect([again.status, again.body.Outcome]).toEqual([200, "unchanged"])
    const changed = await post(`${api}/api/v1/orders`, { ...details(orderReqId), Industry: "Textiles" })
    expect([changed.status, changed.body.Outcome, changed.body.Order.Industry]).toEqual([200, "updated", "Textiles"])
    const view = await get(`${api}/api/v1/orders/${orderReqId}`)
    expect([view.status, view.body.Status, view.body.Industry]).toEqual([200, "REGISTERED", "Textiles"])
  })

  it("answers 400 with field paths for bad bodies, never 500", async () => {
    const bad = await post(`${api}/api/v1/orders`, {
      ...details(id("bad")),
      Location: { Lat: 91, Lng: "east" },
      Products: [{ Name: "x", Quantity: 0 }],
      DeliveryDate: "2025-02-30",
    })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe("invalid_request")
    expect(bad.body.error.details.map((detail: { path: string }) => detail.path)).toEqual([
      "body.Location.Lat",
      "body.Location.Lng",
      "body.Products[0].Quantity",
      "body.DeliveryDate",
    ])
    const initiate = await post(`${api}/api/v1/initiate`, { OrderReqId: "ORD 1", "Notification type": "Fax" })
    expect(initiate.status).toBe(400)
    expect(initiate.body.error.details.map((detail: { path: string }) => detail.path)).toEqual([
      "body.OrderReqId",
      "body.SessionID",
      "body.Notification type",
    ])
    const partial = await post(`${api}/api/v1/initiate`, { OrderReqID: id("partial"), SessionID: "S", Industry: "x" })
    expect(partial.status).toBe(400)
    expect(partial.body.error.details.map((detail: { path: string }) => detail.path)).toEqual([
      "body.BuyerID",
      "body.Location",
      "body.Products",
      "body.DeliveryDate",
    ])
    const followUp = await post(`${api}/api/v1/followup`, {
      OrderReqID: "ORD-1",
      Audience: ["P"],
      Message: { content: { MessageType: "video", Message: "" } },
    })
    expect(followUp.status).toBe(400)
    expect(followUp.body.error.details.map((detail: { path: string }) => detail.path)).toEqual([
      "body.Message.content.MessageType",
      "body.Message.content.Message",
    ])
    for (const [method, path, raw] of [
      ["POST", "/api/v1/initiate", "{not json"],
      ["POST", "/api/v1/followup", "[]"],
      ["PUT", `/api/v1/pause/${id("x")}`, "42"],
      ["POST", "/api/v1/orders", "null"],
    ] as const) {
      const response = await request(method, `${api}${path}`, undefined, { raw })
      expect(response.status, `${method} ${path} ${raw}`).toBe(400)
      expect(response.body.error.code).toBe("invalid_request")
    }
    const badPath = await get(`${api}/api/v1/orders/${encodeURIComponent("ORD 1")}`)
    expect([badPath.status, badPath.body.error.details[0]?.path]).toEqual([400, "path.OrderReqID"])
    const badSeq = await get(`${api}/api/v1/orders/ORD-1/events?from_seq=-1`)
    expect([badSeq.status, badSeq.body.error.details[0]?.path]).toEqual([400, "query.from_seq"])
  })

  it("initiates once: 202 + acknowledgement + one stream with the details; re-initiate is 200 with no second stream", async () => {
    const orderReqId = track(id("init"))
    expect((await post(`${api}/api/v1/orders`, details(orderReqId))).status).toBe(201)
    const body = { OrderReqId: orderReqId, SessionID: "SESSION-123", "Notification type": "GChat" }
    const first = await post(`${api}/api/v1/initiate`, body)
    expect(first.status).toBe(202)
    expect(first.body).toMatchObject({
      Outcome: "submitted",
      Message: "Order Submitted",
      Order: { OrderReqID: orderReqId, Status: "SUBMITTED", SessionID: "SESSION-123", NotificationType: "GChat" },
      Watch: {
        Events: `/api/v1/orders/${orderReqId}/events`,
        Grpc: {
          Service: "dcent.orders.v1.OrderWatchService",
          Method: "WatchOrder",
          Port: Number(requestor.grpcAddress.split(":")[1]),
        },
      },
    })
    await eventually(
      async () => fake.openStreams(orderReqId),
      (n) => n === 1,
      { what: "the order stream" },
    )
    const [call] = fake.callsFor(orderReqId)
    expect(call?.fromSeq).toBe(0)
    expect(call?.request).toMatchObject({
      orderReqId,
      sessionId: "SESSION-123",
      buyerId: "BUYER-1",
      notificationType: "GChat",
      industry: "Electronics",
      location: { lat: 12.9716, lng: 77.5946 },
      priority: 1,
      products: [{ name: "LED panel", quantity: 50, unit: "pcs" }],
      deliveryDate: "2024-01-15",
    })

    const again = await Promise.all([post(`${api}/api/v1/initiate`, body), post(`${api}/api/v1/initiate`, body)])
    expect(again.map((response) => [response.status, response.body.Outcome])).toEqual([
      [200, "already_submitted"],
      [200, "already_submitted"],
    ])
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fake.callsFor(orderReqId)).toHaveLength(1)
    expect(fake.openStreams(orderReqId)).toBe(1)

    const acks = await eventually(
      async () => topics.messages("BUYER_ACKNOWLEDGEMENTS", orderReqId),
      (messages) => messages.length >= 1,
      { what: "BUYER_ACKNOWLEDGEMENTS" },
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(topics.messages("BUYER_ACKNOWLEDGEMENTS", orderReqId)).toHaveLength(1)
    expect(acks[0]?.headers).toMatchObject({ "event-type": "ORD_SUBMISSION", "content-type": "application/json" })
    expect(acks[0]?.payload).toMatchObject({
      OrderReqID: orderReqId,
      SessionID: "SESSION-123",
      Key: "ORD_SUBMISSION",
      Message: "Order Submitted",
      Status: "SUBMITTED",
    })
    expect(acks[0]?.payload.EventID).toEqual(acks[0]?.headers["event-id"])

    const redis = await testRedis()
    expect(await redis.sismember(liveOrdersKeyFor(requestorPrefix, orderReqId), orderReqId)).toBe(1)
    expect(await redis.hget(orderKey(requestorPrefix, orderReqId), "status")).toBe("SUBMITTED")
    redis.disconnect()
  })

  it("initiates an order sent inline (no registration)", async () => {
    const orderReqId = track(id("inline"))
    const { OrderReqID: _, ...inline } = details(orderReqId)
    const response = await post(`${api}/api/v1/initiate`, {
      OrderReqID: orderReqId,
      SessionID: "S-inline",
      NotificationType: "Email",
      ...inline,
    })
    expect(response.status).toBe(202)
    expect(response.body.Order).toMatchObject({
      Status: "SUBMITTED",
      NotificationType: "Email",
      Industry: "Electronics",
    })
    await eventually(
      async () => fake.openStreams(orderReqId),
      (n) => n === 1,
      { what: "the order stream" },
    )
  })
})

describe("events", () => {
  it("are recorded once and visible through GET, SSE and WatchOrder in order, with BUYER_NOTIFY", async () => {
    const orderReqId = await initiated("events")
    const sellers = JSON.stringify([
      { SellerID: "SELLER-001", Name: "Acme", DistanceKm: 1.2, DistanceSource: "straight_line" },
    ])
    fake.emit(orderReqId, "SellersSelected", {
      details: { Count: "1", Sellers: sellers, ExpiresAt: "2030-01-01T00:30:00.000Z" },
    })
    fake.emit(orderReqId, "NewProposal", {
      proposalId: "PROP-001",
      details: { SellerID: "SELLER-001", Price: "1000", Currency: "INR", DeliveryDate: "2025-11-01", Version: "1" },
    })
    fake.emit(orderReqId, "SellerFollowUp", {
      proposalId: "PROP-001",
      followUpId: "F-S1",
      details: { SellerID: "SELLER-001", MessageType: "text", Text: "Delivery in 3 days", URLs: "[]" },
    })
    await waitForSeq(orderReqId, 3)

    const view = (await get(`${api}/api/v1/orders/${orderReqId}`)).body
    expect(view).toMatchObject({
      Status: "SUBMITTED",
      ExpiresAt: "2030-01-01T00:30:00.000Z",
      SelectedSellers: [{ SellerID: "SELLER-001", Name: "Acme", DistanceKm: 1.2, DistanceSource: "straight_line" }],
      Proposals: [
        {
          ProposalID: "PROP-001",
          SellerID: "SELLER-001",
          Price: 1000,
          Currency: "INR",
          Status: "SUBMITTED",
          Version: 1,
          Notes: [{ FollowUpID: "F-S1", Message: "Delivery in 3 days" }],
        },
      ],
      LastSeq: 3,
    })

    const sse = await readSse(`${api}/api/v1/orders/${orderReqId}/events`, { count: 3 })
    expect(sse.status).toBe(200)
    expect(sse.contentType).toMatch(/^text\/event-stream/)
    expect(sse.events.map((event) => [event.id, event.event, event.data.Seq, event.data.Status])).toEqual([
      ["1", "SellersSelected", 1, "SellersSelected"],
      ["2", "NewProposal", 2, "NewProposal"],
      ["3", "SellerFollowUp", 3, "SellerFollowUp"],
    ])
    expect(sse.events[1]?.data).toMatchObject({
      OrderReqID: orderReqId,
      EventID: `${orderReqId}-evt-2`,
      ProposalID: "PROP-001",
      Details: { Price: "1000" },
    })

    const watched = await watchOrder(requestor.grpcAddress, orderReqId, 1, { count: 2 })
    expect(watched.events.map((event) => [event.seq, event.status])).toEqual([
      [2, "NewProposal"],
      [3, "SellerFollowUp"],
    ])

    const notify = await eventually(
      async () => topics.messages("BUYER_NOTIFY", orderReqId),
      (messages) => messages.length >= 2,
      { what: "BUYER_NOTIFY" },
    )
    expect(
      notify.map((message) => [message.payload.Seq, message.payload.Status, message.headers["event-type"]]),
    ).toEqual([
      [1, "SellersSelected", "ORD_UPDATES"],
      [2, "NewProposal", "ORD_UPDATES"],
    ])
    expect(notify[1]?.payload).toMatchObject({ SessionID: "SESSION-events", ProposalID: "PROP-001", Price: "1000" })
    const followUps = await eventually(
      async () => topics.messages("BUYER_FOLLOWUP", orderReqId),
      (messages) => messages.length >= 1,
      { what: "BUYER_FOLLOWUP" },
    )
    expect(followUps[0]?.payload).toMatchObject({
      Seq: 3,
      Status: "SellerFollowUp",
      Key: "ORD_UPDATES",
      Text: "Delivery in 3 days",
    })
  })

  it("SSE and WatchOrder deliver live events, SSE resumes with Last-Event-ID (header wins over from_seq) and sends heartbeats", async () => {
    const orderReqId = await initiated("live")
    fake.emit(orderReqId, "SellersSelected", { details: { Sellers: "[]" } })
    await waitForSeq(orderReqId, 1)
    const sse = readSse(`${api}/api/v1/orders/${orderReqId}/events?from_seq=0`, {
      count: 2,
      headers: { "last-event-id": "1" },
      timeoutMs: 8_000,
    })
    const grpc = watchOrder(requestor.grpcAddress, orderReqId, 1, { count: 2, timeoutMs: 8_000 })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1", details: { SellerID: "S", Price: "5" } })
    fake.emit(orderReqId, "EditLock", { proposalId: "P-1", details: { ExpiresAt: "2030-01-01T00:00:00.000Z" } })
    const [sseResult, grpcResult] = await Promise.all([sse, grpc])
    expect(sseResult.events.map((event) => event.id)).toEqual(["2", "3"])
    expect(sseResult.comments).toContain("keep-alive")
    expect(grpcResult.events.map((event) => [event.seq, event.status])).toEqual([
      [2, "NewProposal"],
      [3, "EditLock"],
    ])
  })

  it("reconnect after the processor breaks the stream resumes from the last recorded seq: no gap, no duplicate", async () => {
    const orderReqId = await initiated("reconnect")
    fake.emit(orderReqId, "SellersSelected", { details: { Sellers: "[]" } })
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1", details: { Price: "10" } })
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-2", details: { Price: "20" } })
    await waitForSeq(orderReqId, 3)
    const sse = readSse(`${api}/api/v1/orders/${orderReqId}/events`, { count: 6, timeoutMs: 20_000 })

    // A sloppy server: every reconnect also replays the last two events.
    fake.replayOverlap = 2
    try {
      fake.breakStreams(orderReqId)
      // Emitted while the requestor is reconnecting.
      fake.emit(orderReqId, "ProposalUpdate", { proposalId: "P-1", details: { Price: "9", Version: "2" } })
      await eventually(
        async () => fake.callsFor(orderReqId).length,
        (n) => n >= 2,
        { what: "a reconnect" },
      )
      fake.emit(orderReqId, "EditLock", { proposalId: "P-2" })
      fake.emit(orderReqId, "EditUnlock", { proposalId: "P-2" })
      await waitForSeq(orderReqId, 6)
    } finally {
      fake.replayOverlap = 0
    }

    const calls = fake.callsFor(orderReqId)
    expect(calls[0]?.fromSeq).toBe(0)
    expect(calls[1]?.fromSeq).toBe(3)
    expect(fake.openStreams(orderReqId)).toBe(1)

    const events = (await sse).events
    expect(events.map((event) => Number(event.id))).toEqual([1, 2, 3, 4, 5, 6])
    expect(events.map((event) => event.data.EventID)).toEqual(
      [1, 2, 3, 4, 5, 6].map((seq) => `${orderReqId}-evt-${seq}`),
    )
    const watched = await watchOrder(requestor.grpcAddress, orderReqId, 0, { count: 6 })
    expect(watched.events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6])
    const view = (await get(`${api}/api/v1/orders/${orderReqId}`)).body
    expect(
      view.Proposals.map((proposal: { ProposalID: string; Price: number; Status: string }) => [
        proposal.ProposalID,
        proposal.Price,
        proposal.Status,
      ]),
    ).toEqual([
      ["P-1", 9, "SUBMITTED"],
      ["P-2", 20, "SUBMITTED"],
    ])
    const notify = await eventually(
      async () => topics.messages("BUYER_NOTIFY", orderReqId),
      (messages) => messages.length >= 6,
      { what: "six BUYER_NOTIFY messages" },
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(topics.messages("BUYER_NOTIFY", orderReqId).map((message) => message.payload.Seq)).toEqual([
      1, 2, 3, 4, 5, 6,
    ])
    expect(notify).toHaveLength(6)
  })

  it("reconnects with backoff while the processor refuses the stream", async () => {
    const orderReqId = await initiated("refused")
    fake.emit(orderReqId, "SellersSelected", { details: { Sellers: "[]" } })
    await waitForSeq(orderReqId, 1)
    // Two breaks in a row without progress: the holder keeps coming back from seq 1.
    fake.breakStreams(orderReqId)
    await eventually(
      async () => fake.callsFor(orderReqId).length,
      (n) => n >= 2,
      { what: "a reconnect" },
    )
    fake.breakStreams(orderReqId)
    await eventually(
      async () => fake.callsFor(orderReqId).length,
      (n) => n >= 3,
      { what: "another reconnect" },
    )
    expect(fake.callsFor(orderReqId).map((call) => call.fromSeq)).toEqual([0, 1, 1])
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1" })
    await waitForSeq(orderReqId, 2)
  })
})

describe("follow-ups", () => {
  it("forward the seed README's body (nested Message, no TransactionUUID) and are idempotent by TransactionUUID", async () => {
    const orderReqId = await initiated("followup")
    fake.emit(orderReqId, "NewProposal", { proposalId: "PROP-001", details: { SellerID: "SELLER-001", Price: "1000" } })
    await waitForSeq(orderReqId, 1)
    const seedBody = {
      OrderReqID: orderReqId,
      Audience: ["PROP-001"],
      Message: { content: { URLs: [], MessageType: "text", Message: "Please clarify delivery terms" } },
    }
    const response = await post(`${api}/api/v1/followup`, seedBody)
    expect(response.status, JSON.stringify(response.body)).toBe(200)
    expect(response.body).toMatchObject({
      OrderReqID: orderReqId,
      FollowUpID: "F-2",
      Seq: 2,
      Duplicate: false,
      Results: [{ ProposalID: "PROP-001", Outcome: "DELIVERED", Seq: 2 }],
    })
    expect(response.body.TransactionUUID).toMatch(/^[0-9a-f-]{36}$/)
    const call = fake.unaryCalls.find(
      (entry) =>
        entry.method === "ProcessFollowUp" && (entry.request as { orderReqId: string }).orderReqId === orderReqId,
    )
    expect(call?.request).toMatchObject({
      audienceProposalIds: ["PROP-001"],
      message: { urls: [], messageType: "text", text: "Please clarify delivery terms" },
    })
    // The event is recorded before the answer, so GET shows the note right away.
    const view = (await get(`${api}/api/v1/orders/${orderReqId}`)).body
    expect(view.Notes).toEqual([
      expect.objectContaining({ FollowUpID: "F-2", Message: "Please clarify delivery terms", Audience: ["PROP-001"] }),
    ])

    const keyed = { ...seedBody, TransactionUUID: `tx-${run}` }
    const first = await post(`${api}/api/v1/followup`, keyed)
    const repeat = await post(`${api}/api/v1/followup`, keyed)
    expect([first.status, repeat.status]).toEqual([200, 200])
    expect(repeat.body).toEqual({ ...first.body, Duplicate: true })
    const reused = await post(`${api}/api/v1/followup`, { ...keyed, Message: "something else" })
    expect([reused.status, reused.body.error.code]).toEqual([409, "transaction_uuid_reused"])
  })

  it("to an edit-locked proposal is answered EDIT_LOCK and delivered after the unlock", async () => {
    const orderReqId = await initiated("followup-lock")
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1", details: { SellerID: "S-1" } })
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-2", details: { SellerID: "S-2" } })
    fake.emit(orderReqId, "EditLock", { proposalId: "P-2", details: { ExpiresAt: "2030-01-01T00:00:00.000Z" } })
    await waitForSeq(orderReqId, 3)
    const response = await post(`${api}/api/v1/followup`, {
      OrderReqID: orderReqId,
      Audience: ["P-1", "P-2"],
      Message: { URLs: ["https://example.com/drawing.pdf"], MessageType: "text", Message: "See the drawing" },
    })
    expect(response.status).toBe(200)
    expect(response.body.Results).toEqual([
      { ProposalID: "P-1", Outcome: "DELIVERED", Seq: 4 },
      { ProposalID: "P-2", Outcome: "EDIT_LOCK", Seq: 0 },
    ])
    let view = (await get(`${api}/api/v1/orders/${orderReqId}`)).body
    expect(view.Notes).toEqual([
      expect.objectContaining({ Audience: ["P-1"], URLs: ["https://example.com/drawing.pdf"] }),
    ])
    expect(view.Proposals[1]).toMatchObject({
      ProposalID: "P-2",
      Status: "EDITLOCK",
      EditLockExpiresAt: "2030-01-01T00:00:00.000Z",
    })

    fake.emit(orderReqId, "EditUnlock", { proposalId: "P-2" })
    await waitForSeq(orderReqId, 6)
    view = (await get(`${api}/api/v1/orders/${orderReqId}`)).body
    expect(view.Notes).toEqual([expect.objectContaining({ Audience: ["P-1", "P-2"], Message: "See the drawing" })])
    expect(view.Proposals[1]).toMatchObject({ ProposalID: "P-2", Status: "SUBMITTED" })
  })

  it("map processor failures: 404 proposal, 400 invalid, 503 with Retry-After — each published to REQ_failures", async () => {
    const orderReqId = await initiated("followup-fail")
    const unknownProposal = await post(`${api}/api/v1/followup`, {
      OrderReqID: orderReqId,
      Audience: ["PROP-404"],
      Message: "hello",
    })
    expect(unknownProposal.status).toBe(404)
    expect(unknownProposal.body.error).toMatchObject({
      code: "proposal_not_found",
      message: "proposal PROP-404 not found",
    })

    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1" })
    await waitForSeq(orderReqId, 1)
    const invalid = await post(`${api}/api/v1/followup`, {
      OrderReqID: orderReqId,
      Audience: ["P-1"],
      Message: "INVALID",
    })
    expect([invalid.status, invalid.body.error.code]).toEqual([400, "invalid_request"])

    fake.unavailable = true
    try {
      const down = await post(`${api}/api/v1/followup`, { OrderReqID: orderReqId, Audience: ["P-1"], Message: "hi" })
      expect(down.status).toBe(503)
      expect(down.headers.get("retry-after")).toMatch(/^\d+$/)
      expect(down.body.error.details[0]?.path).toBe("processor")
    } finally {
      fake.unavailable = false
    }

    const failures = await eventually(
      async () => topics.messages("REQ_failures", orderReqId),
      (messages) => messages.length >= 3,
      { what: "three REQ_failures" },
    )
    expect(
      failures.map((message) => [
        message.headers["event-type"],
        message.payload.Operation,
        message.payload.Reason,
        message.payload.HttpStatus,
      ]),
    ).toEqual([
      ["ORD_UPDATES", "followup", "proposal_not_found", 404],
      ["ORD_UPDATES", "followup", "invalid_request", 400],
      ["ORD_UPDATES", "followup", "unavailable", 503],
    ])
    expect(failures[0]?.payload).toMatchObject({
      OrderReqID: orderReqId,
      SessionID: "SESSION-followup-fail",
      Request: { OrderReqID: orderReqId, Audience: ["PROP-404"], Message: "hello" },
    })
  })
})

describe("pause, resume, finalise", () => {
  it("walk the order through PAUSED and back to FINALISED; the stream ends after OrderFinalised", async () => {
    const orderReqId = await initiated("lifecycle")
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1", details: { SellerID: "S-1", Price: "100" } })
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-2", details: { SellerID: "S-2", Price: "90" } })
    await waitForSeq(orderReqId, 2)
    const sse = readSse(`${api}/api/v1/orders/${orderReqId}/events?from_seq=2`, { timeoutMs: 20_000 })
    const grpc = watchOrder(requestor.grpcAddress, orderReqId, 2, { timeoutMs: 20_000 })

    const paused = await put(`${api}/api/v1/pause/${orderReqId}`, { Reason: "budget review" })
    expect(paused.status, JSON.stringify(paused.body)).toBe(200)
    expect(paused.body).toMatchObject({ OrderReqID: orderReqId, Status: "PAUSED", Seq: 3 })
    expect((await get(`${api}/api/v1/orders/${orderReqId}`)).body).toMatchObject({
      Status: "PAUSED",
      PausedReason: "buyer",
      PausedNote: "budget review",
    })
    const again = await put(`${api}/api/v1/pause/${orderReqId}`)
    expect([again.status, again.body.error.code]).toEqual([409, "order_paused"])

    const resumed = await request("PUT", `${api}/api/v1/resume/${orderReqId}`, undefined, { raw: "" })
    expect([resumed.status, resumed.body.Status, resumed.body.Seq]).toEqual([200, "SUBMITTED", 4])
    expect((await get(`${api}/api/v1/orders/${orderReqId}`)).body.Status).toBe("SUBMITTED")
    const notPaused = await put(`${api}/api/v1/resume/${orderReqId}`, {})
    expect([notPaused.status, notPaused.body.error.code]).toEqual([409, "order_not_paused"])

    const missingProposal = await put(`${api}/api/v1/finalize/${orderReqId}`, { ProposalID: "P-404" })
    expect([missingProposal.status, missingProposal.body.error.code]).toEqual([404, "proposal_not_found"])
    const finalised = await put(`${api}/api/v1/finalize/${orderReqId}`, { ProposalID: "P-1" })
    expect(finalised.status, JSON.stringify(finalised.body)).toBe(200)
    expect(finalised.body).toMatchObject({ Status: "FINALISED", Seq: 7 })
    expect(fake.unaryCalls.at(-1)?.request).toMatchObject({ orderReqId, proposalId: "P-1" })

    const view = (await get(`${api}/api/v1/orders/${orderReqId}`)).body
    expect(view).toMatchObject({ Status: "FINALISED", AcceptedProposalID: "P-1", LastSeq: 7 })
    expect(view.Proposals.map((proposal: { Status: string }) => proposal.Status)).toEqual(["ACCEPTED", "CLOSED"])

    const [sseResult, grpcResult] = await Promise.all([sse, grpc])
    expect(sseResult.ended).toBe(true)
    expect(sseResult.events.map((event) => event.event)).toEqual([
      "OrderPaused",
      "OrderResumed",
      "ProposalAccepted",
      "ProposalClosed",
      "OrderFinalised",
    ])
    expect(grpcResult.ended).toBe(true)
    expect(grpcResult.events.map((event) => event.seq)).toEqual([3, 4, 5, 6, 7])

    // The holder stopped: the processor's stream was closed and the order is no longer live.
    await eventually(
      async () => fake.openStreams(orderReqId),
      (n) => n === 0,
      { what: "the stream to close" },
    )
    const redis = await testRedis()
    expect(await redis.sismember(liveOrdersKeyFor(requestorPrefix, orderReqId), orderReqId)).toBe(0)
    redis.disconnect()

    // Finalised and fully seen: SSE says 204 (EventSource stops), WatchOrder ends at once.
    const done = await readSse(`${api}/api/v1/orders/${orderReqId}/events`, { headers: { "last-event-id": "7" } })
    expect(done.status).toBe(204)
    const replay = await watchOrder(requestor.grpcAddress, orderReqId, 5, { timeoutMs: 5_000 })
    expect([replay.ended, replay.events.map((event) => event.seq)]).toEqual([true, [6, 7]])

    const reinitiate = await post(`${api}/api/v1/initiate`, {
      OrderReqID: orderReqId,
      SessionID: "S",
      NotificationType: "SMS",
    })
    expect([reinitiate.status, reinitiate.body.error.code]).toEqual([409, "order_finalised"])
    const finaliseAgain = await put(`${api}/api/v1/finalize/${orderReqId}`)
    expect([finaliseAgain.status, finaliseAgain.body.error.code]).toEqual([409, "order_finalised"])

    const notify = await eventually(
      async () => topics.messages("BUYER_NOTIFY", orderReqId),
      (messages) => messages.some((message) => message.payload.Status === "OrderFinalised"),
      { what: "OrderFinalised on BUYER_NOTIFY" },
    )
    expect(notify.map((message) => message.payload.Status)).toEqual([
      "NewProposal",
      "NewProposal",
      "OrderPaused",
      "OrderResumed",
      "ProposalAccepted",
      "ProposalClosed",
      "OrderFinalised",
    ])
  })

  it("answer 404 for unknown orders and 409 for orders not initiated; 503 when the processor is down", async () => {
    const unknown = id("nope")
    for (const response of [
      await put(`${api}/api/v1/pause/${unknown}`),
      await put(`${api}/api/v1/resume/${unknown}`),
      await put(`${api}/api/v1/finalize/${unknown}`, { ProposalID: "P" }),
      await post(`${api}/api/v1/followup`, { OrderReqID: unknown, Audience: ["P"], Message: "x" }),
      await get(`${api}/api/v1/orders/${unknown}`),
      await get(`${api}/api/v1/orders/${unknown}/events`),
    ]) {
      expect([response.status, response.body.error.code]).toEqual([404, "order_not_found"])
    }
    const watched = await watchOrder(requestor.grpcAddress, unknown, 0)
    expect((watched.error as { code?: number }).code).toBe(Status.NOT_FOUND)
    const empty = await watchOrder(requestor.grpcAddress, "", 0)
    expect((empty.error as { code?: number }).code).toBe(Status.INVALID_ARGUMENT)

    const registered = track(id("registered"))
    await post(`${api}/api/v1/orders`, details(registered))
    const notSubmitted = await put(`${api}/api/v1/pause/${registered}`)
    expect([notSubmitted.status, notSubmitted.body.error.code]).toEqual([409, "order_not_submitted"])

    const live = await initiated("down")
    fake.unavailable = true
    try {
      const down = await put(`${api}/api/v1/pause/${live}`)
      expect(down.status).toBe(503)
      expect(down.headers.get("retry-after")).toMatch(/^\d+$/)
    } finally {
      fake.unavailable = false
    }
  })
})

describe("requests refused before they reach the order are published to REQ_failures too", () => {
  it("a validation failure on initiate: 400 with the field paths, and REQ_failures (ORD_SUBMISSION) with the request", async () => {
    const orderReqId = track(id("invalid-initiate"))
    const body = {
      OrderReqId: orderReqId,
      SessionID: "SESSION-invalid",
      "Notification type": "Pigeon",
      Location: { Lat: 95, Lng: 0 },
    }
    const response = await post(`${api}/api/v1/initiate`, body)
    expect(response.status).toBe(400)
    expect(response.body.error).toMatchObject({ code: "invalid_request", message: "the request body is invalid" })
    expect(problemPaths(response)).toEqual(["body.Location.Lat", "body.Notification type"])

    const [failure] = await failuresOf(orderReqId)
    expect(failure?.headers["event-type"]).toBe("ORD_SUBMISSION")
    expect(failure?.payload).toMatchObject({
      OrderReqID: orderReqId,
      SessionID: "SESSION-invalid",
      Key: "ORD_SUBMISSION",
      Operation: "initiate",
      Reason: "invalid_request",
      HttpStatus: 400,
      Problems: response.body.error.details,
      Request: body,
    })
    expect(failure?.payload.EventID).toEqual(failure?.headers["event-id"])
    expect(fake.callsFor(orderReqId)).toEqual([])
  })

  it("a validation failure on followup: 400, and REQ_failures (ORD_UPDATES) with the order's session", async () => {
    const orderReqId = await initiated("invalid-followup")
    const body = { OrderReqID: orderReqId, Audience: [], Message: { content: { Message: "", MessageType: "fax" } } }
    const response = await post(`${api}/api/v1/followup`, body)
    expect(response.status).toBe(400)
    expect(response.body.error.code).toBe("invalid_request")
    expect(problemPaths(response)).toEqual([
      "body.Audience",
      "body.Message.content.Message",
      "body.Message.content.MessageType",
    ])

    const [failure] = await failuresOf(orderReqId)
    expect(failure?.headers["event-type"]).toBe("ORD_UPDATES")
    expect(failure?.payload).toMatchObject({
      OrderReqID: orderReqId,
      SessionID: "SESSION-invalid-followup",
      Key: "ORD_UPDATES",
      Operation: "followup",
      Reason: "invalid_request",
      HttpStatus: 400,
      Request: body,
    })
    expect(
      fake.unaryCalls.filter((call) => (call.request as { orderReqId?: string }).orderReqId === orderReqId),
    ).toEqual([])
  })

  it("a bad pause body is published under the order of the path; a bad GET is not published", async () => {
    const orderReqId = await initiated("invalid-pause")
    const badSeq = await get(`${api}/api/v1/orders/${orderReqId}/events?from_seq=-1`)
    expect([badSeq.status, badSeq.body.error.details[0]?.path]).toEqual([400, "query.from_seq"])
    const pause = await request("PUT", `${api}/api/v1/pause/${orderReqId}`, undefined, { raw: "42" })
    expect([pause.status, pause.body.error.code]).toEqual([400, "invalid_request"])

    // One key, one partition: had the GET been published, it would come first.
    const failures = await failuresOf(orderReqId)
    await sleep(500)
    expect(topics.messages("REQ_failures", orderReqId)).toHaveLength(1)
    expect(failures[0]?.headers["event-type"]).toBe("ORD_UPDATES")
    expect(failures[0]?.payload).toMatchObject({
      Operation: "pause",
      HttpStatus: 400,
      SessionID: "SESSION-invalid-pause",
      Request: 42,
    })
  })

  it("a body sent without Content-Type: application/json: 415 with the common error body, published too", async () => {
    const orderReqId = track(id("form"))
    const body = { OrderReqId: orderReqId, SessionID: "SESSION-form", "Notification type": "GChat" }
    // What `curl -d '{...}'` sends without `-H 'Content-Type: application/json'`.
    const response = await request("POST", `${api}/api/v1/initiate`, undefined, {
      raw: JSON.stringify(body),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    })
    expect(response.status).toBe(415)
    expect(response.headers.get("content-type")).toMatch(/^application\/json/)
    expect(response.body).toEqual({
      error: {
        code: "unsupported_media_type",
        message: "send JSON with Content-Type: application/json",
        details: [],
      },
    })
    const [failure] = await failuresOf(orderReqId)
    expect(failure?.headers["event-type"]).toBe("ORD_SUBMISSION")
    expect(failure?.payload).toMatchObject({
      SessionID: "SESSION-form",
      Operation: "initiate",
      Reason: "unsupported_media_type",
      HttpStatus: 415,
      Request: body,
    })
    expect(fake.callsFor(orderReqId)).toEqual([])
  })
})

describe("a processor restart", () => {
  it("pause, resume and finalise wait for the channel to come back instead of answering 503", async () => {
    const orderReqId = await initiated("processor-restart")
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1", details: { SellerID: "S-1", Price: "10" } })
    await waitForSeq(orderReqId, 1)

    // Down long enough for the requestor's reconnects to fail (its channel in TRANSIENT_FAILURE,
    // backing off), then back on the same port: the pause right after it must not fail.
    await fake.stop()
    await sleep(1_500)
    await fake.start()
    const paused = await put(`${api}/api/v1/pause/${orderReqId}`)
    expect(paused.status, JSON.stringify(paused.body)).toBe(200)
    expect(paused.body).toMatchObject({ Status: "PAUSED", Seq: 2 })

    // A call made while the processor is down waits for it (within the call timeout).
    await fake.stop()
    await sleep(1_000)
    const resumed = put(`${api}/api/v1/resume/${orderReqId}`)
    await sleep(1_000)
    await fake.start()
    const resumedAnswer = await resumed
    expect(resumedAnswer.status, JSON.stringify(resumedAnswer.body)).toBe(200)
    expect(resumedAnswer.body).toMatchObject({ Status: "SUBMITTED", Seq: 3 })

    const finalised = await put(`${api}/api/v1/finalize/${orderReqId}`, { ProposalID: "P-1" })
    expect([finalised.status, finalised.body.Status]).toEqual([200, "FINALISED"])
    // Each call reached the processor once: no retried duplicate.
    expect(
      fake.unaryCalls
        .filter((call) => (call.request as { orderReqId?: string }).orderReqId === orderReqId)
        .map((call) => call.method),
    ).toEqual(["PauseOrder", "ResumeOrder", "FinaliseOrder"])
    await waitForSeq(orderReqId, 5)
  })
})

describe("restart", () => {
  it("resumes every live order from its last recorded seq; events emitted meanwhile arrive once", async () => {
    const orderReqId = await initiated("restart")
    fake.emit(orderReqId, "SellersSelected", { details: { Sellers: "[]" } })
    fake.emit(orderReqId, "NewProposal", { proposalId: "P-1" })
    await waitForSeq(orderReqId, 2)
    // Open watches do not hold the shutdown up: they are told to reconnect elsewhere (SSE
    // `event: reconnect`, WatchOrder UNAVAILABLE) from their last seq, and the process exits at once.
    const sse = readSse(`${api}/api/v1/orders/${orderReqId}/events`, { timeoutMs: 15_000 })
    const grpc = watchOrder(requestor.grpcAddress, orderReqId, 0, { timeoutMs: 15_000 })
    await new Promise((resolve) => setTimeout(resolve, 500))
    const exit = await requestor.stop()
    expect(exit.code, requestor.output()).toBe(0)
    expect(exit.durationMs).toBeLessThan(4_000)
    const [sseResult, grpcResult] = await Promise.all([sse, grpc])
    expect([sseResult.ended, sseResult.events.map((event) => event.id ?? event.event)]).toEqual([
      true,
      ["1", "2", "reconnect"],
    ])
    expect(sseResult.events.at(-1)?.data).toMatchObject({ Reason: "shutting_down", LastSeq: 2 })
    expect(grpcResult.events.map((event) => event.seq)).toEqual([1, 2])
    expect(grpcResult.error).toMatchObject({ code: Status.UNAVAILABLE })
    expect(String((grpcResult.error as { details?: string }).details)).toContain("from_seq = 2")
    await eventually(
      async () => fake.openStreams(orderReqId),
      (n) => n === 0,
      { what: "the stream to close" },
    )

    fake.emit(orderReqId, "ProposalUpdate", { proposalId: "P-1", details: { Price: "7" } })
    fake.emit(orderReqId, "EditLock", { proposalId: "P-1" })
    const callsBefore = fake.callsFor(orderReqId).length

    requestor = await startTestRequestor(fake.address, {}, "requestor-restarted")
    api = requestor.httpUrl
    await waitForSeq(orderReqId, 4)
    const resumedCalls = fake.callsFor(orderReqId).slice(callsBefore)
    expect(resumedCalls.map((call) => call.fromSeq)).toEqual([2])
    expect(resumedCalls[0]?.request.sessionId).toBe("SESSION-restart")
    const events = await watchOrder(requestor.grpcAddress, orderReqId, 0, { count: 4 })
    expect(events.events.map((event) => event.seq)).toEqual([1, 2, 3, 4])
    // Every other live order of this run was resumed too.
    for (const other of created.filter(
      (orderReqId) => orderReqId.includes("-events") || orderReqId.includes("-live"),
    )) {
      await eventually(
        async () => fake.openStreams(other),
        (n) => n === 1,
        { what: `${other} resumed` },
      )
    }
  })
})
