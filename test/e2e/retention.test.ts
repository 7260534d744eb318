/**
 * Retention and archive, end to end, on the real PostgreSQL of the local stack: one order runs
 * its whole life (proposals, an update, a buyer follow-up, a seller follow-up, finalise) with
 * `ORDER_RETENTION_SECONDS` short, and every read a client can make is recorded while it is in
 * Redis: `GET` order (requestor), `GET` order and proposals (processor), SSE from seq 0 and from
 * the middle, `WatchOrder` from 0 and from the middle.
 *
 * Then both services archive it while being killed (`kill -9`, through the test-only
 * `ARCHIVE_TEST_CRASH_AT` step hook) at each step in turn — before the write, after the write,
 * before the delete — a new pair of services each time, on the same Redis and archive. After each
 * crash the order is still whole in Redis; after the writes it is in the archive exactly once
 * (one row per side, one row per event). Finally services without the hook archive it: its Redis
 * keys are gone (and it left `retention` and `live-orders`), and every read answers byte for byte
 * what it answered from Redis. A second order, paused by expiry and never resumed, is archived
 * the same way and can no longer be resumed or initiated again (409 `order_archived`).
 */
import { Redis as IORedis } from "ioredis"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  describeResponse,
  type EventReader,
  eventually,
  http,
  type JsonResponse,
  startReadyProcessor,
  stopStack,
  uniqueId,
  watchOrder,
} from "../support/e2e.ts"
import { type PrivateRedis, startPrivateRedis } from "../support/privateRedis.ts"
import { waitForHttp } from "../support/processes.ts"
import {
  eventsKey,
  liveOrdersKeyFor,
  orderKeysPattern,
  processorPrefix,
  requestorPrefix,
  retentionKeyFor,
} from "../support/redisKeys.ts"
import { databaseUrl, kafkaUrl } from "../support/servers.ts"
import { type RunningProcessor, type RunningRequestor, startProcessor, startRequestor } from "../support/services.ts"

// A Redis of the test's own: the shared one holds other tests' orders, which would expire and be
// archived (and trip the crash hook) here too.
const PROCESSOR_DB = 0
const REQUESTOR_DB = 1
let redisServer: PrivateRedis
const redisDbUrl = (db: number) => `${redisServer.url}/${db}`

const withRedis = async <A>(db: number, f: (client: IORedis) => Promise<A>): Promise<A> => {
  const client = new IORedis(redisDbUrl(db), { maxRetriesPerRequest: 1 })
  try {
    return await f(client)
  } finally {
    client.disconnect()
  }
}

const scanKeys = (db: number, pattern: string) => withRedis(db, async (client) => (await client.keys(pattern)).sort())
const RETENTION_SECONDS = 10

