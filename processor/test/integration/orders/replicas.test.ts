/**
 * Two processor processes sharing Redis: a stream opened on the first sees, live and in order,
 * what the second commits (a proposal, a buyer follow-up, the finalisation); a stream resumed on
 * the second continues where the first stopped; SIGTERM ends open streams with UNAVAILABLE.
 */
import { type Channel, createChannel, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseExposition, sumSamples } from "../../../../shared/test/support/exposition.ts"
import { eventually } from "../../../../test/support/e2e.ts"
import type { RunningProcessor } from "../../../../test/support/services.ts"
import { startProcessor } from "../../../../test/support/services.ts"
import {
  type CollectedStream,
  expectGapFree,
  http,
  openStream,
  registerSellers,
  runId,
  statusOf,
  streamRequest,
  unaryClient,
} from "../../support/orders.ts"

const run = runId()
const industry = `Replicas-${run}`
const order = `RP-${run}-1`
const seller = `RP-${run}-S1`

describe("two processor replicas", () => {
  let first: RunningProcessor
  let second: RunningProcessor
  let firstChannel: Channel
  let secondChannel: Channel
  const streams: Array<CollectedStream> = []

  beforeAll(async () => {
    ;[first, second] = await Promise.all([
      startProcessor({ name: "processor-1" }),
      startProcessor({ name: "processor-2" }),
    ])
    firstChannel = createChannel(first.grpcAddress)
    secondChannel = createChannel(second.grpcAddress)
    await registerSellers(second, [
      { SellerID: seller, Name: "Replica seller", Industries: [industry], Location: { Lat: 12.98, Lng: 77.6 } },
    ])
  })

  afterAll(async () => {
    for (const stream of streams) stream.cancel()
    firstChannel?.close()
    secondChannel?.close()
    await Promise.all([first?.stop(), second?.stop()])
  })

  it("a proposal submitted to the second processor reaches the stream opened on the first", async () => {
    const stream = openStream(firstChannel, streamRequest(order, industry))
    streams.push(stream)
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")

    const submitted = await http(second, "POST", "/api/v1/proposal-submissions", {
      OrderReqID: order,
      Seller: seller,
      ProposalDictObj: { ProposalID: "PROP-001", Price: 1000.0, DeliveryDate: "2025-11-01T00:00:00Z" },
    })
    expect(submitted.status).toBe(201)
    const event = await stream.waitFor((candidate) => statusOf(candidate) === "NewProposal", 5_000)
    expect(event).toMatchObject({ proposalId: "PROP-001", seq: 2 })

    // A buyer follow-up through the second replica's gRPC, too.
    const answer = await unaryClient(secondChannel).processFollowUp({
      orderReqId: order,
      transactionUuid: `tx-${run}`,
      audienceProposalIds: ["PROP-001"],
      message: { urls: [], messageType: "text", text: "Can you ship by Friday?" },
    })
    const followUp = await stream.waitFor((candidate) => statusOf(candidate) === "BuyerFollowUp", 5_000)
    expect(followUp.seq).toBe(answer.seq)
    expectGapFree(stream.events)
  })

  it("a stream resumed on the other replica continues with no gap and no duplicate", async () => {
    const before = streams[0]!.events.length
    const resumed = openStream(secondChannel, streamRequest(order, industry, { fromSeq: before }))
    streams.push(resumed)
    await resumed.header
    await unaryClient(firstChannel).finaliseOrder({
      orderReqId: order,
      transactionUuid: `fin-${run}`,
      proposalId: "PROP-001",
    })
    await Promise.all([streams[0]!.done, resumed.done])
    expect(resumed.events.map((event) => event.eventId)).toEqual(
      streams[0]!.events.slice(before).map((event) => event.eventId),
    )
    expect(resumed.statuses()).toEqual(["ProposalAccepted", "OrderFinalised"])
    expectGapFree([...streams[0]!.events.slice(0, before), ...resumed.events])
  })

  it("a cancelled stream ends on the server at once (open gauge back down, disconnect counted client_closed)", async () => {
    const labels = { stream: "processor_order_stream" }
    const scrape = async () => {
      const response = await fetch(`${second.httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
      const samples = parseExposition(await response.text())
      return {
        open: sumSamples(samples, "dcent_streams_open", labels),
        clientClosed: sumSamples(samples, "dcent_stream_disconnects_total", { ...labels, reason: "client_closed" }),
      }
    }
    const before = await scrape()
    const stream = openStream(secondChannel, streamRequest(`RP-${run}-C`, industry))
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    // Idle now (no event will come): only the cancellation can end it on the server.
    await eventually(scrape, (now) => now.open === before.open + 1, { what: "the stream counted open" })
    stream.cancel()
    await eventually(scrape, (now) => now.open === before.open && now.clientClosed === before.clientClosed + 1, {
      what: "the cancelled stream closed on the server",
    })
  })

  it("SIGTERM ends the open streams with UNAVAILABLE and exits 0 quickly", async () => {
    const stream = openStream(firstChannel, streamRequest(`RP-${run}-2`, industry))
    streams.push(stream)
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    const exit = await first.stop({ timeoutMs: 15_000 })
    await expect(stream.done).rejects.toMatchObject({
      code: Status.UNAVAILABLE,
      details: expect.stringMatching(/shutting down.*from_seq/),
    })
    expect(exit, first.output()).toMatchObject({ code: 0, killed: false })
    expect(exit.durationMs).toBeLessThan(5_000)
  })
})
