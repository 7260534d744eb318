/**
 * Rate limiting across two replicas: one processor and TWO requestors (real processes) on one
 * Redis, `AUTH_MODE=jwt`, small budgets. The limit holds in total, not per replica:
 *
 * - REST reads (`RATE_LIMIT_READ_*` = 6 per 6 s window) sent alternately to both requestors: 6
 *   allowed in all (with `RateLimit-*` headers, `RateLimit-Remaining` counting down across the two
 *   replicas), the rest 429 with `Retry-After`, `RateLimit-*` and the common error body;
 *   another principal has its own budget;
 * - `RATE_LIMIT_STREAMS_PER_PRINCIPAL=2`: one `WatchOrder` on each replica, then a third on
 *   either fails with RESOURCE_EXHAUSTED and the `retry-after` trailer (and an SSE open is 429
 *   `too_many_streams`); once one watch ends, a new one is admitted;
 * - the refusals are counted in `dcent_rate_limit_refused_total` on the replica that refused.
 */
import { randomBytes } from "node:crypto"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { ClientError, createChannel, createClient, Metadata, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Role } from "../../shared/src/auth/Principal.ts"
import { mintToken } from "../../shared/src/auth/tokens.ts"
import { eventually, redisDbUrl, type Stack, sleep, startStack, stopStack, uniqueId } from "../support/e2e.ts"
import { waitForHttp } from "../support/processes.ts"
import { kafkaUrl } from "../support/servers.ts"
import { type RunningRequestor, startRequestor } from "../support/services.ts"

const PROCESSOR_DB = 1
const REQUESTOR_DB = 2
const READ_BURST = 6
const STREAM_CAP = 2

const secret = randomBytes(32).toString("hex")
const run = uniqueId("RL")
const token = (sub: string, role: Role) =>
  mintToken({ secret, sub, roles: [role], expiresInSeconds: 600, nowMillis: Date.now() })

const authEnv = { AUTH_MODE: "jwt", AUTH_JWT_SECRET: secret }
const requestorEnv = {
  ...authEnv,
  RATE_LIMIT_READ_PER_SECOND: "1",
  RATE_LIMIT_READ_BURST: String(READ_BURST),
  RATE_LIMIT_STREAMS_PER_PRINCIPAL: String(STREAM_CAP),
}

let stack: Stack
let a: RunningRequestor
let b: RunningRequestor

beforeAll(async () => {
  stack = await startStack({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: authEnv,
    requestorEnv,
  })
  a = stack.requestor
  b = await startRequestor({
    name: "requestor-b",
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(REQUESTOR_DB),
      PROCESSOR_GRPC_URL: stack.processor.grpcAddress,
      LOG_LEVEL: "warning",
      ...requestorEnv,
    },
  })
  await waitForHttp(`${b.httpUrl}/readyz`, { process: b, status: 200, timeoutMs: 45_000 })
}, 120_000)

afterAll(async () => {
  await Promise.allSettled([b?.stop()])
  await stopStack(stack)
})

