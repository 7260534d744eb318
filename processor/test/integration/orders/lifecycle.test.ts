/**
 * The order lifecycle on a real processor process against the real Redis and Kafka: sellers
 * registered over REST, `ProcessOrderStream` through a nice-grpc client, proposals, edit locks
 * with buyer follow-ups, pause/resume/finalise, and resuming a stream from `from_seq`.
 */
import { type Channel, createChannel, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FollowUpOutcome } from "../../../../shared/src/generated/dcent/orders/v1/order_non_streaming_service.ts"
import type { RunningProcessor } from "../../../../test/support/services.ts"
import { startProcessor } from "../../../../test/support/services.ts"
import {
  type CollectedStream,
  expectGapFree,
  expectGrpcError,
  http,
  openStream,
  registerSellers,
  runId,
  statusOf,
  streamRequest,
  unaryClient,
} from "../../support/orders.ts"

const run = runId()
const industry = `Lifecycle-${run}`
const sellerId = (n: number) => `LC-${run}-S${n}`
const orderId = (name: string) => `LC-${run}-${name}`

// Distances from Bengaluru (12.9716, 77.5946): S1 ≈ 0.6 km, S2 ≈ 5.6 km, S3 ≈ 33 km, S4 ≈ 111 km;
// S0 is the nearest but inactive, S9 is near but of another industry.
const sellers = [
  {
    SellerID: sellerId(0),
    Name: "Inactive",
    Industries: [industry],
    Location: { Lat: 12.9716, Lng: 77.5946 },
    Active: false,
  },
  { SellerID: sellerId(1), Name: "One", Industries: [industry], Location: { Lat: 12.9766, Lng: 77.5946 } },
  { SellerID: sellerId(2), Name: "Two", Industries: [industry.toLowerCase()], Location: { Lat: 13.022, Lng: 77.5946 } },
  { SellerID: sellerId(3), Name: "Three", Industries: [industry, "Other"], Location: { Lat: 13.27, Lng: 77.5946 } },
  { SellerID: sellerId(4), Name: "Four", Industries: [industry], Location: { Lat: 13.9716, Lng: 77.5946 } },
  { SellerID: sellerId(9), Name: "Elsewhere", Industries: [`Other-${run}`], Location: { Lat: 12.9716, Lng: 77.5946 } },
]

const submission = (order: string, seller: string, proposal: string, price: number | string, extra = {}) => ({
  OrderReqID: order,
  Seller: seller,
  ProposalDictObj: { ProposalID: proposal, Price: price, DeliveryDate: "2025-11-01T00:00:00Z", ...extra },
})

const content = { urls: [], messageType: "text", text: "Please clarify delivery terms" }

