/**
 * The processor dies mid-order (SIGKILL, twice) and a new one starts on the SAME gRPC port with
 * the same Redis: the requestor's `PROCESSOR_GRPC_URL` never changes, its stream holder
 * reconnects from the last recorded seq, and a buyer app that stayed on one `WatchOrder` call
 * (to the requestor) the whole time sees every event exactly once, in order, seq 1..N without a
 * gap, through `OrderFinalised` — including the events appended while the requestor was not
 * connected. `BUYER_NOTIFY` (published by the requestor, which never died) has each event once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  awaitTopic,
  describeResponse,
  http,
  type JsonResponse,
  type SeenEvent,
  type Stack,
  startReadyProcessor,
  startStack,
  stopStack,
  uniqueId,
  watchOrder,
  withRedis,
} from "../support/e2e.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../support/redisKeys.ts"
import type { RunningProcessor } from "../support/services.ts"

const PROCESSOR_DB = 5
const REQUESTOR_DB = 6

const run = uniqueId("E2E")
const orderId = `${run}-RECONNECT`
const session = `${run}-SESSION`
const industry = `E2E Reconnect ${run}`
const origin = { Lat: 48.8566, Lng: 2.3522 }
const sellers = [0.01, 0.02, 0.03].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `E2E reconnect seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))
const [s1, s2, s3] = sellers.map((seller) => seller.SellerID) as [string, string, string]
const proposal = (n: number) => `${run}-P${n}`

let stack: Stack
let processor: RunningProcessor
let grpc: ReturnType<typeof watchOrder>
let since: number
/** [status, proposalId] per seq, as the test drives the order. */
const expected: Array<readonly [string, string]> = []

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

const submit = async (seller: string, proposalId: string, price: number, status = 201) => {
  const response = await http("POST", `${processor.httpUrl}/api/v1/proposal-submissions`, {
    OrderReqID: orderId,
    Seller: seller,
    ProposalDictObj: { ProposalID: proposalId, Price: price, DeliveryDate: "2026-12-01", Currency: "EUR" },
  })
  expectStatus(response, status)
  expected.push([status === 201 ? "NewProposal" : "ProposalUpdate", proposalId])
  expect(response.body.Seq).toBe(expected.length)
}

/**
 * A buyer call as a well-behaved client makes it: a 503 (the requestor's channel to the restarted
 * processor is still reconnecting) must carry `Retry-After`, and is retried for up to 15 s.
 */
const buyerCall = async (method: string, path: string, body?: unknown): Promise<JsonResponse> => {
  const deadline = Date.now() + 15_000
  let response = await http(method, `${stack.requestor.httpUrl}${path}`, body)
  while (response.status === 503 && Date.now() < deadline) {
    unavailableAnswers += 1
    expect(response.headers.get("retry-after"), describeResponse(response)).toMatch(/^\d+$/)
    await new Promise((resolve) => setTimeout(resolve, 250))
    response = await http(method, `${stack.requestor.httpUrl}${path}`, body)
  }
  return response
}
let unavailableAnswers = 0

const seen = (seq: number): Promise<SeenEvent> => grpc.waitFor((event) => event.seq === seq, `event #${seq}`, 30_000)

/** SIGKILL the processor, then start a new one on the same HTTP and gRPC ports (same Redis). */
const crashAndRestart = async () => {
  const old = processor
  const exit = await old.stop({ signal: "SIGKILL" })
  expect(exit.signal).toBe("SIGKILL")
  processor = await startReadyProcessor(
    stack.options,
    { httpPort: old.httpPort, grpcPort: old.grpcPort },
    "processor(restarted)",
  )
  expect(processor.grpcAddress).toBe(old.grpcAddress)
  expect(processor.pid).not.toBe(old.pid)
}

