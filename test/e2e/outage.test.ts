/**
 * A Redis outage with real processes: both services run against a PRIVATE Redis
 * (`test/support/privateRedis.ts`, no persistence) and the shared Kafka. While that Redis is
 * stopped, `/readyz` says 503 naming `redis`, and requests get 503 with `Retry-After` and the
 * common error body — never a silent success. Once it is back, `/readyz` is 200 again, requests
 * succeed, and each refused request is on its failure topic (`REQ_failures` / `PRP_FAILURES`)
 * with the reason and the original request: the reports were held while the outbox (in Redis)
 * was unreachable and committed to it when Redis returned.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { awaitTopic, describeResponse, eventually, http, type JsonResponse, uniqueId } from "../support/e2e.ts"
import { type PrivateRedis, startPrivateRedis } from "../support/privateRedis.ts"
import { waitForHttp } from "../support/processes.ts"
import { kafkaUrl } from "../support/servers.ts"
import { type RunningProcessor, type RunningRequestor, startProcessor, startRequestor } from "../support/services.ts"

const run = uniqueId("OUTAGE")
const orderId = `${run}-ORDER`
const proposalOrderId = `${run}-P-ORDER`

let redis: PrivateRedis
let processor: RunningProcessor
let requestor: RunningRequestor
let since: number
const figures: Record<string, number> = {}

const expectStatus = (response: JsonResponse, status: number) =>
  expect(response.status, describeResponse(response)).toBe(status)

const order = {
  OrderReqID: orderId,
  BuyerID: `${run}-BUYER`,
  Industry: `Outage ${run}`,
  Location: [13.405, 52.52],
  Products: ["Copper pipes"],
  DeliveryDate: "2026-12-01",
}

const proposal = {
  OrderReqID: proposalOrderId,
  Seller: `${run}-SELLER`,
  ProposalDictObj: { ProposalID: `${run}-P1`, Price: 10, DeliveryDate: "2026-12-01", Currency: "EUR" },
}

const readyz = async (url: string) => (await http("GET", `${url}/readyz`)).status

beforeAll(async () => {
  since = Date.now() - 2_000
  redis = await startPrivateRedis()
  const env = { BROKER_URL: kafkaUrl, REDIS_URL: redis.url, LOG_LEVEL: "info" }
  processor = await startProcessor({ name: "processor", env })
  requestor = await startRequestor({ name: "requestor", env: { ...env, PROCESSOR_GRPC_URL: processor.grpcAddress } })
  await waitForHttp(`${processor.httpUrl}/readyz`, { process: processor, status: 200, timeoutMs: 45_000 })
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 45_000 })
})

afterAll(async () => {
  await Promise.allSettled([requestor?.stop(), processor?.stop()])
  await redis?.close()
  console.info(`outage figures: ${JSON.stringify(figures)}`)
})

describe(`Redis outage (${run})`, () => {
  it("not ready and 503 + Retry-After while Redis is down; ready and working once it is back", async () => {
    await redis.stop()
    const stopped = Date.now()
    for (const service of [processor, requestor]) {
      const response = await eventually(
        () => http("GET", `${service.httpUrl}/readyz`),
        (answer) => answer.status === 503,
        { timeoutMs: 10_000, what: `${service.name} /readyz 503` },
      )
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/)
      expect(response.body.error.code).toBe("not_ready")
      expect(response.body.error.details.map((detail: { path: string }) => detail.path)).toContain("redis")
    }
    figures.notReadyAfterMs = Date.now() - stopped

    const register = await http("POST", `${requestor.httpUrl}/api/v1/orders`, order)
    expectStatus(register, 503)
    expect(register.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(register.body.error).toMatchObject({ code: "unavailable" })
    const submit = await http("POST", `${processor.httpUrl}/api/v1/proposal-submissions`, proposal)
    expectStatus(submit, 503)
    expect(submit.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(typeof submit.body.error.code).toBe("string")

    await sleep(1_000)
    await redis.start()
    const restarted = Date.now()
    for (const service of [processor, requestor]) {
      await eventually(
        () => readyz(service.httpUrl),
        (status) => status === 200,
        {
          timeoutMs: 20_000,
          what: `${service.name} /readyz 200 again`,
        },
      )
    }
    figures.readyAgainAfterMs = Date.now() - restarted
    expectStatus(await http("POST", `${requestor.httpUrl}/api/v1/orders`, order), 201)
    expectStatus(await http("GET", `${requestor.httpUrl}/api/v1/orders/${orderId}`), 200)
  })

  it("the refused requests are on REQ_failures and PRP_FAILURES, with the reason and the request", async () => {
    const requestFailures = await awaitTopic("REQ_failures", new Set([orderId]), since, (found) => found.length >= 1)
    expect(requestFailures).toHaveLength(1)
    expect(requestFailures[0]?.payload).toMatchObject({
      OrderReqID: orderId,
      Key: "ORD_SUBMISSION",
      Operation: "register",
      HttpStatus: 503,
      Reason: "unavailable",
      Request: order,
    })
    const proposalFailures = await awaitTopic(
      "PRP_FAILURES",
      new Set([proposalOrderId]),
      since,
      (found) => found.length >= 1,
    )
    expect(proposalFailures).toHaveLength(1)
    expect(proposalFailures[0]?.payload).toMatchObject({
      OrderReqID: proposalOrderId,
      Key: "PRP_SUBMISSION",
      Operation: "proposal-submission",
      HttpStatus: 503,
      Request: proposal,
    })
    console.info(`REQ_failures example: ${JSON.stringify(requestFailures[0]?.payload)}`)
    console.info(`PRP_FAILURES example: ${JSON.stringify(proposalFailures[0]?.payload)}`)
  })
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
