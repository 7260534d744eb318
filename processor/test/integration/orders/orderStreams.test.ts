/**
 * `ProcessOrderStreams` (many orders on one call) on a real processor process: each `open` is
 * answered `opened` before its events, events of each order arrive in seq order up to
 * `OrderFinalised`, a bad `open` is refused alone, `close` stops one order, and a re-open resumes
 * after its `from_seq`.
 */
import { type Channel, createChannel, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openOrderStreamsCall as openCall } from "../../../../test/support/orderStreamsCall.ts"
import type { RunningProcessor } from "../../../../test/support/services.ts"
import { startProcessor } from "../../../../test/support/services.ts"
import { http, registerSellers, runId, statusOf, streamRequest, unaryClient } from "../../support/orders.ts"

const run = runId()
const industry = `Mux-${run}`
const orderId = (name: string) => `MUX-${run}-${name}`
const seller = `MUX-${run}-S1`

describe("ProcessOrderStreams", () => {
  let processor: RunningProcessor
  let channel: Channel
  const calls: Array<ReturnType<typeof openCall>> = []
  const call = () => {
    const opened = openCall(channel)
    calls.push(opened)
    return opened
  }

  beforeAll(async () => {
    processor = await startProcessor({ env: { FIND_MAX_SEL: "1", TIMER_POLL_MS: "100" } })
    channel = createChannel(processor.grpcAddress)
    await registerSellers(processor, [
      { SellerID: seller, Name: "One", Industries: [industry], Location: { Lat: 12.9766, Lng: 77.5946 } },
    ])
  })

  afterAll(async () => {
    for (const opened of calls) opened.cancel()
    channel?.close()
    await processor?.stop()
  })

  it("opens many orders on one call: `opened` first, then each order's events in seq order", async () => {
    const mux = call()
    const ids = ["A", "B", "C"].map(orderId)
    for (const id of ids) mux.send({ open: streamRequest(id, industry) })
    await mux.waitFor(
      () => ids.every((id) => mux.eventsOf(id).some((event) => statusOf(event) === "SellersSelected")),
      "SellersSelected of every order",
    )
    const summary = mux.summary()
    for (const id of ids) {
      const opened = summary.indexOf(`opened:${id}`)
      expect(opened, summary.join(" ")).toBeGreaterThanOrEqual(0)
      expect(summary.indexOf(`${id}:1:SellersSelected`)).toBeGreaterThan(opened)
      const answer = mux.responses.find((response) => response.opened?.orderReqId === id)!.opened!
      expect(answer).toMatchObject({ status: "SUBMITTED", lastSeq: 0 })
    }

    // Live events of one order reach the call, in order.
    for (const [index, proposal] of ["P-1", "P-2", "P-3"].entries()) {
      const created = await http(processor, "POST", "/api/v1/proposal-submissions", {
        OrderReqID: ids[0],
        Seller: seller,
        ProposalDictObj: { ProposalID: proposal, Price: 100 + index, DeliveryDate: "2030-01-01T00:00:00Z" },
      })
      expect(created.status).toBe(201)
    }
    await mux.waitFor(() => mux.eventsOf(ids[0]!).length >= 4, "three proposals")
    expect(mux.eventsOf(ids[0]!).map((event) => event.seq)).toEqual([1, 2, 3, 4])
  })

  it("refuses a bad open alone (the call goes on), and an open beyond the log's end", async () => {
    const mux = call()
    mux.send({ open: streamRequest(orderId("BAD"), industry, { location: { lat: 200, lng: 0 } }) })
    mux.send({ open: streamRequest(orderId("A"), industry, { fromSeq: 999 }) })
    mux.send({ open: streamRequest(orderId("B"), industry, { fromSeq: 0 }) })
    await mux.waitFor(() => mux.eventsOf(orderId("B")).length >= 1, "the good order's events")
    const refusals = mux.responses.flatMap((response) => (response.refused === undefined ? [] : [response.refused]))
    expect(refusals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          orderReqId: orderId("BAD"),
          code: Status.INVALID_ARGUMENT,
          errorCode: "invalid_request",
        }),
        expect.objectContaining({
          orderReqId: orderId("A"),
          code: Status.OUT_OF_RANGE,
          errorCode: "from_seq_out_of_range",
        }),
      ]),
    )
    expect(refusals.find((refusal) => refusal.orderReqId === orderId("BAD"))?.message).toContain("location.lat")
  })

  it("close stops one order; a re-open resumes after its from_seq; OrderFinalised is an order's last event", async () => {
    const mux = call()
    const id = orderId("C")
    mux.send({ open: streamRequest(id, industry, { fromSeq: 1 }) })
    await mux.waitFor(() => mux.summary().includes(`opened:${id}`), "opened")
    mux.send({ close: id })
    // A proposal after the close: not on this call.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const created = await http(processor, "POST", "/api/v1/proposal-submissions", {
      OrderReqID: id,
      Seller: seller,
      ProposalDictObj: { ProposalID: "P-9", Price: 9, DeliveryDate: "2030-01-01T00:00:00Z" },
    })
    expect(created.status).toBe(201)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(mux.eventsOf(id)).toEqual([])

    mux.send({ open: streamRequest(id, industry, { fromSeq: 1 }) })
    await mux.waitFor(() => mux.eventsOf(id).length >= 1, "the proposal after re-open")
    expect(mux.eventsOf(id).map((event) => [event.seq, statusOf(event)])).toEqual([[2, "NewProposal"]])

    const finalised = await unaryClient(channel).finaliseOrder({
      orderReqId: id,
      transactionUuid: `${run}-fin`,
      proposalId: "P-9",
    })
    await mux.waitFor(() => mux.eventsOf(id).some((event) => statusOf(event) === "OrderFinalised"), "OrderFinalised")
    const events = mux.eventsOf(id)
    expect(events.at(-1)?.seq).toBe(finalised.seq)
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: events.length }, (_, i) => i + 2))
  })
})