const get = async (url: string, bearer: string) => {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${bearer}` },
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text }
}

const refusedCount = async (requestor: RunningRequestor, labels: string) => {
  const body = await (await fetch(`${requestor.httpUrl}/metrics`)).text()
  return body
    .split("\n")
    .filter((line) => line.startsWith("dcent_rate_limit_refused_total{") && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0)
}

describe("rate limiting across two requestor replicas", () => {
  it("REST: the budget of a principal holds in total over both replicas (429 + Retry-After + RateLimit-*)", async () => {
    const operator = await token(`${run}-OPS`, "operator")
    const statuses: Array<number> = []
    const remaining: Array<string | null> = []
    let refusal: Awaited<ReturnType<typeof get>> | undefined
    for (let i = 0; i < READ_BURST + 4; i++) {
      const replica = i % 2 === 0 ? a : b
      const answer = await get(`${replica.httpUrl}/api/v1/orders/${run}-NOPE-${i}`, operator)
      statuses.push(answer.status)
      if (answer.status === 429) refusal ??= answer
      else remaining.push(answer.headers.get("ratelimit-remaining"))
    }
    // Each replica alone would have allowed all its 5: the limit is shared (and refusals stay
    // refusals once a replica refuses from memory until the window ends).
    expect(statuses.filter((status) => status === 404)).toHaveLength(READ_BURST)
    expect(statuses.filter((status) => status === 429)).toHaveLength(4)
    expect(statuses.slice(0, READ_BURST).every((status) => status === 404)).toBe(true)
    expect(remaining).toEqual(["5", "4", "3", "2", "1", "0"])
    expect(refusal).toBeDefined()
    const refused = refusal as NonNullable<typeof refusal>
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(READ_BURST)
    expect(refused.headers.get("ratelimit-limit")).toBe(String(READ_BURST))
    expect(refused.headers.get("ratelimit-remaining")).toBe("0")
    expect(refused.headers.get("ratelimit-reset")).toBe(refused.headers.get("retry-after"))
    expect(JSON.parse(refused.text).error.code).toBe("rate_limited")
    expect((await refusedCount(a, 'class="read"')) + (await refusedCount(b, 'class="read"'))).toBe(4)

    // Another principal has its own budget.
    const other = await token(`${run}-OPS2`, "operator")
    expect((await get(`${b.httpUrl}/api/v1/orders/${run}-NOPE`, other)).status).toBe(404)
    // Probes are never limited.
    expect((await fetch(`${a.httpUrl}/healthz`)).status).toBe(200)
  })

  it("streams: the cap on open streams per principal holds over both replicas (RESOURCE_EXHAUSTED + retry-after; SSE 429)", async () => {
    const buyerId = `${run}-BUYER`
    const buyer = await token(buyerId, "buyer")
    const orderId = `${run}-ORD`
    const registered = await fetch(`${a.httpUrl}/api/v1/orders`, {
      method: "POST",
      headers: { authorization: `Bearer ${buyer}`, "content-type": "application/json" },
      body: JSON.stringify({
        OrderReqID: orderId,
        Industry: `RL ${run}`,
        Location: { Lat: 52.52, Lng: 13.405 },
        Products: [{ Name: "Steel pipes", Quantity: 10 }],
        DeliveryDate: "2030-01-15",
      }),
    })
    expect(registered.status, await registered.text()).toBe(201)

    const metadata = () => Metadata({ authorization: `Bearer ${buyer}` })
    const channels = [createChannel(a.grpcAddress), createChannel(b.grpcAddress)]
    const [clientA, clientB] = channels.map((channel) => createClient(OrderWatchServiceDefinition, channel)) as [
      ReturnType<typeof createClient<typeof OrderWatchServiceDefinition>>,
      ReturnType<typeof createClient<typeof OrderWatchServiceDefinition>>,
    ]
    const watches: Array<AbortController> = []
    /** Opens a watch and keeps it open; resolves with the error that ended it, if any. */
    const open = (client: typeof clientA) => {
      const controller = new AbortController()
      watches.push(controller)
      const ended = (async () => {
        try {
          for await (const _ of client.watchOrder(
            { orderReqId: orderId, fromSeq: 0 },
            { metadata: metadata(), signal: controller.signal },
          )) {
          }
          return undefined
        } catch (error) {
          return error
        }
      })()
      return { controller, ended }
    }
    try {
      const first = open(clientA)
      await sleep(300)
      const second = open(clientB)
      await sleep(300)
      const third = open(clientA)
      let trailer: string | undefined
      const thirdError = await Promise.race([third.ended, sleep(5_000).then(() => "still open")])
      expect(thirdError).toBeInstanceOf(ClientError)
      expect((thirdError as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED)
      expect((thirdError as ClientError).details).toMatch(/too many open streams/)
      // The trailer, on a fresh refused call.
      const fourth = clientB.watchOrder(
        { orderReqId: orderId, fromSeq: 0 },
        {
          metadata: metadata(),
          onTrailer: (trailers) => {
            trailer = trailers.get("retry-after")
          },
        },
      )
      await expect(fourth[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED })
      expect(trailer).toBe("1")
      // SSE counts against the same cap.
      const sse = await get(`${b.httpUrl}/api/v1/orders/${orderId}/events`, buyer)
      expect(sse.status).toBe(429)
      expect(sse.headers.get("retry-after")).toBe("1")
      expect(JSON.parse(sse.text).error.code).toBe("too_many_streams")
      // The first two are still open.
      expect(await Promise.race([first.ended, second.ended, sleep(200).then(() => "open")])).toBe("open")

      // One ends: a new watch is admitted (on the other replica).
      first.controller.abort()
      await first.ended
      await eventually(
        async () => {
          const again = open(clientB)
          const result = await Promise.race([again.ended, sleep(1_000).then(() => "open")])
          if (result !== "open") again.controller.abort()
          return result
        },
        (result) => result === "open",
        { timeoutMs: 10_000 },
      )
      expect(
        (await refusedCount(a, 'class="concurrent_streams"')) + (await refusedCount(b, 'class="concurrent_streams"')),
      ).toBeGreaterThanOrEqual(3)
    } finally {
      for (const controller of watches) controller.abort()
      for (const channel of channels) channel.close()
    }
  })
})
