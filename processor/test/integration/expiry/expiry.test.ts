/**
 * Order expiry on a real processor (`ORDER_EXPIRY_MINUTES=0.03`, i.e. 1.8 s): a submitted order
 * pauses itself with reason `expired`, refuses proposals saying so, and a resumed order gets a
 * new expiry (and expires again).
 */
import { type Channel, createChannel } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
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
const industry = `Expiry-${run}`
const order = `EX-${run}`
const seller = `EX-${run}-S1`

describe("order expiry", () => {
  let processor: RunningProcessor
  let channel: Channel
  let stream: CollectedStream | undefined

  beforeAll(async () => {
    processor = await startProcessor({ env: { ORDER_EXPIRY_MINUTES: "0.03", TIMER_POLL_MS: "100" } })
    channel = createChannel(processor.grpcAddress)
    await registerSellers(processor, [
      { SellerID: seller, Name: "Expiry seller", Industries: [industry], Location: { Lat: 12.98, Lng: 77.6 } },
    ])
  })

  afterAll(async () => {
    stream?.cancel()
    channel?.close()
    await processor?.stop()
  })

  it("pauses a submitted order with reason expired, and a resumed order expires again later", async () => {
    stream = openStream(channel, streamRequest(order, industry))
    const opened = Date.now()
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    const expired = await stream.waitFor((event) => statusOf(event) === "OrderPaused", 10_000)
    expect(expired.details.Reason).toBe("expired")
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1_700)

    const refused = await http<{ error: { code: string; message: string } }>(
      processor,
      "POST",
      "/api/v1/proposal-submissions",
      {
        OrderReqID: order,
        Seller: seller,
        ProposalDictObj: { ProposalID: "P-1", Price: 10, DeliveryDate: "2025-11-01" },
      },
    )
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({ code: "order_paused", message: expect.stringContaining("expired") })

    const resumed = await unaryClient(channel).resumeOrder({ orderReqId: order, transactionUuid: `resume-${run}` })
    const resumedEvent = await stream.waitFor((event) => statusOf(event) === "OrderResumed")
    expect(resumedEvent.seq).toBe(resumed.seq)
    expect(Date.parse(resumedEvent.details.ExpiresAt ?? "")).toBeGreaterThan(Date.now())
    await stream.waitFor((event) => statusOf(event) === "OrderPaused" && event.seq > resumedEvent.seq, 10_000)
    expect(stream.statuses()).toEqual(["SellersSelected", "OrderPaused", "OrderResumed", "OrderPaused"])
    expectGapFree(stream.events)
    expect(processor.stderr()).toBe("")
  })
})