beforeAll(async () => {
  since = Date.now() - 2_000
  await withRedis(REQUESTOR_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  stack = await startStack({ processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB })
  processor = stack.processor
})

afterAll(async () => {
  grpc?.close()
  await stopStack({ requestor: stack?.requestor, processor })
})

describe(`processor crash and restart on the same gRPC port (${orderId})`, () => {
  it("runs the order across two processor crashes; one WatchOrder call sees every event once, in order", async () => {
    expectStatus(await http("POST", `${processor.httpUrl}/api/v1/sellers`, sellers), 201)
    expectStatus(
      await http("POST", `${stack.requestor.httpUrl}/api/v1/orders`, {
        OrderReqID: orderId,
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Copper wire, 2.5 mm², 100 m"],
        DeliveryDate: "2026-12-01",
      }),
      201,
    )
    grpc = watchOrder(stack.requestor.grpcAddress, orderId)
    expectStatus(
      await http("POST", `${stack.requestor.httpUrl}/api/v1/initiate`, {
        OrderReqId: orderId,
        SessionID: session,
        "Notification type": "SMS",
      }),
      202,
    )
    expected.push(["SellersSelected", ""])
    await seen(1)

    await submit(s1, proposal(1), 100)
    await submit(s2, proposal(2), 110)
    await seen(3)
    // The last event before the crash may or may not have reached the requestor yet.
    await submit(s3, proposal(3), 120)

    await crashAndRestart()
    expect(grpc.hasEnded(), "the buyer's WatchOrder call survives the processor crash").toBe(false)

    // Appended by the new processor, possibly before the requestor reconnected.
    await submit(s1, proposal(4), 95)
    await submit(s2, proposal(2), 105, 200)
    await seen(expected.length)

    // A second crash right after a burst of changes.
    await submit(s3, proposal(5), 90)
    await submit(s1, proposal(1), 85, 200)
    await crashAndRestart()
    await submit(s2, proposal(6), 80)

    // The buyer's unary calls reach the new processor too.
    const pause = await buyerCall("PUT", `/api/v1/pause/${orderId}`)
    expectStatus(pause, 200)
    expected.push(["OrderPaused", ""])
    expect(pause.body.Seq).toBe(expected.length)
    const resume = await buyerCall("PUT", `/api/v1/resume/${orderId}`)
    expectStatus(resume, 200)
    expected.push(["OrderResumed", ""])

    const finalise = await buyerCall("PUT", `/api/v1/finalize/${orderId}`, { ProposalID: proposal(6) })
    expectStatus(finalise, 200)
    for (const n of [1, 2, 3, 4, 5, 6]) {
      expected.push([n === 6 ? "ProposalAccepted" : "ProposalClosed", proposal(n)])
    }
    expected.push(["OrderFinalised", ""])
    expect(finalise.body.Seq).toBe(expected.length)

    const ended = await Promise.race([
      grpc.ended,
      new Promise((resolve) => setTimeout(() => resolve("still open after 30 s"), 30_000)),
    ])
    expect(ended).toEqual({ clean: true })
    expect(grpc.events.map(({ seq, status, proposalId }) => ({ seq, status, proposalId }))).toEqual(
      expected.map(([status, proposalId], index) => ({ seq: index + 1, status, proposalId })),
    )
    expect(new Set(grpc.events.map((event) => event.eventId)).size).toBe(expected.length)
    if (unavailableAnswers > 0)
      console.info(`reconnect: the requestor answered 503 ${unavailableAnswers}× after a restart`)
  })

  it("the requestor and the new processor agree on the final state", async () => {
    const buyerView = await http("GET", `${stack.requestor.httpUrl}/api/v1/orders/${orderId}`)
    expectStatus(buyerView, 200)
    expect(buyerView.body).toMatchObject({
      Status: "FINALISED",
      AcceptedProposalID: proposal(6),
      LastSeq: expected.length,
    })
    const sellerView = await http("GET", `${processor.httpUrl}/api/v1/orders/${orderId}`)
    expectStatus(sellerView, 200)
    expect(sellerView.body).toMatchObject({
      Status: "FINALISED",
      AcceptedProposalID: proposal(6),
      LastSeq: expected.length,
    })
  })

  it("BUYER_NOTIFY carries each buyer-facing event exactly once, in seq order", async () => {
    const buyerFacing = grpc.events.filter((event) => !["BuyerFollowUp", "SellerFollowUp"].includes(event.status))
    const records = await awaitTopic(
      "BUYER_NOTIFY",
      new Set([orderId]),
      since,
      (found) => found.length >= buyerFacing.length,
    )
    expect(records.map((record) => [record.payload.Seq, record.payload.EventID])).toEqual(
      buyerFacing.map((event) => [event.seq, event.eventId]),
    )
  })

  it("SELLER_ACKNOWLEDGEMENTS has every submission (at least once across the crashes, stable EventIDs)", async () => {
    const submissions = grpc.events.filter((event) => ["NewProposal", "ProposalUpdate"].includes(event.status))
    const wanted = submissions.map((event) => `${event.eventId}:${event.details.SellerID}`)
    const records = await awaitTopic("SELLER_ACKNOWLEDGEMENTS", new Set([orderId]), since, (found) =>
      wanted.every((id) => found.some((record) => record.payload.EventID === id)),
    )
    expect([...new Set(records.map((record) => record.payload.EventID))].sort()).toEqual([...wanted].sort())
  })
})
