/**
 * The processor's gRPC contract as the requestor relies on it, run on the real processor (a
 * process) and on the requestor tests' stand-in (`requestor/test/support/fakeProcessor.ts`): the
 * same cases must pass on both, so the fake cannot drift from what it stands for.
 *
 * What differs is only how an order gets its events: the real processor selects sellers by itself
 * (dispatch) and takes proposals over REST; the fake is told to `emit` them.
 */
import { randomUUID } from "node:crypto"
import { OrderNonStreamingServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import { errorDetailsClientMiddleware, errorInfoOf, fieldViolationsOf } from "@dcent/shared/grpc/errorDetails"
import { ClientError, createChannel, createClientFactory, type Metadata, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { http, registerSellers, statusOf, streamRequest, unaryClient } from "../../processor/test/support/orders.ts"
import { startFakeProcessor } from "../../requestor/test/support/fakeProcessor.ts"
import { openOrderStreamsCall } from "../support/orderStreamsCall.ts"
import { type RunningProcessor, startProcessor } from "../support/services.ts"

interface ProcessorUnderTest {
  readonly address: string
  /** Called once the order is open on a call: its sellers get selected (event 1). */
  readonly selectSellers: (orderReqId: string) => Promise<void>
  /** A seller's proposal on the order (the next event). */
  readonly propose: (orderReqId: string, proposalId: string) => Promise<void>
  readonly close: () => Promise<void>
}

const run = randomUUID().slice(0, 8)
const industry = `Contract-${run}`
const seller = `CONTRACT-${run}-S1`

const realProcessor = async (): Promise<ProcessorUnderTest> => {
  const processor: RunningProcessor = await startProcessor({ env: { FIND_MAX_SEL: "1" } })
  await registerSellers(processor, [
    { SellerID: seller, Name: "Contract seller", Industries: [industry], Location: { Lat: 12.9766, Lng: 77.5946 } },
  ])
  return {
    address: processor.grpcAddress,
    selectSellers: async () => {},
    propose: async (orderReqId, proposalId) => {
      const result = await http(processor, "POST", "/api/v1/proposal-submissions", {
        OrderReqID: orderReqId,
        Seller: seller,
        ProposalDictObj: { ProposalID: proposalId, Price: 100, DeliveryDate: "2030-01-31" },
      })
      expect(result.status, JSON.stringify(result.body)).toBe(201)
    },
    close: async () => {
      await processor.stop()
    },
  }
}

const fakeProcessor = async (): Promise<ProcessorUnderTest> => {
  const fake = await startFakeProcessor()
  return {
    address: fake.address,
    selectSellers: async (orderReqId) => {
      fake.emit(orderReqId, "SellersSelected", { details: { Sellers: JSON.stringify([{ SellerID: seller }]) } })
    },
    propose: async (orderReqId, proposalId) => {
      fake.emit(orderReqId, "NewProposal", { proposalId, details: { SellerID: seller, Price: "100" } })
    },
    close: () => fake.close(),
  }
}

describe.each([
  ["the real processor", realProcessor],
  ["the requestor tests' fake processor", fakeProcessor],
])("processor gRPC contract: %s", (_name, start) => {
  let target: ProcessorUnderTest
  const calls: Array<ReturnType<typeof openOrderStreamsCall>> = []
  const channels: Array<ReturnType<typeof createChannel>> = []
  const connect = () => {
    const channel = createChannel(target.address)
    channels.push(channel)
    return channel
  }
  const openCall = () => {
    const call = openOrderStreamsCall(connect())
    calls.push(call)
    return call
  }
  const orderId = (name: string) => `CONTRACT-${run}-${name}-${calls.length}`
  const statuses = (call: ReturnType<typeof openCall>, id: string) =>
    call.eventsOf(id).map((event) => `${event.seq}:${statusOf(event)}`)

  /** Opens `id` on `call` and waits for its sellers (seq 1). */
  const openWithSellers = async (call: ReturnType<typeof openCall>, id: string) => {
    call.send({ open: streamRequest(id, industry) })
    await call.waitFor(() => call.summary().includes(`opened:${id}`), `opened ${id}`)
    await target.selectSellers(id)
    await call.waitFor(() => statuses(call, id).includes("1:SellersSelected"), `SellersSelected of ${id}`)
  }

  beforeAll(async () => {
    target = await start()
  })

  afterAll(async () => {
    for (const call of calls) call.cancel()
    for (const channel of channels) channel.close()
    await target?.close()
  })

  it("answers `opened` (SUBMITTED, last seq 0) before any event of a new order, then its events from seq 1", async () => {
    const call = openCall()
    const id = orderId("OPEN")
    await openWithSellers(call, id)
    const summary = call.summary().filter((line) => line.includes(id))
    expect(summary.slice(0, 2)).toEqual([`opened:${id}`, `${id}:1:SellersSelected`])
    const opened = call.responses.find((response) => response.opened?.orderReqId === id)?.opened
    expect(opened).toMatchObject({ status: "SUBMITTED", lastSeq: 0 })
  })

  it("streams a proposal, a pause and a resume in seq order; each unary answer names its event's seq", async () => {
    const call = openCall()
    const id = orderId("PAUSE")
    await openWithSellers(call, id)
    await target.propose(id, `${id}-P1`)
    await call.waitFor(() => statuses(call, id).includes("2:NewProposal"), "NewProposal")
    const unary = unaryClient(connect())
    const paused = await unary.pauseOrder({ orderReqId: id, transactionUuid: randomUUID(), reason: "lunch" })
    expect(paused.seq).toBe(3)
    const resumed = await unary.resumeOrder({ orderReqId: id, transactionUuid: randomUUID() })
    expect(resumed.seq).toBe(4)
    await call.waitFor(() => statuses(call, id).length >= 4, "OrderResumed")
    expect(statuses(call, id)).toEqual(["1:SellersSelected", "2:NewProposal", "3:OrderPaused", "4:OrderResumed"])
  })

  it("finalises with a winner: ProposalAccepted, then OrderFinalised (the answer's seq), then nothing more", async () => {
    const call = openCall()
    const id = orderId("FINAL")
    await openWithSellers(call, id)
    await target.propose(id, `${id}-P1`)
    await call.waitFor(() => statuses(call, id).includes("2:NewProposal"), "NewProposal")
    const unary = unaryClient(connect())
    const finalised = await unary.finaliseOrder({
      orderReqId: id,
      transactionUuid: randomUUID(),
      proposalId: `${id}-P1`,
    })
    await call.waitFor(() => statuses(call, id).some((line) => line.endsWith(":OrderFinalised")), "OrderFinalised")
    expect(statuses(call, id)).toEqual([
      "1:SellersSelected",
      "2:NewProposal",
      "3:ProposalAccepted",
      `${finalised.seq}:OrderFinalised`,
    ])
    expect(finalised.seq).toBe(4)
  })

  it("re-opened from a seq, sends `opened` with the last seq and only the events after it", async () => {
    const first = openCall()
    const id = orderId("REOPEN")
    await openWithSellers(first, id)
    await target.propose(id, `${id}-P1`)
    await first.waitFor(() => statuses(first, id).includes("2:NewProposal"), "NewProposal")
    const second = openCall()
    second.send({ open: streamRequest(id, industry, { fromSeq: 1 }) })
    await second.waitFor(() => statuses(second, id).includes("2:NewProposal"), "NewProposal after seq 1")
    expect(second.responses.find((response) => response.opened?.orderReqId === id)?.opened).toMatchObject({
      lastSeq: 2,
    })
    expect(statuses(second, id)).toEqual(["2:NewProposal"])
  })

  it("refuses unknown orders (NOT_FOUND) and a finalised order's pause (FAILED_PRECONDITION, its error code)", async () => {
    const unary = unaryClient(connect())
    /** Call options that keep the trailer the call ends with. */
    const keepTrailer = () => {
      const kept: { trailer?: Metadata } = {}
      return { kept, options: { onTrailer: (trailer: Metadata) => Object.assign(kept, { trailer }) } }
    }
    const unknown = keepTrailer()
    await expect(
      unary.finaliseOrder(
        { orderReqId: orderId("NOPE"), transactionUuid: randomUUID(), proposalId: "" },
        unknown.options,
      ),
    ).rejects.toMatchObject({ code: Status.NOT_FOUND })
    expect(unknown.kept.trailer?.get("dcent-error-code")).toBe("order_not_found")

    const call = openCall()
    const id = orderId("DONE")
    await openWithSellers(call, id)
    await unary.finaliseOrder({ orderReqId: id, transactionUuid: randomUUID(), proposalId: "" })
    const refused = keepTrailer()
    await expect(
      unary.pauseOrder({ orderReqId: id, transactionUuid: randomUUID(), reason: "" }, refused.options),
    ).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION })
    expect(refused.kept.trailer?.get("dcent-error-code")).toBe("order_finalised")
  })

  it("sends each error's code as the standard google.rpc.ErrorInfo too, and a bad field as a BadRequest violation", async () => {
    const rich = createClientFactory()
      .use(errorDetailsClientMiddleware)
      .create(OrderNonStreamingServiceDefinition, connect())
    const failure = async (call: Promise<unknown>) => {
      const error = await call.then(
        () => undefined,
        (error: unknown) => error,
      )
      if (!(error instanceof ClientError)) throw new Error(`expected a gRPC error, got ${String(error)}`)
      return { code: error.code, info: errorInfoOf(error), violations: fieldViolationsOf(error) }
    }
    const unknown = await failure(
      rich.finaliseOrder({ orderReqId: orderId("NOPE"), transactionUuid: randomUUID(), proposalId: "" }),
    )
    expect(unknown).toMatchObject({
      code: Status.NOT_FOUND,
      info: { reason: "order_not_found", domain: "dcent" },
      violations: [],
    })

    const call = openCall()
    const id = orderId("RICH")
    await openWithSellers(call, id)
    const blank = await failure(
      rich.processFollowUp({
        orderReqId: id,
        transactionUuid: randomUUID(),
        audienceProposalIds: [`${id}-P1`],
        message: { text: "   ", urls: [], messageType: "" },
      }),
    )
    expect(blank.code).toBe(Status.INVALID_ARGUMENT)
    expect(blank.info).toMatchObject({ reason: "invalid_request", domain: "dcent" })
    expect(blank.violations.map((violation) => violation.path)).toEqual(["message.text"])

    await rich.finaliseOrder({ orderReqId: id, transactionUuid: randomUUID(), proposalId: "" })
    const refused = await failure(rich.pauseOrder({ orderReqId: id, transactionUuid: randomUUID(), reason: "" }))
    expect(refused).toMatchObject({ code: Status.FAILED_PRECONDITION, info: { reason: "order_finalised" } })
  })
})
