/**
 * The requestor's bounds on open event streams, as a real process (`SSE_MAX_STREAMS=2`,
 * `GRPC_MAX_STREAMS=2`): past them a new SSE stream gets 503 `overloaded` + `Retry-After` and a
 * new `WatchOrder` RESOURCE_EXHAUSTED, on open; the probes still answer; a stream that closes
 * gives its slot back; a processor refusing a call (RESOURCE_EXHAUSTED, `retry-after`) reaches the
 * buyer as 503 `overloaded` with the processor's Retry-After. (The REST and gRPC limiters
 * themselves: shared/test/integration/admission.)
 */
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { type Channel, ClientError, createChannel, createClient, Metadata, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseExposition, sumSamples } from "../../../shared/test/support/exposition.ts"
import {
  cleanOrders,
  dropStaleLiveOrders,
  eventually,
  post,
  put,
  startTestRequestor,
  type TestRequestor,
  uniqueId,
} from "../support/clients.ts"
import { type FakeProcessor, startFakeProcessor } from "../support/fakeProcessor.ts"

const orderReqId = uniqueId("admission")
const liveOrderId = uniqueId("admission-live")

let fake: FakeProcessor
let requestor: TestRequestor
let api: string
let channel: Channel

beforeAll(async () => {
  await dropStaleLiveOrders()
  fake = await startFakeProcessor()
  requestor = await startTestRequestor(fake.address, {
    SSE_MAX_STREAMS: "2",
    // Longer than any wait below: a closed SSE stream must end without waiting for a heartbeat.
    SSE_HEARTBEAT_SECONDS: "60",
    GRPC_MAX_STREAMS: "2",
    OVERLOAD_RETRY_AFTER_SECONDS: "3",
  })
  api = requestor.httpUrl
  channel = createChannel(requestor.grpcAddress)
  const registered = await post(`${api}/api/v1/orders`, details(orderReqId))
  expect(registered.status, JSON.stringify(registered.body)).toBe(201)
})

const details = (id: string) => ({
  OrderReqID: id,
  BuyerID: "BUYER-1",
  Industry: "Electronics",
  Location: [77.5946, 12.9716],
  Products: [{ Name: "LED panel", Quantity: "50", Unit: "pcs" }],
  DeliveryDate: "2024-01-15",
  Priority: "high",
})

afterAll(async () => {
  channel?.close()
  await requestor?.stop()
  await fake?.close()
  await cleanOrders([orderReqId, liveOrderId])
})

const scrape = async () => parseExposition(await (await fetch(`${api}/metrics`)).text())

const admission = async (entry: string) => {
  const samples = await scrape()
  return {
    inFlight: sumSamples(samples, "dcent_admission_in_flight", { entry }),
    refused: sumSamples(samples, "dcent_admission_refused_total", { entry }),
  }
}

/** Open SSE responses and those the client closed, as the requestor counts them. */
const sseStreams = async () => {
  const samples = await scrape()
  return {
    open: sumSamples(samples, "dcent_streams_open", { stream: "sse" }),
    clientClosed: sumSamples(samples, "dcent_stream_disconnects_total", { stream: "sse", reason: "client_closed" }),
  }
}

/** An SSE stream held open (its first bytes read); `close` aborts it. */
const openSse = async () => {
  const controller = new AbortController()
  const response = await fetch(`${api}/api/v1/orders/${orderReqId}/events`, {
    headers: { accept: "text/event-stream" },
    signal: controller.signal,
  })
  if (response.status === 200 && response.body !== null) await response.body.getReader().read()
  return { response, close: () => controller.abort() }
}

