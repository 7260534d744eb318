/**
 * A Kafka outage with real processes: both services run against a PRIVATE Kafka
 * (`test/support/privateKafka.ts`) and a private Redis (`test/support/privateRedis.ts`), so the
 * file touches no shared server and runs in `make test`'s own-infra lane. While that Kafka is stopped,
 * `/readyz` says 503 naming `kafka`, but requests still succeed — the state and the topic
 * messages are committed to Redis together (the outbox) — and the outbox grows (relay lag).
 * Once Kafka is back, `/readyz` is 200 again and the outbox drains: the messages of the
 * requests made during the outage are on their topics.
 */
import { Redis as IORedis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { awaitTopic, describeResponse, eventually, http, type JsonResponse, uniqueId } from "../support/e2e.ts"
import { type PrivateKafka, startPrivateKafka } from "../support/privateKafka.ts"
import { type PrivateRedis, startPrivateRedis } from "../support/privateRedis.ts"
import { waitForHttp } from "../support/processes.ts"
import { outboxKeyFor } from "../support/redisKeys.ts"
import { type RunningProcessor, type RunningRequestor, startProcessor, startRequestor } from "../support/services.ts"

const run = uniqueId("KOUT")
const orderId = `${run}-ORDER`
const industry = `Kafka outage ${run}`
const origin = { Lat: 48.1351, Lng: 11.582 }
const sellers = [0.01, 0.02].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `Outage seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))

let kafka: PrivateKafka
/** Both services' Redis (their keys have different prefixes). */
let redis: PrivateRedis
let processor: RunningProcessor
let requestor: RunningRequestor
let since: number
const figures: Record<string, number> = {}

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

/** Entries waiting in a service's outbox and the age of the oldest (ms). */
/** What waits in the order's outbox stream (its shard's) under `prefix`, and how long the oldest has waited. */
const outbox = async (prefix: string) => {
  const client = new IORedis(redis.url, { maxRetriesPerRequest: 1 })
  try {
    const key = outboxKeyFor(prefix, orderId)
    const [length, first] = await Promise.all([client.xlen(key), client.xrange(key, "-", "+", "COUNT", 1)])
    const id = first[0]?.[0]
    return { length, lagMs: id === undefined ? 0 : Date.now() - Number(id.split("-")[0]) }
  } finally {
    client.disconnect()
  }
}

beforeAll(async () => {
  since = Date.now() - 2_000
  redis = await startPrivateRedis()
  kafka = await startPrivateKafka()
  const env = { BROKER_URL: kafka.brokerUrl, REDIS_URL: redis.url, LOG_LEVEL: "info" }
  processor = await startProcessor({ name: "processor", env })
  requestor = await startRequestor({ name: "requestor", env: { ...env, PROCESSOR_GRPC_URL: processor.grpcAddress } })
  await waitForHttp(`${processor.httpUrl}/readyz`, { process: processor, status: 200, timeoutMs: 60_000 })
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 60_000 })
}, 240_000)

afterAll(async () => {
  await Promise.allSettled([requestor?.stop(), processor?.stop()])
  await kafka?.close()
  await redis?.close()
  console.info(`broker outage figures: ${JSON.stringify(figures)}`)
})

describe(`Kafka outage (${run})`, () => {
  it("requests are accepted into the outbox while Kafka is down and published once it is back", async () => {
    await kafka.stop()
    const stopped = Date.now()
    for (const service of [processor, requestor]) {
      const response = await eventually(
        () => http("GET", `${service.httpUrl}/readyz`),
        (answer) => answer.status === 503,
        { timeoutMs: 20_000, what: `${service.name} /readyz 503` },
      )
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/)
      expect(response.body.error.details.map((detail: { path: string }) => detail.path)).toContain("kafka")
    }
    figures.notReadyAfterMs = Date.now() - stopped

    // The state lives in Redis: the requests succeed, their messages wait in the outbox.
    expectStatus(await http("POST", `${processor.httpUrl}/api/v1/sellers`, sellers), 201)
    expectStatus(
      await http("POST", `${requestor.httpUrl}/api/v1/initiate`, {
        OrderReqID: orderId,
        SessionID: `${run}-SESSION`,
        NotificationType: "SMS",
        BuyerID: `${run}-BUYER`,
        Industry: industry,
        Location: [origin.Lng, origin.Lat],
        Products: ["Cable drums"],
        DeliveryDate: "2026-12-01",
      }),
      202,
    )
    const waiting = await eventually(
      () => outbox("dcent:processor:"),
      (state) => state.length >= sellers.length,
      { timeoutMs: 30_000, what: "SELLER_NOTIFY entries waiting in the processor's outbox" },
    )
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const lagged = await outbox("dcent:requestor:")
    expect(lagged.length, "BUYER_ACKNOWLEDGEMENTS (and more) wait in the requestor's outbox").toBeGreaterThan(0)
    expect(lagged.lagMs).toBeGreaterThan(1_500)
    figures.processorOutboxDuringOutage = waiting.length
    figures.requestorOutboxDuringOutage = lagged.length
    figures.requestorLagMsBeforeRestart = lagged.lagMs

    const restarting = Date.now()
    await kafka.start()
    figures.kafkaRestartMs = Date.now() - restarting
    for (const service of [processor, requestor]) {
      await eventually(
        async () => (await http("GET", `${service.httpUrl}/readyz`)).status,
        (status) => status === 200,
        { timeoutMs: 60_000, what: `${service.name} /readyz 200 again` },
      )
    }
    figures.readyAgainAfterMs = Date.now() - restarting
    for (const prefix of ["dcent:processor:", "dcent:requestor:"]) {
      await eventually(
        () => outbox(prefix),
        (state) => state.length === 0,
        { timeoutMs: 90_000, what: `${prefix}outbox drained` },
      )
    }
    figures.outboxDrainedAfterMs = Date.now() - restarting
  })

  it("the messages committed during the outage are on their topics", async () => {
    const keys = new Set([orderId])
    const acknowledgements = await awaitTopic("BUYER_ACKNOWLEDGEMENTS", keys, since, (found) => found.length >= 1, {
      broker: kafka.bootstrap,
    })
    expect(acknowledgements.map((record) => record.payload.Message)).toContain("Order Submitted")
    const notify = await awaitTopic("SELLER_NOTIFY", keys, since, (found) => found.length >= sellers.length, {
      broker: kafka.bootstrap,
    })
    expect(new Set(notify.map((record) => record.payload.SellerID))).toEqual(
      new Set(sellers.map((seller) => seller.SellerID)),
    )
    const buyerNotify = await awaitTopic("BUYER_NOTIFY", keys, since, (found) => found.length >= 1, {
      broker: kafka.bootstrap,
    })
    expect(buyerNotify.map((record) => record.payload.Status)).toContain("SellersSelected")
  })
})