describe("order lifecycle", () => {
  let processor: RunningProcessor
  let channel: Channel
  const streams: Array<CollectedStream> = []
  const open = (...args: Parameters<typeof streamRequest>) => {
    const stream = openStream(channel, streamRequest(...args))
    streams.push(stream)
    return stream
  }

  beforeAll(async () => {
    processor = await startProcessor({ env: { FIND_MAX_SEL: "3", TIMER_POLL_MS: "100" } })
    channel = createChannel(processor.grpcAddress)
    await registerSellers(processor, sellers)
  })

  afterAll(async () => {
    for (const stream of streams) stream.cancel()
    channel?.close()
    await processor?.stop()
  })

  it("opens an order, answers its status at once, and streams SellersSelected with the nearest active sellers", async () => {
    const stream = open(orderId("A"), industry)
    const header = await stream.header
    expect(header.get("dcent-order-status")).toBe("SUBMITTED")
    expect(header.get("dcent-last-seq")).toBe("0")
    const selected = await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    expect(selected.seq).toBe(1)
    expect(selected.orderReqId).toBe(orderId("A"))
    const list = JSON.parse(selected.details.Sellers ?? "[]") as Array<{ SellerID: string; DistanceKm: number }>
    expect(list.map((seller) => seller.SellerID)).toEqual([sellerId(1), sellerId(2), sellerId(3)])
    expect(list[0]!.DistanceKm).toBeGreaterThan(0.5)
    expect(list[0]!.DistanceKm).toBeLessThan(0.6)
    expect(selected.details.Count).toBe("3")

    const order = await http<{ Status: string; SelectedSellers: Array<{ SellerID: string }>; ExpiresAt: string }>(
      processor,
      "GET",
      `/api/v1/orders/${orderId("A")}`,
    )
    expect(order.status).toBe(200)
    expect(order.body.Status).toBe("SUBMITTED")
    expect(order.body.SelectedSellers.map((seller) => seller.SellerID)).toEqual([sellerId(1), sellerId(2), sellerId(3)])
    expect(Date.parse(order.body.ExpiresAt) - Date.now()).toBeGreaterThan(29 * 60_000)
  })

  it("opening the same order again creates nothing new (one SellersSelected, no second dispatch)", async () => {
    const again = open(orderId("A"), industry)
    await again.waitFor((event) => statusOf(event) === "SellersSelected")
    expect((await again.header).get("dcent-last-seq")).toBe("1")
    again.cancel()
    const order = await http<{ LastSeq: number }>(processor, "GET", `/api/v1/orders/${orderId("A")}`)
    expect(order.body.LastSeq).toBe(1)
  })

  it("proposals: new 201, update 200, identical resubmission 200 without an event, another seller's id 409", async () => {
    const stream = streams[0]!
    const created = await http<{ Outcome: string; Seq: number; Message: string }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), sellerId(1), "P-1", 1000.0),
    )
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ Outcome: "created", Seq: 2, Message: "Proposal Submitted" })

    const updated = await http(processor, "POST", "/api/v1/proposal-submissions", {
      ...submission(orderId("A"), sellerId(1), "P-1", "950.50"),
      ProposalDictObj: { ProposalID: "P-1", Price: "950.50", DeliveryDate: "2025-11-01T00:00:00Z", Currency: "inr" },
    })
    expect(updated.status).toBe(200)
    expect(updated.body).toMatchObject({
      Outcome: "updated",
      Seq: 3,
      Proposal: { Price: 950.5, Currency: "INR", Version: 2 },
    })

    const identical = await http(processor, "POST", "/api/v1/proposal-submissions", {
      ...submission(orderId("A"), sellerId(1), "P-1", 950.5),
    })
    expect(identical.status).toBe(200)
    expect(identical.body).toMatchObject({ Outcome: "unchanged", Proposal: { Version: 2 } })
    expect(identical.body).not.toHaveProperty("Seq")

    const stolen = await http<{ error: { code: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), sellerId(2), "P-1", 10),
    )
    expect(stolen.status).toBe(409)
    expect(stolen.body.error.code).toBe("proposal_owned_by_another_seller")

    const second = await http(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), sellerId(2), "P-2", 1200),
    )
    expect(second.status).toBe(201)

    await stream.waitFor((event) => event.proposalId === "P-2")
    expect(stream.statuses()).toEqual(["SellersSelected", "NewProposal", "ProposalUpdate", "NewProposal"])
    expect(stream.events[2]!.details).toMatchObject({ Price: "950.5", Currency: "INR", PreviousPrice: "1000" })
    expectGapFree(stream.events)

    const list = await http<{ Proposals: Array<{ ProposalID: string; SellerID: string; Status: string }> }>(
      processor,
      "GET",
      `/api/v1/orders/${orderId("A")}/proposals`,
    )
    expect(list.body.Proposals.map((proposal) => [proposal.ProposalID, proposal.SellerID, proposal.Status])).toEqual([
      ["P-1", sellerId(1), "SUBMITTED"],
      ["P-2", sellerId(2), "SUBMITTED"],
    ])
  })

  it("refuses a seller that was not selected (403), an unknown seller (404), an unknown order (404)", async () => {
    const far = await http<{ error: { code: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), sellerId(4), "P-4", 10),
    )
    expect(far.status).toBe(403)
    expect(far.body.error.code).toBe("seller_not_eligible")
    const unknown = await http<{ error: { code: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), `${sellerId(1)}-nobody`, "P-5", 10),
    )
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe("seller_not_found")
    const noOrder = await http<{ error: { code: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("missing"), sellerId(1), "P-1", 10),
    )
    expect(noOrder.status).toBe(404)
    expect(noOrder.body.error.code).toBe("order_not_found")
  })

  it("answers 400 with field paths for bad input, never 500", async () => {
    const bad = await http<{ error: { code: string; details: Array<{ path: string }> } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      {
        OrderReqID: orderId("A"),
        Seller: sellerId(1),
        ProposalDictObj: { ProposalID: "P-9", Price: "abc", DeliveryDate: "soon" },
      },
    )
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe("invalid_request")
    expect(bad.body.error.details.map((detail) => detail.path)).toEqual(
      expect.arrayContaining(["body.ProposalDictObj.Price", "body.ProposalDictObj.DeliveryDate"]),
    )
    const missingOrder = await http<{ error: { details: Array<{ path: string }> } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      { Seller: sellerId(1), ProposalDictObj: { ProposalID: "P-9", Price: 5, DeliveryDate: "2025-11-01" } },
    )
    expect(missingOrder.status).toBe(400)
    expect(missingOrder.body.error.details.map((detail) => detail.path)).toContain("body.OrderReqID")
    for (const body of ["not json", "[]", "null", JSON.stringify({ OrderReqID: 5 })]) {
      expect((await http(processor, "POST", "/api/v1/proposal-submissions", body)).status).toBe(400)
      expect((await http(processor, "POST", "/api/v1/followup", body)).status).toBe(400)
      expect((await http(processor, "POST", "/api/v1/edit-lock", body)).status).toBe(400)
    }
    const badLock = await http(processor, "POST", "/api/v1/edit-lock", {
      OrderReqID: orderId("A"),
      ProposalID: "P-1",
      TtlSeconds: 0,
    })
    expect(badLock.status).toBe(400)
  })

  it("accepts the seed README's proposal body right after the order opens (selection may still run)", async () => {
    const stream = open(orderId("SEED"), industry)
    await stream.header
    const seed = await http(processor, "POST", "/api/v1/proposal-submissions", {
      OrderReqID: orderId("SEED"),
      Seller: sellerId(1),
      ProposalDictObj: { ProposalID: "PROP-001", Price: 1000.0, DeliveryDate: "2025-11-01T00:00:00Z" },
    })
    expect(seed.status).toBe(201)
    await stream.waitFor((event) => statusOf(event) === "NewProposal")
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    expectGapFree(stream.events)
    stream.cancel()
  })

  it("edit lock: EditLock; a buyer follow-up is answered EDIT_LOCK for it and delivered after the release", async () => {
    const stream = streams[0]!
    const locked = await http(processor, "POST", "/api/v1/edit-lock", { OrderReqID: orderId("A"), ProposalID: "P-1" })
    expect(locked.status).toBe(200)
    expect(locked.body).toMatchObject({ Outcome: "locked", Status: "EDITLOCK" })
    const lockEvent = await stream.waitFor((event) => statusOf(event) === "EditLock")
    expect(lockEvent.proposalId).toBe("P-1")
    expect(Number(lockEvent.details.TtlSeconds)).toBe(300)

    const client = unaryClient(channel)
    const request = {
      orderReqId: orderId("A"),
      transactionUuid: `tx-${run}-1`,
      audienceProposalIds: ["P-1", "P-2"],
      message: content,
    }
    const answer = await client.processFollowUp(request)
    expect(answer.results).toEqual([
      { proposalId: "P-1", outcome: FollowUpOutcome.FOLLOW_UP_OUTCOME_EDIT_LOCK, seq: 0 },
      { proposalId: "P-2", outcome: FollowUpOutcome.FOLLOW_UP_OUTCOME_DELIVERED, seq: answer.seq },
    ])
    const delivered = await stream.waitFor((event) => statusOf(event) === "BuyerFollowUp" && event.proposalId === "P-2")
    expect(delivered.followUpId).toBe(answer.followUpId)
    expect(delivered.details).toMatchObject({ Text: content.text, SellerID: sellerId(2) })

    // The same transaction again: the first answer, nothing new.
    expect(await client.processFollowUp(request)).toEqual(answer)

    const released = await http<{ Outcome: string; DeliveredFollowUps: Array<string> }>(
      processor,
      "POST",
      "/api/v1/edit-lock/release",
      { OrderReqID: orderId("A"), ProposalID: "P-1" },
    )
    expect(released.status).toBe(200)
    expect(released.body).toMatchObject({ Outcome: "unlocked", DeliveredFollowUps: [answer.followUpId] })
    const late = await stream.waitFor((event) => statusOf(event) === "BuyerFollowUp" && event.proposalId === "P-1")
    expect(late.followUpId).toBe(answer.followUpId)
    expect(late.details.DeliveredAfterUnlock).toBe("true")
    const statuses = stream.statuses()
    expect(statuses.slice(-4)).toEqual(["EditLock", "BuyerFollowUp", "EditUnlock", "BuyerFollowUp"])
    expectGapFree(stream.events)

    await expectGrpcError(
      client.processFollowUp({ ...request, transactionUuid: "", audienceProposalIds: ["P-X"] }),
      Status.NOT_FOUND,
    )
    await expectGrpcError(
      client.processFollowUp({ ...request, transactionUuid: "", audienceProposalIds: [] }),
      Status.INVALID_ARGUMENT,
    )
  })

  it("an edit lock expires after its TTL and then delivers the follow-ups queued behind it", async () => {
    const stream = streams[0]!
    const locked = await http(processor, "POST", "/api/v1/edit-lock", {
      OrderReqID: orderId("A"),
      ProposalID: "P-2",
      TtlSeconds: 1,
    })
    expect(locked.status).toBe(200)
    const answer = await unaryClient(channel).processFollowUp({
      orderReqId: orderId("A"),
      transactionUuid: `tx-${run}-ttl`,
      audienceProposalIds: ["P-2"],
      message: { ...content, text: "Still there?" },
    })
    expect(answer.results[0]?.outcome).toBe(FollowUpOutcome.FOLLOW_UP_OUTCOME_EDIT_LOCK)
    const unlock = await stream.waitFor(
      (event) => statusOf(event) === "EditUnlock" && event.proposalId === "P-2",
      10_000,
    )
    expect(unlock.details.Reason).toBe("expired")
    const delivered = await stream.waitFor(
      (event) => event.followUpId === answer.followUpId && event.proposalId === "P-2",
    )
    expect(delivered.seq).toBe(unlock.seq + 1)
  })

  it("seller follow-up: SellerFollowUp event, idempotent by TransactionUUID, seed nesting accepted", async () => {
    const stream = streams[0]!
    const body = {
      OrderReqID: orderId("A"),
      ProposalID: "P-1",
      TransactionUUID: `stx-${run}`,
      Message: {
        content: { URLs: ["https://example.com/spec.pdf"], MessageType: "text", Message: "Delivery in 3 days" },
      },
    }
    const first = await http<{ FollowUpID: string; Seq: number; Duplicate: boolean }>(
      processor,
      "POST",
      "/api/v1/followup",
      body,
    )
    expect(first.status).toBe(201)
    expect(first.body.Duplicate).toBe(false)
    const again = await http<{ FollowUpID: string; Duplicate: boolean }>(processor, "POST", "/api/v1/followup", body)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ FollowUpID: first.body.FollowUpID, Duplicate: true })
    const event = await stream.waitFor((candidate) => statusOf(candidate) === "SellerFollowUp")
    expect(event).toMatchObject({ proposalId: "P-1", followUpId: first.body.FollowUpID, seq: first.body.Seq })
    expect(event.details).toMatchObject({
      Text: "Delivery in 3 days",
      URLs: JSON.stringify(["https://example.com/spec.pdf"]),
    })
    expect(stream.events.filter((candidate) => statusOf(candidate) === "SellerFollowUp")).toHaveLength(1)
  })

  it("pause (reason buyer) refuses proposals with 409; resume; finalise accepts the winner, closes the rest, ends the stream", async () => {
    const stream = streams[0]!
    const client = unaryClient(channel)
    const paused = await client.pauseOrder({
      orderReqId: orderId("A"),
      transactionUuid: `pause-${run}`,
      reason: "budget review",
    })
    const pauseEvent = await stream.waitFor((event) => statusOf(event) === "OrderPaused")
    expect(pauseEvent.seq).toBe(paused.seq)
    expect(pauseEvent.details).toMatchObject({ Reason: "buyer", Note: "budget review" })
    // Repeating the request answers the same; a new pause of a paused order is refused.
    expect(await client.pauseOrder({ orderReqId: orderId("A"), transactionUuid: `pause-${run}`, reason: "" })).toEqual(
      paused,
    )
    await expectGrpcError(
      client.pauseOrder({ orderReqId: orderId("A"), transactionUuid: "", reason: "" }),
      Status.FAILED_PRECONDITION,
    )

    const refused = await http<{ error: { code: string; message: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), sellerId(3), "P-3", 700),
    )
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe("order_paused")
    expect(refused.body.error.message).toContain("paused (by the buyer)")

    const resumed = await client.resumeOrder({ orderReqId: orderId("A"), transactionUuid: `resume-${run}` })
    expect((await stream.waitFor((event) => statusOf(event) === "OrderResumed")).seq).toBe(resumed.seq)
    await expectGrpcError(
      client.resumeOrder({ orderReqId: orderId("A"), transactionUuid: "" }),
      Status.FAILED_PRECONDITION,
    )

    await expectGrpcError(
      client.finaliseOrder({ orderReqId: orderId("A"), transactionUuid: "", proposalId: "P-X" }),
      Status.NOT_FOUND,
    )
    const finalised = await client.finaliseOrder({
      orderReqId: orderId("A"),
      transactionUuid: `fin-${run}`,
      proposalId: "P-1",
    })
    await stream.done
    const tail = stream.events.slice(-3)
    expect(tail.map((event) => [statusOf(event), event.proposalId])).toEqual([
      ["ProposalAccepted", "P-1"],
      ["ProposalClosed", "P-2"],
      ["OrderFinalised", ""],
    ])
    expect(tail[2]!.seq).toBe(finalised.seq)
    expect(tail[2]!.details.AcceptedProposalID).toBe("P-1")
    expectGapFree(stream.events)

    expect(
      await client.finaliseOrder({ orderReqId: orderId("A"), transactionUuid: `fin-${run}`, proposalId: "P-1" }),
    ).toEqual(finalised)
    await expectGrpcError(
      client.finaliseOrder({ orderReqId: orderId("A"), transactionUuid: "", proposalId: "" }),
      Status.FAILED_PRECONDITION,
    )
    const late = await http<{ error: { code: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      submission(orderId("A"), sellerId(1), "P-1", 1),
    )
    expect(late.status).toBe(409)
    expect(late.body.error.code).toBe("order_finalised")
    const list = await http<{ Proposals: Array<{ Status: string }> }>(
      processor,
      "GET",
      `/api/v1/orders/${orderId("A")}/proposals`,
    )
    expect(list.body.Proposals.map((proposal) => proposal.Status)).toEqual(["ACCEPTED", "CLOSED"])
  })

  it("a stream resumed from from_seq continues with no gap and no duplicate, and ends after OrderFinalised", async () => {
    const full = streams[0]!.events
    const cut = 4
    const resumed = open(orderId("A"), industry, { fromSeq: cut })
    await resumed.done
    expect(resumed.events.map((event) => event.eventId)).toEqual(full.slice(cut).map((event) => event.eventId))
    expectGapFree([...full.slice(0, cut), ...resumed.events])

    const atEnd = open(orderId("A"), industry, { fromSeq: full.length })
    await atEnd.done
    expect(atEnd.events).toEqual([])

    const beyond = open(orderId("A"), industry, { fromSeq: full.length + 5 })
    await expect(beyond.done).rejects.toMatchObject({ code: Status.OUT_OF_RANGE })
  })

  it("validates ProcessOrderStream (INVALID_ARGUMENT naming the fields of a new order)", async () => {
    const bad = open(orderId("BAD"), "", { location: undefined, notificationType: "Pigeon", sessionId: "" })
    const error = await bad.done.then(
      () => undefined,
      (failure: { code: Status; details: string }) => failure,
    )
    expect(error?.code).toBe(Status.INVALID_ARGUMENT)
    for (const field of ["industry", "location", "notification_type", "session_id"])
      expect(error?.details).toContain(field)
    const badId = open("has space", industry)
    await expect(badId.done).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT })
    // The REST rules (`@dcent/shared/orders/wire`): quantity > 0, a calendar delivery date, a buyer.
    const restRules = open(orderId("BAD2"), industry, {
      products: [{ productId: "", name: "LED", quantity: 0, unit: "", attributes: {} }],
      deliveryDate: "2030-02-30",
      buyerId: "",
    })
    await expect(restRules.done).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      details: expect.stringMatching(/buyer_id: .*delivery_date: .*products\[0\]\.quantity: /),
    })
    // Unknown orders stay unknown.
    expect((await http(processor, "GET", `/api/v1/orders/${orderId("BAD")}`)).status).toBe(404)
    expect((await http(processor, "GET", `/api/v1/orders/${orderId("BAD2")}`)).status).toBe(404)
  })

  it("stops a stream cleanly when the client cancels", async () => {
    const stream = open(orderId("CANCEL"), industry)
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    stream.cancel()
    await expect(stream.done).rejects.toBeDefined()
    // The processor keeps serving.
    expect((await http(processor, "GET", "/healthz")).status).toBe(200)
    expect(processor.stderr()).not.toMatch(/Error|defect/)
  })
})
