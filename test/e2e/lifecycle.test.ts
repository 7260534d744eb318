/**
 * One order through its whole life, end to end: a processor and a requestor as real processes
 * (each on its own Redis database), the real Kafka, a buyer app on the requestor's public gRPC
 * `WatchOrder` stream and a browser on its SSE stream, sellers on the processor's REST API.
 *
 *   sellers registered → order registered → initiate → SellersSelected (nearest first,
 *   FIND_MAX_SEL) → 3 proposals → an update → edit lock → buyer follow-up (locked one held) →
 *   release (held follow-up delivered) → seller follow-up → pause → resume → finalise with a
 *   winner (ProposalClosed / ProposalAccepted / OrderFinalised) → both streams end.
 *
 * Then the eight topics, read back by an independent consumer (kcat), must hold exactly the
 * messages the spec's table promises for this order, and each service's Redis database must hold
 * only its own keys.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  awaitTopic,
  comparable,
  describeResponse,
  type EventReader,
  haversineKm,
  http,
  type JsonResponse,
  type SeenEvent,
  type SseFrame,
  type Stack,
  scanKeys,
  startStack,
  stopStack,
  type TopicRecord,
  uniqueId,
  watchOrder,
  watchSse,
  withRedis,
} from "../support/e2e.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../support/redisKeys.ts"

const PROCESSOR_DB = 5
const REQUESTOR_DB = 6
const FIND_MAX_SEL = 4

const run = uniqueId("E2E")
const orderId = `${run}-ORD`
const unknownOrderId = `${run}-NOPE`
const invalidOrderId = `${run}-BAD`
const session = `${run}-SESSION`
const industry = `E2E Industrial Supplies ${run}`
const otherIndustry = `E2E Electronics ${run}`
const origin = { Lat: 12.9716, Lng: 77.5946 }

/** Six active sellers of the order's industry; ids deliberately not in distance order. */
const ranked = [
  { SellerID: `${run}-S-D`, Location: { Lat: origin.Lat + 0.01, Lng: origin.Lng } },
  { SellerID: `${run}-S-A`, Location: { Lat: origin.Lat, Lng: origin.Lng + 0.025 } },
  { SellerID: `${run}-S-F`, Location: { Lat: origin.Lat - 0.04, Lng: origin.Lng } },
  { SellerID: `${run}-S-B`, Location: { Lat: origin.Lat, Lng: origin.Lng - 0.06 } },
  { SellerID: `${run}-S-C`, Location: { Lat: origin.Lat + 0.09, Lng: origin.Lng } },
  { SellerID: `${run}-S-E`, Location: { Lat: origin.Lat + 0.13, Lng: origin.Lng + 0.01 } },
].map((seller, rank) => ({
  ...seller,
  Name: `E2E seller rank ${rank + 1}`,
  Industries: [industry],
  Active: true,
  Email: `rank${rank + 1}@e2e.example`,
}))
/** Nearer than all of them, but another industry. */
const otherIndustrySeller = {
  SellerID: `${run}-OTHER`,
  Name: "E2E other industry",
  Industries: [otherIndustry],
  Location: { Lat: origin.Lat + 0.001, Lng: origin.Lng },
  Active: true,
}
/** Nearer than all of them, right industry, inactive. */
const inactiveSeller = {
  SellerID: `${run}-INACTIVE`,
  Name: "E2E inactive",
  Industries: [industry],
  Location: { Lat: origin.Lat + 0.002, Lng: origin.Lng },
  Active: false,
}

const [s1, s2, s3, s4, s5] = ranked as [
  (typeof ranked)[number],
  (typeof ranked)[number],
  (typeof ranked)[number],
  (typeof ranked)[number],
  (typeof ranked)[number],
]
const selected = ranked.slice(0, FIND_MAX_SEL)
const p1 = `${run}-P1`
const p2 = `${run}-P2`
const p3 = `${run}-P3`
const p4 = `${run}-P4`

const followUpText = "Can you deliver in two lots?"
const sellerAnswer = "Yes: 60% on 10 Dec, the rest on 15 Dec."

let stack: Stack
let requestorUrl: string
let processorUrl: string
let grpc: ReturnType<typeof watchOrder>
let sse: ReturnType<typeof watchSse>
/** Kafka messages are read from here on (epoch ms). */
let since: number
let followUpId: string

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