const run = uniqueId("E2E")
const orderId = `${run}-ARCHIVE`
const expiringId = `${run}-EXPIRES`
const industry = `E2E Archive ${run}`
const origin = { Lat: 52.52, Lng: 13.405 }
const sellers = [0.01, 0.02].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `E2E archive seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))
const [s1, s2] = sellers.map((seller) => seller.SellerID) as [string, string]

const archiveEnv = (crashAt?: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: databaseUrl,
  ORDER_RETENTION_SECONDS: String(RETENTION_SECONDS),
  ARCHIVE_POLL_MS: "200",
  LOG_LEVEL: "warning",
  ...(crashAt === undefined ? {} : { ARCHIVE_TEST_CRASH_AT: crashAt }),
  ...extra,
})

interface Pair {
  readonly processor: RunningProcessor
  readonly requestor: RunningRequestor
}

let pair: Pair | undefined
let db: pg.Pool

const processorEnv = (crashAt?: string, extra?: Record<string, string>) => ({
  BROKER_URL: kafkaUrl,
  REDIS_URL: redisDbUrl(PROCESSOR_DB),
  ...archiveEnv(crashAt, extra),
})

/** A processor and a requestor on the test's Redis databases and the archive; both ready. */
const startPair = async (crashAt?: string, extra?: Record<string, string>): Promise<Pair> => {
  const processor = await startReadyProcessor({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: { REDIS_URL: redisDbUrl(PROCESSOR_DB), ...archiveEnv(crashAt, extra) },
  })
  const requestor = await startRequestor({
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(REQUESTOR_DB),
      PROCESSOR_GRPC_URL: processor.grpcAddress,
      ...archiveEnv(crashAt, extra),
    },
  })
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 45_000 })
  return { processor, requestor }
}

/** Services that will kill themselves at `crashAt` of the order that is already due: started, not awaited. */
const startCrashingPair = async (crashAt: string): Promise<Pair> => {
  const processor = await startProcessor({
    env: processorEnv(crashAt),
    waitForHealthz: false,
    name: `processor(${crashAt})`,
  })
  const requestor = await startRequestor({
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(REQUESTOR_DB),
      PROCESSOR_GRPC_URL: "127.0.0.1:1",
      ...archiveEnv(crashAt),
    },
    waitForHealthz: false,
    name: `requestor(${crashAt})`,
  })
  return { processor, requestor }
}

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

/** The raw text of an SSE response of a finished order (it ends by itself). */
const sseText = async (requestorUrl: string, id: string, fromSeq: number) => {
  const response = await fetch(`${requestorUrl}/api/v1/orders/${encodeURIComponent(id)}/events?from_seq=${fromSeq}`, {
    headers: { accept: "text/event-stream" },
    signal: AbortSignal.timeout(20_000),
  })
  return `${response.status}\n${await response.text()}`
}

/** Every event of a finished order's WatchOrder call (it ends by itself). */
const watchAll = async (address: string, id: string, fromSeq: number) => {
  const reader: EventReader = watchOrder(address, id, fromSeq)
  const ended = await Promise.race([
    reader.ended,
    new Promise<{ clean: false; error: string }>((resolve) =>
      setTimeout(() => resolve({ clean: false, error: "still open after 20 s" }), 20_000),
    ),
  ])
  reader.close()
  expect(ended, `WatchOrder(${id}, ${fromSeq}) ended cleanly`).toEqual({ clean: true })
  return reader.events.map(({ receivedAt: _receivedAt, ...event }) => event)
}

/** Everything a client can read of the order. */
const reads = async (p: Pair, id: string, middle: number) => ({
  requestorOrder: (await http("GET", `${p.requestor.httpUrl}/api/v1/orders/${id}`)).text,
  processorOrder: (await http("GET", `${p.processor.httpUrl}/api/v1/orders/${id}`)).text,
  proposals: (await http("GET", `${p.processor.httpUrl}/api/v1/orders/${id}/proposals`)).text,
  sseFrom0: await sseText(p.requestor.httpUrl, id, 0),
  sseFromMiddle: await sseText(p.requestor.httpUrl, id, middle),
  sseFromEnd: await sseText(p.requestor.httpUrl, id, 1_000),
  watchFrom0: await watchAll(p.requestor.grpcAddress, id, 0),
  watchFromMiddle: await watchAll(p.requestor.grpcAddress, id, middle),
})

const redisKeysOf = async (id: string) => [
  ...(await scanKeys(PROCESSOR_DB, orderKeysPattern(processorPrefix, id))),
  ...(await scanKeys(REQUESTOR_DB, orderKeysPattern(requestorPrefix, id))),
]

const archiveRows = async (id: string) => {
  const orders = await db.query<{ service: string; last_seq: number }>(
    "SELECT service, last_seq FROM archived_orders WHERE order_req_id = $1 ORDER BY service",
    [id],
  )
  const events = await db.query<{ service: string; n: string; max: number | null }>(
    `SELECT service, count(*) AS n, max(seq) AS max FROM archived_order_events WHERE order_req_id = $1
     GROUP BY service ORDER BY service`,
    [id],
  )
  return {
    orders: orders.rows.map((row) => [row.service, row.last_seq]),
    events: events.rows.map((row) => [row.service, Number(row.n), row.max]),
  }
}

const lastSeqs = async (id: string) => ({
  processor: await withRedis(PROCESSOR_DB, (redis) => redis.xlen(eventsKey(processorPrefix, id))),
  requestor: await withRedis(REQUESTOR_DB, (redis) => redis.xlen(eventsKey(requestorPrefix, id))),
})

let before: Awaited<ReturnType<typeof reads>>
let seqs: { processor: number; requestor: number }
let middle: number

beforeAll(async () => {
  redisServer = await startPrivateRedis()
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 })
})

afterAll(async () => {
  await stopStack(pair)
  await db?.end()
  await redisServer?.close()
})

describe(`retention and archive (${orderId})`, () => {
  it("runs an order through its life and records every read while it is in Redis", async () => {
    pair = await startPair("before-write")
    const { processor, requestor } = pair
    expectStatus(await http("POST", `${processor.httpUrl}/api/v1/sellers`, sellers), 201)
    expectStatus(
      await http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
        OrderReqId: orderId,
        SessionID: `${run}-SESSION`,
        "Notification type": "SMS",
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Steel beams, 12 m"],
        DeliveryDate: "2026-12-01",
      }),
      202,
    )
    const watch = watchOrder(requestor.grpcAddress, orderId)
    await watch.waitFor((event) => event.status === "SellersSelected", "SellersSelected", 30_000)
    const submit = async (seller: string, proposalId: string, price: number, status: number) =>
      expectStatus(
        await http("POST", `${processor.httpUrl}/api/v1/proposal-submissions`, {
          OrderReqID: orderId,
          Seller: seller,
          ProposalDictObj: { ProposalID: proposalId, Price: price, DeliveryDate: "2026-12-10", Currency: "EUR" },
        }),
        status,
      )
    await submit(s1, `${run}-P1`, 100, 201)
    await submit(s2, `${run}-P2`, 110, 201)
    await submit(s1, `${run}-P1`, 95, 200)
    const followUp = await http("POST", `${requestor.httpUrl}/api/v1/followup`, {
      OrderReqID: orderId,
      Audience: [`${run}-P1`, `${run}-P2`],
      Message: { content: { URLs: [], MessageType: "text", Message: "Can you deliver in two lots?" } },
    })
    expectStatus(followUp, 200)
    expectStatus(
      await http("POST", `${processor.httpUrl}/api/v1/followup`, {
        OrderReqID: orderId,
        ProposalID: `${run}-P1`,
        Seller: s1,
        Message: { content: { URLs: [], MessageType: "text", Message: "Yes." } },
      }),
      201,
    )
    const finalise = await http("PUT", `${requestor.httpUrl}/api/v1/finalize/${orderId}`, { ProposalID: `${run}-P1` })
    expectStatus(finalise, 200)
    await watch.waitFor((event) => event.status === "OrderFinalised", "OrderFinalised", 30_000)
    watch.close()
    seqs = await lastSeqs(orderId)
    expect(seqs.processor).toBeGreaterThanOrEqual(8)
    middle = Math.floor(seqs.requestor / 2)
    before = await reads(pair, orderId, middle)
    expect(before.requestorOrder).toContain('"FINALISED"')
    expect(before.sseFromEnd.startsWith("204")).toBe(true)
    expect(before.watchFrom0.length).toBe(seqs.requestor)
    expect(
      (await redisKeysOf(orderId)).length,
      `the reads ended within ORDER_RETENTION_SECONDS (${RETENTION_SECONDS} s): the order is still in Redis`,
    ).toBeGreaterThanOrEqual(4)
  })

  it("kill -9 before the write: the order is whole in Redis and not in the archive", async () => {
    const current = pair as Pair
    const exits = await Promise.all([current.processor.exited, current.requestor.exited])
    expect(exits.map((exit) => exit.signal)).toEqual(["SIGKILL", "SIGKILL"])
    pair = undefined
    expect(await archiveRows(orderId)).toEqual({ orders: [], events: [] })
    expect(await lastSeqs(orderId)).toEqual(seqs)
  })

  for (const crashAt of ["after-write", "before-delete"]) {
    it(`kill -9 ${crashAt.replace("-", " the ")}: the order is whole in Redis and in the archive once`, async () => {
      const crashing = await startCrashingPair(crashAt)
      const exits = await Promise.all([crashing.processor.exited, crashing.requestor.exited])
      expect(exits.map((exit) => exit.signal)).toEqual(["SIGKILL", "SIGKILL"])
      expect(await lastSeqs(orderId)).toEqual(seqs)
      expect(await archiveRows(orderId)).toEqual({
        orders: [
          ["processor", seqs.processor],
          ["requestor", seqs.requestor],
        ],
        events: [
          ["processor", seqs.processor, seqs.processor],
          ["requestor", seqs.requestor, seqs.requestor],
        ],
      })
    })
  }

  it("archived by services without the hook: gone from Redis, every read answers the same", async () => {
    pair = await startPair(undefined, { ORDER_EXPIRY_MINUTES: "0.04" })
    await eventually(
      () => redisKeysOf(orderId),
      (keys) => keys.length === 0,
      { timeoutMs: 30_000, what: `${orderId} to leave Redis` },
    )
    for (const [dbNumber, prefix] of [
      [PROCESSOR_DB, "dcent:processor:"],
      [REQUESTOR_DB, "dcent:requestor:"],
    ] as const) {
      await withRedis(dbNumber, async (redis) => {
        expect(await redis.zscore(retentionKeyFor(prefix, orderId), orderId)).toBeNull()
        expect(await redis.sismember(liveOrdersKeyFor(prefix, orderId), orderId)).toBe(0)
      })
    }
    expect((await archiveRows(orderId)).events).toEqual([
      ["processor", seqs.processor, seqs.processor],
      ["requestor", seqs.requestor, seqs.requestor],
    ])
    const after = await reads(pair, orderId, middle)
    expect(after).toEqual(before)
    // Finished and archived: it cannot be initiated again.
    const again = await http("POST", `${pair.requestor.httpUrl}/api/v1/initiate`, {
      OrderReqId: orderId,
      SessionID: `${run}-SESSION`,
      "Notification type": "SMS",
    })
    expectStatus(again, 409)
  })

  it("an order paused by expiry and never resumed is archived too, and can no longer be resumed", async () => {
    const { requestor } = pair as Pair
    expectStatus(
      await http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
        OrderReqId: expiringId,
        SessionID: `${run}-SESSION-2`,
        "Notification type": "SMS",
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Steel beams, 6 m"],
        DeliveryDate: "2026-12-01",
      }),
      202,
    )
    const watch = watchOrder(requestor.grpcAddress, expiringId)
    const paused = await watch.waitFor((event) => event.status === "OrderPaused", "OrderPaused (expired)", 30_000)
    expect(paused.details.Reason).toBe("expired")
    watch.close()
    const pausedView = (
      await eventually(
        () => http("GET", `${requestor.httpUrl}/api/v1/orders/${expiringId}`),
        (view) => view.text.includes('"PAUSED"'),
        { timeoutMs: 10_000, what: "the requestor to record the pause" },
      )
    ).text
    await eventually(
      () => redisKeysOf(expiringId),
      (keys) => keys.length === 0,
      { timeoutMs: 30_000, what: `${expiringId} to leave Redis` },
    )
    expect((await http("GET", `${requestor.httpUrl}/api/v1/orders/${expiringId}`)).text).toBe(pausedView)
    const resume = await http("PUT", `${requestor.httpUrl}/api/v1/resume/${expiringId}`)
    expectStatus(resume, 409)
    expect(resume.text).toContain("order_archived")
  })
})

describe("the archive unreachable", () => {
  it("the services start and are ready; an id not in Redis answers 503 + Retry-After (it may be archived)", async () => {
    const unreachable = { DATABASE_URL: "postgres://dcent@127.0.0.1:1/dcent" }
    const down = await startPair(undefined, unreachable)
    try {
      const id = `${run}-UNKNOWN`
      const get = await http("GET", `${down.requestor.httpUrl}/api/v1/orders/${id}`)
      expectStatus(get, 503)
      expect(get.headers.get("retry-after"), describeResponse(get)).toMatch(/^\d+$/)
      expect(get.text).toContain("archive")
      const initiate = await http("POST", `${down.requestor.httpUrl}/api/v1/initiate`, {
        OrderReqId: id,
        SessionID: `${run}-SESSION-3`,
        "Notification type": "SMS",
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Steel beams, 6 m"],
        DeliveryDate: "2026-12-01",
      })
      expectStatus(initiate, 503)
      expect(initiate.headers.get("retry-after"), describeResponse(initiate)).toMatch(/^\d+$/)
      const processorGet = await http("GET", `${down.processor.httpUrl}/api/v1/orders/${id}`)
      expectStatus(processorGet, 503)
      expect(processorGet.headers.get("retry-after"), describeResponse(processorGet)).toMatch(/^\d+$/)
    } finally {
      await stopStack(down)
    }
  })
})