describe("requestor stream bounds", () => {
  it("SSE: past SSE_MAX_STREAMS a new stream gets 503 overloaded + Retry-After; a closed stream frees its slot", async () => {
    const first = await openSse()
    const second = await openSse()
    expect([first.response.status, second.response.status]).toEqual([200, 200])

    const third = await openSse()
    expect(third.response.status).toBe(503)
    expect(third.response.headers.get("retry-after")).toBe("3")
    const body = (await third.response.json()) as { error: { code: string; details: unknown[] } }
    expect(body.error.code).toBe("overloaded")
    expect(body.error.details).toEqual([{ path: "sse", problem: expect.stringContaining("2 already in flight") }])
    expect((await fetch(`${api}/healthz`)).status).toBe(200)
    expect(await admission("sse")).toEqual({ inFlight: 2, refused: 1 })

    first.close()
    await eventually(
      () => admission("sse"),
      (now) => now.inFlight === 1,
      { what: "the closed SSE stream's slot back" },
    )
    const fourth = await openSse()
    expect(fourth.response.status).toBe(200)
    second.close()
    fourth.close()
    await eventually(
      () => admission("sse"),
      (now) => now.inFlight === 0,
      { what: "every SSE slot back" },
    )
    // Their watches end with them, not at their next heartbeat (60 s away): the gauge is back at 0.
    await eventually(sseStreams, (now) => now.open === 0 && now.clientClosed === 3, {
      timeoutMs: 5_000,
      what: "the closed SSE streams counted closed by the client",
    })
  })

  it("WatchOrder: past GRPC_MAX_STREAMS a new watch fails on open with RESOURCE_EXHAUSTED + retry-after", async () => {
    const client = createClient(OrderWatchServiceDefinition, channel)
    const watches = [new AbortController(), new AbortController()].map((controller) => {
      const done = (async () => {
        try {
          for await (const _ of client.watchOrder({ orderReqId, fromSeq: 0 }, { signal: controller.signal })) {
            // held open; no events for a registered order
          }
        } catch {
          // aborted below
        }
      })()
      return { controller, done }
    })
    await eventually(
      () => admission("grpc_stream"),
      (now) => now.inFlight === 2,
      { what: "two open watches" },
    )

    let trailer = Metadata()
    const refused = await (async () => {
      try {
        for await (const _ of client.watchOrder(
          { orderReqId, fromSeq: 0 },
          { onTrailer: (received) => (trailer = received), signal: AbortSignal.timeout(10_000) },
        )) {
          // not expected
        }
        return undefined
      } catch (error) {
        return error
      }
    })()
    expect(refused).toBeInstanceOf(ClientError)
    expect((refused as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED)
    expect(trailer.get("retry-after")).toBe("3")
    expect(trailer.get("dcent-error-code")).toBe("overloaded")

    for (const watch of watches) watch.controller.abort()
    await Promise.all(watches.map((watch) => watch.done))
    await eventually(
      () => admission("grpc_stream"),
      (now) => now.inFlight === 0,
      { what: "the watches' slots back" },
    )
  })

  it("a processor at its bound (RESOURCE_EXHAUSTED + retry-after) → 503 overloaded with the processor's Retry-After", async () => {
    expect((await post(`${api}/api/v1/orders`, details(liveOrderId))).status).toBe(201)
    const initiated = await post(`${api}/api/v1/initiate`, {
      OrderReqId: liveOrderId,
      SessionID: "SESSION-admission",
      "Notification type": "GChat",
    })
    expect(initiated.status, JSON.stringify(initiated.body)).toBe(202)
    await eventually(
      async () => fake.openStreams(liveOrderId),
      (n) => n === 1,
      { what: "the order stream" },
    )
    fake.overloaded = true
    try {
      const paused = await put(`${api}/api/v1/pause/${liveOrderId}`, { Reason: "budget review" })
      expect(paused.status, JSON.stringify(paused.body)).toBe(503)
      expect(paused.headers.get("retry-after")).toBe("3")
      expect(paused.body.error).toMatchObject({
        code: "overloaded",
        details: [{ path: "processor", problem: expect.stringContaining("already in flight") }],
      })
    } finally {
      fake.overloaded = false
    }
    expect((await put(`${api}/api/v1/pause/${liveOrderId}`, { Reason: "budget review" })).status).toBe(200)
  })
})
