/**
 * Redis at `maxmemory` with real processes: both services run against a PRIVATE Redis configured
 * like every deployment (`noeviction`), which is then filled to its limit. Redis refuses writes
 * and evicts nothing; the services answer 503 with `Retry-After` and say why, `/readyz` is 503
 * naming `redis`, and `dcent_redis_oom_refusals_total` counts the refusals (the
 * `DcentRedisOutOfMemory` alert's input). Once memory is freed, everything works again.
 */
import { Redis as IORedis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { describeResponse, eventually, http, uniqueId } from "../support/e2e.ts"
import { type PrivateRedis, startPrivateRedis } from "../support/privateRedis.ts"
import { waitForHttp } from "../support/processes.ts"
import { kafkaUrl } from "../support/servers.ts"
import { type RunningProcessor, type RunningRequestor, startProcessor, startRequestor } from "../support/services.ts"

const run = uniqueId("FULL")
const junkValue = "x".repeat(64 * 1024)

let redis: PrivateRedis
let client: IORedis
let processor: RunningProcessor
let requestor: RunningRequestor

const order = (suffix: string) => ({
  OrderReqID: `${run}-${suffix}`,
  BuyerID: `${run}-BUYER`,
  Industry: `Full ${run}`,
  Location: [13.405, 52.52],
  Products: ["Copper pipes"],
  DeliveryDate: "2026-12-01",
})

const seller = {
  SellerID: `${run}-S1`,
  Name: "Full seller",
  Industries: [`Full ${run}`],
  Location: { Lat: 52.52, Lng: 13.405 },
  Active: true,
}

const info = async (section: string, field: string) =>
  Number(new RegExp(`^${field}:(\\d+)`, "m").exec(await client.info(section))?.[1])

const oomRefusals = async (metricsUrl: string) => {
  const text = (await http("GET", metricsUrl)).text
  return Number(/^dcent_redis_oom_refusals_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? Number.NaN)
}

/** Fills Redis with junk keys until it refuses a write for memory; returns how many it took. */
const fillUntilFull = async () => {
  for (let i = 0; i < 10_000; i++) {
    try {
      await client.set(`junk:${run}:${i}`, junkValue)
    } catch (error) {
      expect(String(error)).toMatch(/OOM command not allowed/)
      return i
    }
  }
  throw new Error("Redis never refused a write")
}

beforeAll(async () => {
  redis = await startPrivateRedis()
  client = new IORedis(redis.url, { lazyConnect: true })
  await client.connect()
  const env = { BROKER_URL: kafkaUrl, REDIS_URL: redis.url }
  processor = await startProcessor({ name: "processor", env })
  requestor = await startRequestor({ name: "requestor", env: { ...env, PROCESSOR_GRPC_URL: processor.grpcAddress } })
  await waitForHttp(`${processor.httpUrl}/readyz`, { process: processor, status: 200, timeoutMs: 45_000 })
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 45_000 })
})

afterAll(async () => {
  await Promise.allSettled([requestor?.stop(), processor?.stop()])
  client?.disconnect()
  await redis?.close()
})

describe(`Redis at maxmemory (${run})`, () => {
  it("refuses with 503 + Retry-After and a reason, readiness off, nothing evicted; works again once freed", async () => {
    const before = await http("POST", `${requestor.httpUrl}/api/v1/orders`, order("BEFORE"))
    expect(before.status, describeResponse(before)).toBe(201)

    await client.config("SET", "maxmemory-policy", "noeviction")
    await client.config("SET", "maxmemory", String((await info("memory", "used_memory")) + 4 * 1024 * 1024))
    const junkKeys = await fillUntilFull()
    expect(junkKeys).toBeGreaterThan(0)
    // Stay firmly over the limit: keys expiring meanwhile (leases) must not make room again.
    await client.config("SET", "maxmemory", String((await info("memory", "used_memory")) - 2 * 1024 * 1024))

    const register = await http("POST", `${requestor.httpUrl}/api/v1/orders`, order("REFUSED"))
    expect(register.status, describeResponse(register)).toBe(503)
    expect(register.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(register.body.error.code).toBe("unavailable")
    expect(register.text).toMatch(/out of memory/)

    const upsert = await http("POST", `${processor.httpUrl}/api/v1/sellers`, seller)
    expect(upsert.status, describeResponse(upsert)).toBe(503)
    expect(upsert.headers.get("retry-after")).toMatch(/^\d+$/)
    expect(upsert.text).toMatch(/out of memory/)

    for (const service of [processor, requestor]) {
      const readyz = await eventually(
        () => http("GET", `${service.httpUrl}/readyz`),
        (answer) => answer.status === 503,
        { timeoutMs: 10_000, what: `${service.name} /readyz 503` },
      )
      expect(readyz.headers.get("retry-after")).toMatch(/^\d+$/)
      const redisDetail = readyz.body.error.details.find((detail: { path: string }) => detail.path === "redis")
      expect(redisDetail?.problem, describeResponse(readyz)).toMatch(/refuses writes: it is out of memory/)
    }
    expect(await oomRefusals(`${requestor.httpUrl}/metrics`)).toBeGreaterThan(0)
    expect(await oomRefusals(`${processor.httpUrl}/metrics`)).toBeGreaterThan(0)

    // Nothing was evicted to make room: every junk key and the order written before are there.
    expect(await info("stats", "evicted_keys")).toBe(0)
    expect(await client.exists(...Array.from({ length: junkKeys }, (_, i) => `junk:${run}:${i}`))).toBe(junkKeys)
    expect((await http("GET", `${requestor.httpUrl}/api/v1/orders/${run}-BEFORE`)).status).toBe(200)

    await client.del(...Array.from({ length: junkKeys }, (_, i) => `junk:${run}:${i}`))
    for (const service of [processor, requestor]) {
      await eventually(
        async () => (await http("GET", `${service.httpUrl}/readyz`)).status,
        (status) => status === 200,
        { timeoutMs: 20_000, what: `${service.name} /readyz 200 again` },
      )
    }
    const after = await http("POST", `${requestor.httpUrl}/api/v1/orders`, order("REFUSED"))
    expect(after.status, describeResponse(after)).toBe(201)
    const upserted = await http("POST", `${processor.httpUrl}/api/v1/sellers`, seller)
    expect(upserted.status, describeResponse(upserted)).toBeLessThan(300)
  })
})
