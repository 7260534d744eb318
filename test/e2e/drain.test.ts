/**
 * Graceful drain on SIGTERM, with real processes.
 *
 * Processor A runs a dispatch job that is slow (its road-distance provider answers only when the
 * test lets it) while the requestor's ProcessOrderStream for the order is open to A, through a
 * TCP proxy that forwards to the first processor that accepts (A, else B). SIGTERM A:
 *
 * - at once `/readyz` is 503 and a new REST request gets 503 + `Retry-After` + `Connection: close`;
 * - the requestor's stream ends with UNAVAILABLE and reconnects — to processor B once A's gRPC
 *   listener is gone — from its last seq: the buyer's WatchOrder (on the requestor) sees every
 *   event once, in order, including one committed on B afterwards;
 * - the in-flight job completes (its `SellersSelected` event exists, once) and its
 *   `SELLER_NOTIFY` messages reach Kafka (relay flush + producer flush); A exits 0.
 *
 * Then SIGTERM the requestor with an open WatchOrder call and an open SSE response: WatchOrder
 * ends with UNAVAILABLE ("watch again … from_seq = N"), SSE gets `event: reconnect` with a
 * `retry:` field, and the requestor exits 0. The drain durations are printed.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { ClientError, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  awaitTopic,
  describeResponse,
  http,
  type JsonResponse,
  redisDbUrl,
  sleep,
  startReadyProcessor,
  uniqueId,
  watchOrder,
  withRedis,
} from "../support/e2e.ts"
import { type FaultProxy, startFaultProxy } from "../support/faultProxy.ts"
import { freePorts } from "../support/ports.ts"
import { waitForHttp } from "../support/processes.ts"
import { allLiveOrdersKeys, eventsKey, processorPrefix, requestorPrefix } from "../support/redisKeys.ts"
import { kafkaUrl } from "../support/servers.ts"
import { type RunningProcessor, type RunningRequestor, startRequestor } from "../support/services.ts"

const PROCESSOR_DB = 9
const REQUESTOR_DB = 10

const run = uniqueId("DRAIN")
const orderId = `${run}-ORDER`
const industry = `E2E Drain ${run}`
const origin = { Lat: 52.52, Lng: 13.405 }
const sellers = [0.01, 0.02].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `Drain seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))

/**
 * A road-distance provider that holds every request until `release()` (or 15 s), then answers
 * one straight-ish distance per destination.
 */
