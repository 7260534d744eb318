/**
 * The dead-letter path, with real processes: what fails after its retries ends on the failure
 * topic with the reason and what was asked.
 *
 * - The road-distance provider answers 503 (retried, then the straight-line fallback): one
 *   `PRP_FAILURES` (Operation `road-distance`) naming the reason and the sellers.
 * - Google Chat webhooks answer 500 (retried, bounded): one `PRP_FAILURES` per seller (Operation
 *   `google-chat`), never with the webhook URL (it carries credentials).
 * - An outbox entry that can never be published (headers that are not JSON) is moved to
 *   `outbox:dead` by the relay and reported on `PRP_FAILURES` (Operation `publish`) with the entry.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  awaitTopic,
  describeResponse,
  eventually,
  http,
  type JsonResponse,
  type Stack,
  startStack,
  stopStack,
  uniqueId,
  withRedis,
} from "../support/e2e.ts"
import {
  allLiveOrdersKeys,
  deadLetterKeyFor,
  outboxKeyFor,
  processorPrefix,
  requestorPrefix,
} from "../support/redisKeys.ts"

const PROCESSOR_DB = 3
const REQUESTOR_DB = 4

const run = uniqueId("DEPF")
const orderId = `${run}-ORDER`
const industry = `Dependency failures ${run}`
const origin = { Lat: 40.4168, Lng: -3.7038 }

/** A server answering every request with `status`; counts them. */
const failing = async (status: number) => {
  let requests = 0
  const server: Server = createServer((request, response) => {
    request.resume()
    request.on("end", () => {
      requests += 1
      response.writeHead(status, { "content-type": "application/json" })
      response.end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

let distance: Awaited<ReturnType<typeof failing>>
let chat: Awaited<ReturnType<typeof failing>>
let stack: Stack
let since: number

const webhook = () => `${chat.origin}/v1/spaces/AAA/messages?key=SECRET-KEY&token=SECRET-TOKEN`
const sellers = () =>
  [0.01, 0.02].map((offset, index) => ({
    SellerID: `${run}-S${index + 1}`,
    Name: `Dependency seller ${index + 1}`,
    Industries: [industry],
    Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
    Active: true,
    ChatWebhookURL: webhook(),
  }))

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

beforeAll(async () => {
  since = Date.now() - 2_000
  await withRedis(REQUESTOR_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  distance = await failing(503)
  chat = await failing(500)
  stack = await startStack({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: { DISTANCE_API_URL: `${distance.origin}/distances`, DISTANCE_API_TIMEOUT_MS: "2000" },
  })
})

afterAll(async () => {
  await stopStack(stack)
  await Promise.allSettled([distance?.close(), chat?.close()])
})

describe(`failures after retries end on PRP_FAILURES (${orderId})`, () => {
  it("a failing road-distance provider and failing Google Chat webhooks are reported with the reason", async () => {
    expectStatus(await http("POST", `${stack.processor.httpUrl}/api/v1/sellers`, sellers()), 201)
    expectStatus(
      await http("POST", `${stack.requestor.httpUrl}/api/v1/initiate`, {
        OrderReqID: orderId,
        SessionID: `${run}-SESSION`,
        NotificationType: "GChat",
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Valves"],
        DeliveryDate: "2026-12-01",
      }),
      202,
    )
    const records = await awaitTopic(
      "PRP_FAILURES",
      new Set([orderId]),
      since,
      (found) => found.filter((record) => record.payload.Operation === "google-chat").length >= 2,
    )
    const road = records.filter((record) => record.payload.Operation === "road-distance")
    expect(road).toHaveLength(1)
    expect(road[0]?.payload).toMatchObject({
      OrderReqID: orderId,
      Key: "PRP_SUBMISSION",
      Code: "road_distance_unavailable",
      HttpStatus: 502,
      Request: { Origin: { Lat: origin.Lat, Lng: origin.Lng } },
    })
    expect(road[0]?.payload.Reason).toMatch(/HTTP 503/)
    expect([...(road[0]?.payload.Request.SellerIDs ?? [])].sort()).toEqual(sellers().map((seller) => seller.SellerID))
    // Retried once per call before falling back.
    expect(distance.requests()).toBe(2)

    const chatFailures = records.filter((record) => record.payload.Operation === "google-chat")
    expect(chatFailures.map((record) => record.payload.Request.SellerID).sort()).toEqual(
      sellers().map((seller) => seller.SellerID),
    )
    for (const record of chatFailures) {
      expect(record.payload).toMatchObject({ Code: "google_chat_failed", HttpStatus: 502, Reason: "HTTP 500" })
      expect(JSON.stringify(record.payload)).not.toMatch(/SECRET|127\.0\.0\.1/)
    }
    // Each post: the first attempt and two retries.
    expect(chat.requests()).toBe(6)
    console.info(`PRP_FAILURES road-distance example: ${JSON.stringify(road[0]?.payload)}`)
    console.info(`PRP_FAILURES google-chat example: ${JSON.stringify(chatFailures[0]?.payload)}`)
  })

  it("an outbox entry that can never be published goes to outbox:dead and is reported on PRP_FAILURES", async () => {
    const stamp = `${run}-DEAD`
    await withRedis(PROCESSOR_DB, (redis) =>
      redis.xadd(
        outboxKeyFor(processorPrefix, stamp),
        "*",
        "topic",
        "SELLER_NOTIFY",
        "key",
        orderId,
        "headers",
        "not json",
        "payload",
        JSON.stringify({ Marker: stamp }),
      ),
    )
    const records = await awaitTopic("PRP_FAILURES", new Set([orderId]), since, (found) =>
      found.some((record) => record.payload.Operation === "publish"),
    )
    const report = records.find((record) => record.payload.Operation === "publish")
    expect(report?.payload).toMatchObject({
      OrderReqID: orderId,
      Key: "PRP_SUBMISSION",
      Reason: "headers are not JSON",
      Request: { topic: "SELLER_NOTIFY", key: orderId, headers: "not json" },
    })
    expect(report?.payload.Request.payload).toContain(stamp)
    console.info(`PRP_FAILURES dead-letter example: ${JSON.stringify(report?.payload)}`)
    const dead = await eventually(
      () =>
        withRedis(PROCESSOR_DB, (redis) => redis.xrange(deadLetterKeyFor(processorPrefix, stamp), "-", "+")).then(
          (entries) => entries.filter(([, fields]) => fields.join(" ").includes(stamp)),
        ),
      (entries) => entries.length === 1,
      { what: "the entry in outbox:dead" },
    )
    expect(dead[0]?.[1]).toContain("headers are not JSON")
  })
})