const submit = (sellerId: string, proposalId: string, price: number | string) =>
  http("POST", `${processorUrl}/api/v1/proposal-submissions`, {
    OrderReqID: orderId,
    Seller: sellerId,
    ProposalDictObj: { ProposalID: proposalId, Price: price, DeliveryDate: "2026-12-15T00:00:00Z", Currency: "INR" },
  })

/** The next event of both clients at `seq` (they must agree). */
const bothAt = async (seq: number, status: string): Promise<SeenEvent> => {
  const what = `event #${seq} (${status})`
  const [viaGrpc, viaSse] = await Promise.all([
    grpc.waitFor((event) => event.seq === seq, what),
    sse.waitFor((event) => event.seq === seq, what),
  ])
  expect(viaGrpc.status, `WatchOrder ${what}`).toBe(status)
  expect(comparable(viaSse), `SSE and WatchOrder agree on ${what}`).toEqual(comparable(viaGrpc))
  return viaGrpc
}

const lastSeqSeen = (reader: EventReader) => reader.events.at(-1)?.seq ?? 0

/** The exact life of the order, seq by seq: [status, proposal]. */
const expectedSequence: ReadonlyArray<readonly [string, string]> = [
  ["SellersSelected", ""],
  ["NewProposal", p1],
  ["NewProposal", p2],
  ["NewProposal", p3],
  ["ProposalUpdate", p2],
  ["EditLock", p1],
  ["BuyerFollowUp", p2],
  ["EditUnlock", p1],
  ["BuyerFollowUp", p1],
  ["SellerFollowUp", p2],
  ["OrderPaused", ""],
  ["OrderResumed", ""],
  ["ProposalClosed", p1],
  ["ProposalAccepted", p2],
  ["ProposalClosed", p3],
  ["OrderFinalised", ""],
]