const slowDistanceProvider = async () => {
  let received = 0
  let onRequest: () => void = () => {}
  const firstRequest = new Promise<void>((resolve) => {
    onRequest = resolve
  })
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const server: Server = createServer((request, response) => {
    let body = ""
    request.on("data", (chunk) => {
      body += chunk
    })
    request.on("end", async () => {
      received += 1
      onRequest()
      await Promise.race([released, sleep(15_000)])
      const destinations = (JSON.parse(body) as { destinations: Array<unknown> }).destinations
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ distancesKm: destinations.map((_, index) => 1.5 + index) }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/distances`,
    received: () => received,
    firstRequest,
    release,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A service's log lines as records (JSON or logfmt, whichever `LOG_FORMAT` the service uses). */
const logRecords = (log: string): Array<Record<string, string>> =>
  log
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      if (line.startsWith("{")) {
        try {
          return Object.fromEntries(
            Object.entries(JSON.parse(line) as Record<string, unknown>).map(([key, value]) => [key, String(value)]),
          )
        } catch {}
      }
      return Object.fromEntries(
        [...line.matchAll(/(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((m) => [m[1], m[2]?.replace(/^"|"$/g, "")]),
      )
    })

/** The drain's steps as a service logged them, with their durations. */
const drainSteps = (log: string) =>
  logRecords(log)
    .filter((record) => record.message?.startsWith("drain step") || record.message === "drain finished")
    .map((record) => ({
      step: record.message ?? "",
      durationMs: Number(record.durationMs),
      outcome: record.outcome ?? "",
    }))

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

/** The raw text of an SSE response, as it arrives. */
const rawSse = (url: string) => {
  let text = ""
  const done = (async () => {
    const response = await fetch(url, { headers: { accept: "text/event-stream" } })
    if (response.status !== 200 || response.body === null) throw new Error(`SSE ${response.status}`)
    const decoder = new TextDecoder()
    for await (const chunk of response.body) text += decoder.decode(chunk, { stream: true })
  })()
  return { text: () => text, done }
}

const processorEnv = (distanceUrl: string) => ({
  LOG_LEVEL: "info",
  DISTANCE_API_URL: distanceUrl,
  DISTANCE_API_TIMEOUT_MS: "20000",
  DRAIN_TIMEOUT_SECONDS: "10",
})

let provider: Awaited<ReturnType<typeof slowDistanceProvider>>
let processorA: RunningProcessor
let processorB: RunningProcessor | undefined
/** Processors started by the later tests. */
const extra: Array<RunningProcessor> = []
let slowAgain: Awaited<ReturnType<typeof slowDistanceProvider>> | undefined
let requestor: RunningRequestor
let proxy: FaultProxy
let grpc: ReturnType<typeof watchOrder>
let since: number
const figures: Record<string, unknown> = {}

beforeAll(async () => {
  since = Date.now() - 2_000
  await withRedis(REQUESTOR_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  provider = await slowDistanceProvider()
  const [portBHttp, portBGrpc] = (await freePorts(2)) as [number, number]
  processorA = await startReadyProcessor(
    { processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB, processorEnv: processorEnv(provider.url) },
    {},
    "processor-A",
  )
  // B's address is known before B runs: the proxy tries A, then B.
  proxy = await startFaultProxy([processorA.grpcAddress, `127.0.0.1:${portBGrpc}`])
  figures.portB = [portBHttp, portBGrpc]
  requestor = await startRequestor({
    name: "requestor",
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(REQUESTOR_DB),
      PROCESSOR_GRPC_URL: proxy.address,
      LOG_LEVEL: "info",
      DRAIN_TIMEOUT_SECONDS: "10",
    },
  })
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 45_000 })
})

afterAll(async () => {
  grpc?.close()
  provider?.release()
  slowAgain?.release()
  await Promise.allSettled([requestor?.stop(), processorA?.stop(), processorB?.stop(), ...extra.map((p) => p.stop())])
  await proxy?.close()
  await provider?.close()
  await slowAgain?.close()
  console.info(`drain figures: ${JSON.stringify(figures)}`)
})

describe(`graceful drain (${orderId})`, () => {
  it("SIGTERM of a processor mid-job: not ready at once, 503 for new requests, the job completes, the stream moves to another processor, exit 0", async () => {
    expectStatus(await http("POST", `${processorA.httpUrl}/api/v1/sellers`, sellers), 201)
    expectStatus(
      await http("POST", `${requestor.httpUrl}/api/v1/orders`, {
        OrderReqID: orderId,
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Steel beams"],
        DeliveryDate: "2026-12-01",
      }),
      201,
    )
    grpc = watchOrder(requestor.grpcAddress, orderId)
    expectStatus(
      await http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
        OrderReqId: orderId,
        SessionID: `${run}-SESSION`,
        "Notification type": "SMS",
      }),
      202,
    )
    // The dispatch job is running on A: it waits for the road-distance answer.
    await Promise.race([
      provider.firstRequest,
      sleep(20_000).then(() => {
        throw new Error(`no road-distance request within 20 s\n${processorA.output()}`)
      }),
    ])
    // B joins (same Redis); it starts while A's job is still held.
    const [portBHttp, portBGrpc] = figures.portB as [number, number]
    processorB = await startReadyProcessor(
      { processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB, processorEnv: processorEnv(provider.url) },
      { httpPort: portBHttp, grpcPort: portBGrpc },
      "processor-B",
    )
    expect(provider.received(), "only A's job asked for distances").toBe(1)

    const signalled = Date.now()
    const exited = processorA.stop({ timeoutMs: 30_000 })
    // Not ready at once, and new REST requests are refused with Retry-After while the job runs.
    const readyz = await waitForHttp(`${processorA.httpUrl}/readyz`, { status: 503, timeoutMs: 3_000 })
    figures.processorNotReadyAfterMs = Date.now() - signalled
    const readyBody = (await readyz.json()) as { error: { details: Array<{ path: string }> } }
    expect(readyBody.error.details.map((detail) => detail.path)).toContain("draining")
    const refused = await http("POST", `${processorA.httpUrl}/api/v1/proposal-submissions`, {
      OrderReqID: orderId,
      Seller: sellers[0]?.SellerID,
      ProposalDictObj: { ProposalID: `${run}-P0`, Price: 1, DeliveryDate: "2026-12-01", Currency: "EUR" },
    })
    expectStatus(refused, 503)
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(refused.headers.get("connection")).toBe("close")
    expect(refused.body.error.code).toBe("shutting_down")
    expect(processorA.hasExited(), "A waits for its running job").toBe(false)

    await sleep(1_000)
    provider.release()
    const exit = await exited
    figures.processorDrainExitMs = exit.durationMs
    figures.processorSteps = drainSteps(processorA.stdout())
    expect(exit, processorA.output()).toMatchObject({ code: 0, killed: false })
    expect(exit.durationMs).toBeLessThan(18_000)
    const steps = drainSteps(processorA.stdout())
    expect(steps.find((step) => step.step === "drain step dispatch jobs")?.outcome, processorA.stdout()).toBe("done")
    expect(
      logRecords(processorA.stdout()).some(
        (record) => record.message === "dispatch job done" && record.outcome === "dispatched",
      ),
    ).toBe(true)

    // The job's event reached the buyer once; the stream continues on B.
    const selected = await grpc.waitFor((event) => event.seq === 1, "SellersSelected", 30_000)
    expect(selected.status).toBe("SellersSelected")
    const submitted = await http("POST", `${processorB.httpUrl}/api/v1/proposal-submissions`, {
      OrderReqID: orderId,
      Seller: sellers[0]?.SellerID,
      ProposalDictObj: { ProposalID: `${run}-P1`, Price: 100, DeliveryDate: "2026-12-01", Currency: "EUR" },
    })
    expectStatus(submitted, 201)
    await grpc.waitFor((event) => event.seq === 2, "the proposal committed on B", 30_000)
    expect(grpc.events.map(({ seq, status }) => ({ seq, status }))).toEqual([
      { seq: 1, status: "SellersSelected" },
      { seq: 2, status: "NewProposal" },
    ])
    expect(requestor.stdout(), "the requestor's stream was cut with UNAVAILABLE").toMatch(/shutting down/)

    // SellersSelected committed once; its SELLER_NOTIFY went out before A exited (or by B's relay).
    const events = await withRedis(PROCESSOR_DB, (redis) => redis.xrange(eventsKey(processorPrefix, orderId), "-", "+"))
    expect(events.filter(([, fields]) => fields.join(" ").includes("SellersSelected"))).toHaveLength(1)
    const notify = await awaitTopic("SELLER_NOTIFY", new Set([orderId]), since, (found) => found.length >= 2)
    expect(new Set(notify.map((record) => record.payload.SellerID))).toEqual(new Set(sellers.map((s) => s.SellerID)))
  })

  it("a job still running at the drain deadline is returned to the queue and another processor completes it", async () => {
    const secondOrder = `${run}-ORDER2`
    const [portBHttp, portBGrpc] = figures.portB as [number, number]
    // B leaves (gracefully); C takes its ports, with a provider that holds and a 2 s drain budget.
    const stopB = await processorB?.stop({ timeoutMs: 30_000 })
    expect(stopB?.code).toBe(0)
    slowAgain = await slowDistanceProvider()
    const processorC = await startReadyProcessor(
      {
        processorDb: PROCESSOR_DB,
        requestorDb: REQUESTOR_DB,
        processorEnv: { ...processorEnv(slowAgain.url), DRAIN_TIMEOUT_SECONDS: "2" },
      },
      { httpPort: portBHttp, grpcPort: portBGrpc },
      "processor-C",
    )
    extra.push(processorC)
    let watch: ReturnType<typeof watchOrder> | undefined
    try {
      expectStatus(
        await http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
          OrderReqID: secondOrder,
          SessionID: `${run}-SESSION2`,
          NotificationType: "SMS",
          BuyerID: `${run}-BUYER`,
          Industry: industry,
          Location: [origin.Lng, origin.Lat],
          Products: ["Rebar"],
          DeliveryDate: "2026-12-01",
        }),
        202,
      )
      watch = watchOrder(requestor.grpcAddress, secondOrder)
      await Promise.race([
        slowAgain.firstRequest,
        sleep(20_000).then(() => {
          throw new Error(`C never asked for distances\n${processorC.output()}`)
        }),
      ])
      const exitC = await processorC.stop({ timeoutMs: 30_000 })
      figures.processorCutShortExitMs = exitC.durationMs
      expect(exitC, processorC.output()).toMatchObject({ code: 0, killed: false })
      const records = logRecords(processorC.stdout())
      expect(records.find((r) => r.message === "drain step dispatch jobs")?.outcome).toBe("timed_out")
      expect(records.some((r) => r.message === "dispatch job interrupted; returned to the queue")).toBe(true)
      expect(records.some((r) => r.message === "dispatch job done")).toBe(false)

      // D (an immediate provider) takes the returned job at once — not after a lease expiry.
      const startedD = Date.now()
      const processorD = await startReadyProcessor(
        { processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB, processorEnv: processorEnv(provider.url) },
        { httpPort: portBHttp, grpcPort: portBGrpc },
        "processor-D",
      )
      extra.push(processorD)
      const selected = await watch.waitFor(
        (event) => event.seq === 1,
        `SellersSelected of the returned job\n${processorD.output()}`,
        45_000,
      )
      figures.returnedJobDoneAfterRestartMs = Date.now() - startedD
      expect(selected.status).toBe("SellersSelected")
      await sleep(500)
      expect(watch.events.map((event) => event.seq)).toEqual([1])
    } finally {
      watch?.close()
    }
  })

  it("SIGTERM of a requestor: WatchOrder ends with UNAVAILABLE, SSE gets `event: reconnect` with `retry:`, exit 0", async () => {
    const watch = watchOrder(requestor.grpcAddress, orderId, 1)
    const sse = rawSse(`${requestor.httpUrl}/api/v1/orders/${orderId}/events?from_seq=1`)
    await watch.waitFor((event) => event.seq === 2, "seq 2 on a fresh watch", 15_000)
    for (let i = 0; i < 50 && !sse.text().includes("id: 2"); i++) await sleep(100)
    expect(sse.text()).toContain("id: 2")

    const exit = await requestor.stop({ timeoutMs: 30_000 })
    figures.requestorDrainExitMs = exit.durationMs
    figures.requestorSteps = drainSteps(requestor.stdout())
    expect(exit, requestor.output()).toMatchObject({ code: 0, killed: false })

    const ended = await watch.ended
    expect(ended.clean).toBe(false)
    expect(ended.error).toBeInstanceOf(ClientError)
    expect((ended.error as ClientError).code).toBe(Status.UNAVAILABLE)
    expect((ended.error as ClientError).details).toMatch(/shutting down.*from_seq = 2/)
    // The first watcher (from seq 0) got the same signal.
    const first = await grpc.ended
    expect((first.error as ClientError | undefined)?.code).toBe(Status.UNAVAILABLE)

    await sse.done.catch(() => undefined)
    const tail = sse.text().slice(sse.text().lastIndexOf("id: 2"))
    expect(tail).toMatch(/\nevent: reconnect\nretry: \d+\ndata: \{[^\n]*"LastSeq":2[^\n]*\}\n\n$/)
  })
})