beforeAll(async () => {
  since = Date.now() - 2_000
  // Orders left live by an interrupted earlier run would be resumed by the new requestor.
  await withRedis(REQUESTOR_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  stack = await startStack({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: { FIND_MAX_SEL: String(FIND_MAX_SEL) },
  })
  requestorUrl = stack.requestor.httpUrl
  processorUrl = stack.processor.httpUrl
})

afterAll(async () => {
  grpc?.close()
  sse?.close()
  await stopStack(stack)
})

describe(`order lifecycle end to end (${orderId})`, () => {
  it("registers the sellers and the order; both stream clients attach before initiate", async () => {
    // Scrambled registration order: selection must not depend on it.
    const sellers = [s4, otherIndustrySeller, s1, ranked[5], inactiveSeller, s2, s5, s3]
    const registered = await http("POST", `${processorUrl}/api/v1/sellers`, sellers)
    expectStatus(registered, 201)
    expect(registered.body.Created).toBe(sellers.length)

    const order = await http("POST", `${requestorUrl}/api/v1/orders`, {
      OrderReqID: orderId,
      BuyerID: `${run}-BUYER`,
      Industry: industry,
      Location: origin,
      Products: [{ ProductID: "SS-304", Name: "Stainless steel sheet 304, 2 mm", Quantity: 40, Unit: "sheet" }],
      DeliveryDate: "2026-12-20",
      Priority: "HIGH",
    })
    expectStatus(order, 201)
    expect(order.body).toMatchObject({ Outcome: "registered", Order: { OrderReqID: orderId, Status: "REGISTERED" } })

    grpc = watchOrder(stack.requestor.grpcAddress, orderId)
    sse = watchSse(requestorUrl, orderId)
    const response = await sse.response
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
  })

  it("initiate: 202, the processor selects the nearest active sellers of the industry, at most FIND_MAX_SEL", async () => {
    const initiated = await http("POST", `${requestorUrl}/api/v1/initiate`, {
      OrderReqId: orderId,
      SessionID: session,
      "Notification type": "Email",
    })
    expectStatus(initiated, 202)
    expect(initiated.body).toMatchObject({
      Outcome: "submitted",
      Message: "Order Submitted",
      Order: { OrderReqID: orderId, Status: "SUBMITTED", SessionID: session, NotificationType: "Email" },
      Watch: {
        Events: `/api/v1/orders/${orderId}/events`,
        Grpc: { Service: "dcent.orders.v1.OrderWatchService", Method: "WatchOrder", Port: stack.requestor.grpcPort },
      },
    })

    const event = await bothAt(1, "SellersSelected")
    expect(event.details.Count).toBe(String(FIND_MAX_SEL))
    const chosen = JSON.parse(event.details.Sellers ?? "[]") as Array<{
      SellerID: string
      DistanceKm: number
      DistanceSource: string
    }>
    expect(chosen.map((seller) => seller.SellerID)).toEqual(selected.map((seller) => seller.SellerID))
    for (const [index, seller] of chosen.entries()) {
      const expectedKm = haversineKm(origin, (selected[index] as (typeof selected)[number]).Location)
      expect(seller.DistanceKm, seller.SellerID).toBeCloseTo(expectedKm, 1)
      expect(seller.DistanceSource).toBe("straight_line")
      if (index > 0)
        expect(seller.DistanceKm).toBeGreaterThan((chosen[index - 1] as (typeof chosen)[number]).DistanceKm)
    }

    // The buyer's view and the processor's view agree.
    const view = await http("GET", `${requestorUrl}/api/v1/orders/${orderId}`)
    expectStatus(view, 200)
    expect(view.body.SelectedSellers.map((seller: { SellerID: string }) => seller.SellerID)).toEqual(
      selected.map((seller) => seller.SellerID),
    )
    const processorView = await http("GET", `${processorUrl}/api/v1/orders/${orderId}`)
    expectStatus(processorView, 200)
    expect(processorView.body).toMatchObject({ OrderReqID: orderId, SessionID: session, Industry: industry })
    expect(processorView.body.SelectedSellers.map((seller: { SellerID: string }) => seller.SellerID)).toEqual(
      selected.map((seller) => seller.SellerID),
    )
  })

  it("re-initiating the live order answers 200 with the same order and selects nobody again", async () => {
    const again = await http("POST", `${requestorUrl}/api/v1/initiate`, {
      OrderReqId: orderId,
      SessionID: session,
      "Notification type": "Email",
    })
    expectStatus(again, 200)
    expect(again.body).toMatchObject({ Outcome: "already_submitted", Order: { OrderReqID: orderId, LastSeq: 1 } })
    // The topic checks at the end prove no second SELLER_NOTIFY / acknowledgement; the stream has no event 2 yet.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(lastSeqSeen(grpc)).toBe(1)
    expect(lastSeqSeen(sse)).toBe(1)
  })

  it("sellers outside the selection cannot submit (403), selected ones can (201 NewProposal, 200 ProposalUpdate)", async () => {
    const notSelected = await submit(s5.SellerID, `${run}-PX`, 10)
    expectStatus(notSelected, 403)
    expect(notSelected.body.error.code).toBe("seller_not_eligible")

    const first = await submit(s1.SellerID, p1, 1000)
    expectStatus(first, 201)
    expect(first.body).toMatchObject({
      Message: "Proposal Submitted",
      Outcome: "created",
      Seq: 2,
      Proposal: { ProposalID: p1, OrderReqID: orderId, SellerID: s1.SellerID, Price: 1000, Status: "SUBMITTED" },
    })
    expectStatus(await submit(s2.SellerID, p2, "950.50"), 201)
    expectStatus(await submit(s3.SellerID, p3, 1100), 201)
    const created = await bothAt(3, "NewProposal")
    expect(created).toMatchObject({
      proposalId: p2,
      details: { SellerID: s2.SellerID, Price: "950.5", Currency: "INR" },
    })
    await bothAt(2, "NewProposal")
    await bothAt(4, "NewProposal")

    const update = await submit(s2.SellerID, p2, 900)
    expectStatus(update, 200)
    expect(update.body).toMatchObject({ Outcome: "updated", Seq: 5, Proposal: { Version: 2, Price: 900 } })
    const updated = await bothAt(5, "ProposalUpdate")
    expect(updated).toMatchObject({ proposalId: p2, details: { Price: "900", PreviousPrice: "950.5", Version: "2" } })

    // An identical resubmission changes nothing and appends nothing.
    const same = await submit(s2.SellerID, p2, 900)
    expectStatus(same, 200)
    expect(same.body.Outcome).toBe("unchanged")
    expect(same.body.Seq).toBeUndefined()
  })

  it("edit lock: a buyer follow-up to the locked proposal is held (EDIT_LOCK), the unlocked one is delivered", async () => {
    const lock = await http("POST", `${processorUrl}/api/v1/edit-lock`, { OrderReqID: orderId, ProposalID: p1 })
    expectStatus(lock, 200)
    expect(lock.body).toMatchObject({ Outcome: "locked", Status: "EDITLOCK", Seq: 6 })
    await bothAt(6, "EditLock")

    const followUp = await http("POST", `${requestorUrl}/api/v1/followup`, {
      OrderReqID: orderId,
      Audience: [p1, p2],
      Message: { content: { URLs: [], MessageType: "text", Message: followUpText } },
    })
    expectStatus(followUp, 200)
    expect(followUp.body).toMatchObject({
      OrderReqID: orderId,
      Seq: 7,
      Duplicate: false,
      Results: [
        { ProposalID: p1, Outcome: "EDIT_LOCK", Seq: 0 },
        { ProposalID: p2, Outcome: "DELIVERED", Seq: 7 },
      ],
    })
    followUpId = followUp.body.FollowUpID
    expect(followUpId).toEqual(expect.any(String))
    const delivered = await bothAt(7, "BuyerFollowUp")
    expect(delivered).toMatchObject({ proposalId: p2, followUpId, details: { Text: followUpText } })
    // Nothing for the locked proposal yet.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(lastSeqSeen(grpc)).toBe(7)
  })

  it("releasing the lock delivers the held follow-up; the seller answers", async () => {
    const release = await http("POST", `${processorUrl}/api/v1/edit-lock/release`, {
      OrderReqID: orderId,
      ProposalID: p1,
    })
    expectStatus(release, 200)
    expect(release.body).toMatchObject({
      Outcome: "unlocked",
      Status: "SUBMITTED",
      Seq: 8,
      DeliveredFollowUps: [followUpId],
    })
    await bothAt(8, "EditUnlock")
    const held = await bothAt(9, "BuyerFollowUp")
    expect(held).toMatchObject({
      proposalId: p1,
      followUpId,
      details: { Text: followUpText, DeliveredAfterUnlock: "true" },
    })

    const answer = await http("POST", `${processorUrl}/api/v1/followup`, {
      OrderReqID: orderId,
      ProposalID: p2,
      Seller: s2.SellerID,
      Message: { content: { URLs: [], MessageType: "text", Message: sellerAnswer } },
    })
    expectStatus(answer, 201)
    expect(answer.body).toMatchObject({ ProposalID: p2, Seq: 10, Duplicate: false })
    const event = await bothAt(10, "SellerFollowUp")
    expect(event).toMatchObject({ proposalId: p2, followUpId: answer.body.FollowUpID, details: { Text: sellerAnswer } })
  })

  it("pause refuses new proposals (409); resume reopens the order", async () => {
    const pause = await http("PUT", `${requestorUrl}/api/v1/pause/${orderId}`)
    expectStatus(pause, 200)
    expect(pause.body).toMatchObject({ OrderReqID: orderId, Status: "PAUSED", Seq: 11 })
    const paused = await bothAt(11, "OrderPaused")
    expect(paused.details.Reason).toBe("buyer")
    const view = await http("GET", `${requestorUrl}/api/v1/orders/${orderId}`)
    expect(view.body).toMatchObject({ Status: "PAUSED", LastSeq: 11 })

    const refused = await submit(s4.SellerID, p4, 800)
    expectStatus(refused, 409)
    expect(refused.body.error.code).toBe("order_paused")

    const resume = await http("PUT", `${requestorUrl}/api/v1/resume/${orderId}`)
    expectStatus(resume, 200)
    expect(resume.body).toMatchObject({ Status: "SUBMITTED", Seq: 12 })
    await bothAt(12, "OrderResumed")
  })

  it("finalise with a winner: ProposalAccepted, the others ProposalClosed, OrderFinalised, and both streams end", async () => {
    const finalise = await http("PUT", `${requestorUrl}/api/v1/finalize/${orderId}`, { ProposalID: p2 })
    expectStatus(finalise, 200)
    expect(finalise.body).toMatchObject({ OrderReqID: orderId, Status: "FINALISED", Seq: 16 })
    await bothAt(13, "ProposalClosed")
    await bothAt(14, "ProposalAccepted")
    await bothAt(15, "ProposalClosed")
    const last = await bothAt(16, "OrderFinalised")
    expect(last.details.AcceptedProposalID).toBe(p2)

    const bounded = (reader: EventReader) =>
      Promise.race([reader.ended, new Promise((resolve) => setTimeout(() => resolve("still open"), 10_000))])
    expect(await bounded(grpc)).toEqual({ clean: true })
    expect(await bounded(sse)).toEqual({ clean: true })

    const view = await http("GET", `${requestorUrl}/api/v1/orders/${orderId}`)
    expect(view.body).toMatchObject({ Status: "FINALISED", AcceptedProposalID: p2, LastSeq: 16 })
    const statuses = Object.fromEntries(
      view.body.Proposals.map((proposal: { ProposalID: string; Status: string }) => [
        proposal.ProposalID,
        proposal.Status,
      ]),
    )
    expect(statuses).toEqual({ [p1]: "CLOSED", [p2]: "ACCEPTED", [p3]: "CLOSED" })
  })

  it("WatchOrder and SSE saw exactly the same events: the expected sequence, seq 1..N gap-free, each once", () => {
    const expected = expectedSequence.map(([status, proposalId], index) => ({ seq: index + 1, status, proposalId }))
    for (const reader of [grpc, sse]) {
      expect(reader.events.map(({ seq, status, proposalId }) => ({ seq, status, proposalId }))).toEqual(expected)
    }
    expect(sse.events.map(comparable)).toEqual(grpc.events.map(comparable))
    expect(new Set(grpc.events.map((event) => event.eventId)).size).toBe(expectedSequence.length)
    // SSE framing: `id:` is the seq, `event:` the status.
    expect(sse.frames.map((frame: SseFrame) => [frame.id, frame.event])).toEqual(
      expected.map((event) => [String(event.seq), event.status]),
    )
  })

  it("a finished order replays: WatchOrder from 0 gets the same events and ends; SSE after the last seq is 204", async () => {
    const replay = watchOrder(stack.requestor.grpcAddress, orderId, 0)
    const ended = await Promise.race([
      replay.ended,
      new Promise((resolve) => setTimeout(() => resolve("open"), 10_000)),
    ])
    expect(ended).toEqual({ clean: true })
    expect(replay.events.map(comparable)).toEqual(grpc.events.map(comparable))

    const tail = await fetch(`${requestorUrl}/api/v1/orders/${orderId}/events`, {
      headers: { accept: "text/event-stream", "last-event-id": "16" },
    })
    expect(tail.status).toBe(204)
  })

  it("failed requests answer with the common error body (and are published: REQ_failures / PRP_FAILURES)", async () => {
    const late = await submit(s1.SellerID, `${run}-LATE`, 700)
    expectStatus(late, 409)
    expect(late.body.error.code).toBe("order_finalised")

    const twice = await http("PUT", `${requestorUrl}/api/v1/finalize/${orderId}`, { ProposalID: p2 })
    expectStatus(twice, 409)
    expect(twice.body.error).toMatchObject({ code: "order_finalised", message: expect.any(String) })

    const unknown = await http("PUT", `${requestorUrl}/api/v1/finalize/${unknownOrderId}`)
    expectStatus(unknown, 404)
    expect(unknown.body.error).toMatchObject({
      code: "order_not_found",
      details: [{ path: "OrderReqID", problem: expect.stringContaining(unknownOrderId) }],
    })
  })

  it("validation errors answer 400 with the path of every bad field", async () => {
    const register = await http("POST", `${requestorUrl}/api/v1/orders`, {
      OrderReqID: invalidOrderId,
      BuyerID: "B",
      Industry: industry,
      Location: { Lat: 123, Lng: "east" },
      Products: [],
      DeliveryDate: "2025-13-45",
    })
    expectStatus(register, 400)
    expect(register.body.error.code).toBe("invalid_request")
    expect(register.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual(
      ["body.DeliveryDate", "body.Location.Lat", "body.Location.Lng", "body.Products"].sort(),
    )

    const initiate = await http("POST", `${requestorUrl}/api/v1/initiate`, {
      OrderReqId: invalidOrderId,
      "Notification type": "Pigeon",
    })
    expectStatus(initiate, 400)
    expect(initiate.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual(
      ["body.Notification type", "body.SessionID"].sort(),
    )

    const followUp = await http("POST", `${requestorUrl}/api/v1/followup`, {
      OrderReqID: invalidOrderId,
      Audience: [],
      Message: { content: { Message: "", MessageType: "fax" } },
    })
    expectStatus(followUp, 400)
    expect(followUp.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual(
      ["body.Audience", "body.Message.content.Message", "body.Message.content.MessageType"].sort(),
    )

    const proposal = await http("POST", `${processorUrl}/api/v1/proposal-submissions`, {
      OrderReqID: invalidOrderId,
      Seller: s1.SellerID,
      ProposalDictObj: { ProposalID: `${run}-PBAD`, Price: -5, DeliveryDate: "tomorrow" },
    })
    expectStatus(proposal, 400)
    expect(proposal.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual(
      ["body.ProposalDictObj.DeliveryDate", "body.ProposalDictObj.Price"].sort(),
    )
  })

  describe("the eight topics, read back with kcat", () => {
    const keys = new Set([orderId, unknownOrderId, invalidOrderId])
    /** This run's messages per topic (all three keys). */
    const read = new Map<string, Array<TopicRecord>>()
    /** This order's messages per topic. */
    const byTopic = new Map<string, Array<TopicRecord>>()
    const eventAt = (seq: number) => grpc.events.find((event) => event.seq === seq) as SeenEvent
    const buyerFacing = expectedSequence.filter(([status]) => !["BuyerFollowUp", "SellerFollowUp"].includes(status))
    const selectedCount = selected.length
    /** How many messages of this order each topic must end up with. */
    const expectedCounts: Record<string, number> = {
      BUYER_ACKNOWLEDGEMENTS: 1,
      BUYER_NOTIFY: buyerFacing.length,
      BUYER_FOLLOWUP: 1,
      REQ_failures: 1,
      SELLER_ACKNOWLEDGEMENTS: 4,
      SELLER_NOTIFY: 4 * selectedCount + 3,
      SELLER_FOLLOWUP: 2,
      PRP_FAILURES: 3,
    }

    // All eight at once: each waits (bounded) until its count is there, then reads once more so
    // that late duplicates would show.
    beforeAll(async () => {
      await Promise.all(
        Object.entries(expectedCounts).map(async ([name, count]) => {
          const records = await awaitTopic(
            name,
            keys,
            since,
            (found) => found.filter((record) => record.key === orderId).length >= count,
          )
          read.set(name, records)
          byTopic.set(
            name,
            records.filter((record) => record.key === orderId),
          )
        }),
      )
    })

    const topic = (name: string) => byTopic.get(name) ?? []
    const otherKey = (name: string, key: string) => (read.get(name) ?? []).filter((record) => record.key === key)

    /** The fields every message carries, per the spec's table. */
    const expectEnvelope = (record: TopicRecord, key: string) => {
      const where = `${record.topic}@${record.partition}:${record.offset}`
      expect(record.key, where).toBe(orderId)
      expect(
        record.headerList.filter(([name]) => name === "event-type"),
        where,
      ).toEqual([["event-type", key]])
      expect(
        record.headerList.filter(([name]) => name === "event-id"),
        where,
      ).toHaveLength(1)
      expect(record.payload, where).toMatchObject({
        EventID: record.headers["event-id"],
        OrderReqID: orderId,
        SessionID: session,
        Key: key,
        Message: expect.any(String),
        Timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/),
        Seq: expect.any(Number),
      })
      expect(record.payload.EventID, where).not.toBe("")
      expect(Number.isNaN(Date.parse(record.payload.Timestamp)), where).toBe(false)
    }

    /** `[Seq, Status, SellerID?]` of each message, in produce order. */
    const shape = (records: ReadonlyArray<TopicRecord>, withSeller = false) =>
      records.map((record) =>
        withSeller
          ? [record.payload.Seq, record.payload.Status, record.payload.SellerID]
          : [record.payload.Seq, record.payload.Status],
      )

    it("BUYER_ACKNOWLEDGEMENTS: one ORD_SUBMISSION 'Order Submitted' (none for the re-initiate)", () => {
      const records = topic("BUYER_ACKNOWLEDGEMENTS")
      expect(records).toHaveLength(1)
      const [ack] = records as [TopicRecord]
      expectEnvelope(ack, "ORD_SUBMISSION")
      expect(ack.payload).toMatchObject({ Message: "Order Submitted", Industry: industry, NotificationType: "Email" })
    })

    it("BUYER_NOTIFY: one ORD_UPDATES per buyer-facing event, with the event's id, seq and time", () => {
      const events = grpc.events.filter((event) => !["BuyerFollowUp", "SellerFollowUp"].includes(event.status))
      expect(events).toHaveLength(buyerFacing.length)
      const records = topic("BUYER_NOTIFY")
      for (const record of records) expectEnvelope(record, "ORD_UPDATES")
      expect(shape(records)).toEqual(events.map((event) => [event.seq, event.status]))
      expect(records.map((record) => record.payload.EventID)).toEqual(events.map((event) => event.eventId))
      expect(records.map((record) => record.payload.Timestamp)).toEqual(events.map((event) => event.occurredAt))
      expect(records.map((record) => record.payload.ProposalID ?? "")).toEqual(events.map((event) => event.proposalId))
    })

    it("BUYER_FOLLOWUP: the seller's answer, once", () => {
      const records = topic("BUYER_FOLLOWUP")
      expect(records).toHaveLength(1)
      const [answer] = records as [TopicRecord]
      expectEnvelope(answer, "ORD_UPDATES")
      expect(answer.payload).toMatchObject({
        Seq: 10,
        Status: "SellerFollowUp",
        EventID: eventAt(10).eventId,
        ProposalID: p2,
        Text: sellerAnswer,
      })
    })

    it("SELLER_ACKNOWLEDGEMENTS: one PRP_SUBMISSION per accepted submission (3 new + 1 update)", () => {
      const records = topic("SELLER_ACKNOWLEDGEMENTS")
      for (const record of records) expectEnvelope(record, "PRP_SUBMISSION")
      expect(shape(records, true)).toEqual([
        [2, "NewProposal", s1.SellerID],
        [3, "NewProposal", s2.SellerID],
        [4, "NewProposal", s3.SellerID],
        [5, "ProposalUpdate", s2.SellerID],
      ])
      expect(records.map((record) => record.payload.Message)).toEqual([
        "Proposal Submitted",
        "Proposal Submitted",
        "Proposal Submitted",
        "Proposal Updated",
      ])
      expect(records.map((record) => record.payload.ProposalID)).toEqual([p1, p2, p3, p2])
    })

    it("SELLER_NOTIFY: PRP_REQUEST per selected seller, then pause/resume/finalise to them, closed/accepted to owners", () => {
      const ids = selected.map((seller) => seller.SellerID)
      const expected = [
        ...ids.map((id) => [1, "SellersSelected", id]),
        ...ids.map((id) => [11, "OrderPaused", id]),
        ...ids.map((id) => [12, "OrderResumed", id]),
        [13, "ProposalClosed", s1.SellerID],
        [14, "ProposalAccepted", s2.SellerID],
        [15, "ProposalClosed", s3.SellerID],
        ...ids.map((id) => [16, "OrderFinalised", id]),
      ]
      expect(expected).toHaveLength(expectedCounts.SELLER_NOTIFY as number)
      const records = topic("SELLER_NOTIFY")
      for (const record of records) expectEnvelope(record, "PRP_REQUEST")
      expect(shape(records, true)).toEqual(expected)
      // Nobody outside the selection heard of the order.
      for (const outsider of [s5, ranked[5], otherIndustrySeller, inactiveSeller]) {
        expect(records.filter((record) => record.payload.SellerID === outsider?.SellerID)).toEqual([])
      }
      const first = records.slice(0, FIND_MAX_SEL)
      expect(first.map((record) => record.payload.DistanceKm)).toEqual(
        [...first.map((record) => record.payload.DistanceKm)].sort((a, b) => a - b),
      )
    })

    it("SELLER_FOLLOWUP: one PRP_UPDATES per delivered buyer follow-up, to the proposal's seller", () => {
      const records = topic("SELLER_FOLLOWUP")
      for (const record of records) expectEnvelope(record, "PRP_UPDATES")
      expect(shape(records, true)).toEqual([
        [7, "BuyerFollowUp", s2.SellerID],
        [9, "BuyerFollowUp", s1.SellerID],
      ])
      expect(
        records.map((record) => [record.payload.ProposalID, record.payload.FollowUpID, record.payload.Message]),
      ).toEqual([
        [p2, followUpId, followUpText],
        [p1, followUpId, followUpText],
      ])
    })

    it("REQ_failures: the refused second finalise (ORD_UPDATES, 409), and the unknown order's 404 under its own key", () => {
      const records = topic("REQ_failures")
      expect(records).toHaveLength(1)
      const [failure] = records as [TopicRecord]
      expectEnvelope(failure, "ORD_UPDATES")
      expect(failure.payload).toMatchObject({ Operation: "finalize", HttpStatus: 409, Request: { ProposalID: p2 } })

      const unknown = otherKey("REQ_failures", unknownOrderId)
      expect(unknown).toHaveLength(1)
      expect(unknown[0]?.headers["event-type"]).toBe("ORD_UPDATES")
      expect(unknown[0]?.payload).toMatchObject({
        OrderReqID: unknownOrderId,
        Key: "ORD_UPDATES",
        Operation: "finalize",
        HttpStatus: 404,
      })
    })

    it("PRP_FAILURES: the not-selected seller (403), the paused order (409) and the finalised order (409)", () => {
      const records = topic("PRP_FAILURES")
      for (const record of records) expectEnvelope(record, "PRP_SUBMISSION")
      expect(
        records.map((record) => [record.payload.Operation, record.payload.HttpStatus, record.payload.Code]),
      ).toEqual([
        ["proposal-submission", 403, "seller_not_eligible"],
        ["proposal-submission", 409, "order_paused"],
        ["proposal-submission", 409, "order_finalised"],
      ])
      expect(records.map((record) => record.payload.Request?.ProposalDictObj?.ProposalID)).toEqual([
        `${run}-PX`,
        p4,
        `${run}-LATE`,
      ])
    })

    it("every message of the order has its own event-id, across all eight topics", () => {
      expect([...byTopic.keys()].sort()).toEqual(
        [
          "BUYER_ACKNOWLEDGEMENTS",
          "BUYER_FOLLOWUP",
          "BUYER_NOTIFY",
          "PRP_FAILURES",
          "REQ_failures",
          "SELLER_ACKNOWLEDGEMENTS",
          "SELLER_FOLLOWUP",
          "SELLER_NOTIFY",
        ].sort(),
      )
      const ids = [...byTopic.values()].flat().map((record) => record.headers["event-id"])
      expect(ids.length).toBe(Object.values(expectedCounts).reduce((sum, count) => sum + count, 0))
      expect(new Set(ids).size).toBe(ids.length)
    })

    it("a rejected (400) buyer request is published to REQ_failures, like the seller side's PRP_FAILURES", () => {
      // The seller side publishes its schema rejections (the proposal above) ...
      const seller = otherKey("PRP_FAILURES", invalidOrderId)
      expect(seller.map((record) => [record.payload.HttpStatus, record.payload.Code])).toEqual([
        [400, "invalid_request"],
      ])
      // ... the spec ("Errors": every failed operation is also published) asks the same of the buyer side,
      // which refused three requests for this id above (register, initiate, follow-up).
      const buyer = otherKey("REQ_failures", invalidOrderId)
      expect(buyer.map((record) => [record.payload.Operation, record.payload.HttpStatus])).toEqual([
        ["register", 400],
        ["initiate", 400],
        ["followup", 400],
      ])
    })
  })

  it("each service kept its own keys in its own Redis database", async () => {
    const processorKeys = await scanKeys(PROCESSOR_DB, `*${orderId}*`)
    const requestorKeys = await scanKeys(REQUESTOR_DB, `*${orderId}*`)
    expect(processorKeys.length).toBeGreaterThan(0)
    expect(requestorKeys.length).toBeGreaterThan(0)
    expect(processorKeys.filter((key) => !key.startsWith("dcent:processor:"))).toEqual([])
    expect(requestorKeys.filter((key) => !key.startsWith("dcent:requestor:"))).toEqual([])
    expect(await scanKeys(PROCESSOR_DB, "dcent:requestor:*")).toEqual([])
    expect(await scanKeys(REQUESTOR_DB, "dcent:processor:*")).toEqual([])
    // The sellers live only on the processor side.
    expect(await scanKeys(REQUESTOR_DB, `*${s1.SellerID}*`)).toEqual([])
  })
})
