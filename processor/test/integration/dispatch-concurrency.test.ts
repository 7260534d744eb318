/**
 * Dispatch under load, measured from the jobs themselves: 200 orders with mixed priorities on
 * two processor replicas (4 workers each) sharing `MAX_CONCURRENT_TASKS=4`. Each job calls a
 * slow road-distance provider (this test's HTTP server, ~100 ms per call), so jobs overlap.
 *
 * - never more than 4 jobs at once: from the jobs' own [startedAt, endedAt] intervals
 *   (`dispatch:stats`) and from the provider's count of requests in flight;
 * - HIGH orders finish before LOW ones on average;
 * - every order is dispatched exactly once (one `SellersSelected` in its event log).
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { orderEventsKey } from "@dcent/shared/eventlog/encoding"
import { Redis } from "ioredis"
import { type Channel, createChannel } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { redisUrl } from "../../../test/support/servers.ts"
import { type RunningProcessor, startProcessor } from "../../../test/support/services.ts"
import { openStream, registerSellers, runId, streamRequest } from "../support/orders.ts"

const run = runId()
const industry = `Concurrency-${run}`
const orders = 200
const limit = 4
const providerDelayMs = 100
const priorities = [1, 2, 3] as const // PRIORITY_HIGH, PRIORITY_MEDIUM, PRIORITY_LOW
const priorityName = { 1: "HIGH", 2: "MEDIUM", 3: "LOW" } as const

interface Stat {
  readonly orderReqId: string
  readonly priority: string
  readonly replica: string
  readonly startedAt: number
  readonly endedAt: number
  readonly outcome: string
}

/** The largest number of intervals open at one instant (an end at t closes before a start at t). */
const maxOverlap = (intervals: ReadonlyArray<{ startedAt: number; endedAt: number }>) => {
  const points = intervals.flatMap((interval) => [
    { at: interval.startedAt, delta: 1 },
    { at: interval.endedAt, delta: -1 },
  ])
  points.sort((a, b) => a.at - b.at || a.delta - b.delta)
  let open = 0
  let max = 0
  for (const point of points) {
    open += point.delta
    max = Math.max(max, open)
  }
  return max
}

const mean = (values: ReadonlyArray<number>) => values.reduce((sum, value) => sum + value, 0) / values.length

describe("dispatch concurrency", () => {
  let provider: Server
  let processors: Array<RunningProcessor> = []
  let channels: Array<Channel> = []
  let redis: Redis
  let inFlight = 0
  let maxInFlight = 0
  let calls = 0

  beforeAll(async () => {
    provider = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => {
        body += chunk
      })
      request.on("end", () => {
        calls += 1
        inFlight += 1
        maxInFlight = Math.max(maxInFlight, inFlight)
        const destinations = (JSON.parse(body) as { destinations: Array<unknown> }).destinations
        setTimeout(() => {
          inFlight -= 1
          response.writeHead(200, { "content-type": "application/json" })
          response.end(JSON.stringify({ distancesKm: destinations.map((_, index) => 10 + index) }))
        }, providerDelayMs)
      })
    })
    await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve))
    const providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/distances`
    const env = {
      MAX_CONCURRENT_TASKS: String(limit),
      DISPATCH_WORKERS: String(limit),
      DISPATCH_AGING_MS: "600000",
      DISTANCE_API_URL: providerUrl,
      DISTANCE_API_TIMEOUT_MS: "5000",
      LOG_LEVEL: "warning",
    }
    processors = await Promise.all([
      startProcessor({ name: "processor-a", env }),
      startProcessor({ name: "processor-b", env }),
    ])
    channels = processors.map((processor) => createChannel(processor.grpcAddress))
    redis = new Redis(redisUrl, { keyPrefix: "dcent:processor:" })
    await registerSellers(
      processors[0]!,
      [1, 2, 3].map((n) => ({
        SellerID: `CC-${run}-S${n}`,
        Name: `Seller ${n}`,
        Industries: [industry],
        Location: { Lat: 12.9716 + n / 100, Lng: 77.5946 },
      })),
    )
  })

  afterAll(async () => {
    for (const channel of channels) channel.close()
    await Promise.all(processors.map((processor) => processor.stop()))
    redis?.disconnect()
    await new Promise((resolve) => provider?.close(resolve))
  })

  it(`runs ${orders} orders with at most ${limit} jobs at once, HIGH before LOW, each dispatched exactly once`, async () => {
    const ids = Array.from({ length: orders }, (_, index) => `CC-${run}-${String(index).padStart(3, "0")}`)
    const priorityOf = new Map(ids.map((id, index) => [id, priorities[(index * 7) % 3]!]))

    // Open every order (ProcessOrderStream answers its headers once the order is open and its
    // job queued), 25 at a time, alternating between the replicas; then close the streams.
    for (let start = 0; start < ids.length; start += 25) {
      await Promise.all(
        ids.slice(start, start + 25).map(async (id, index) => {
          const stream = openStream(
            channels[index % 2]!,
            streamRequest(id, industry, { priority: priorityOf.get(id)! }),
          )
          await stream.header
          stream.cancel()
        }),
      )
    }

    const wanted = new Set(ids)
    const deadline = Date.now() + 50_000
    let stats: Array<Stat> = []
    while (Date.now() < deadline) {
      const raw = await redis.lrange("dispatch:stats", 0, -1)
      stats = raw.map((line) => JSON.parse(line) as Stat).filter((stat) => wanted.has(stat.orderReqId))
      if (
        new Set(stats.filter((stat) => stat.outcome === "dispatched").map((stat) => stat.orderReqId)).size === orders
      ) {
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }

    const dispatched = stats.filter((stat) => stat.outcome === "dispatched")
    expect(dispatched).toHaveLength(orders)
    expect(new Set(dispatched.map((stat) => stat.orderReqId)).size).toBe(orders)
    expect(stats.filter((stat) => stat.outcome === "failed")).toEqual([])

    // Concurrency, measured from the jobs and from the provider they call.
    const overlap = maxOverlap(stats)
    expect(overlap).toBeLessThanOrEqual(limit)
    expect(overlap).toBeGreaterThanOrEqual(limit - 1)
    expect(maxInFlight).toBeLessThanOrEqual(limit)
    expect(calls).toBeGreaterThanOrEqual(orders)
    // Both replicas took part.
    expect(new Set(dispatched.map((stat) => stat.replica)).size).toBe(2)

    // Priorities: HIGH jobs finish earlier than LOW ones on average (MEDIUM in between).
    const finished = (priority: string) =>
      mean(dispatched.filter((stat) => stat.priority === priority).map((stat) => stat.endedAt))
    expect(finished("HIGH")).toBeLessThan(finished("MEDIUM"))
    expect(finished("MEDIUM")).toBeLessThan(finished("LOW"))
    expect(dispatched.map((stat) => stat.priority).sort()).toEqual(
      ids.map((id) => priorityName[priorityOf.get(id)!]).sort(),
    )

    // Exactly one SellersSelected per order, with the three sellers.
    const pipeline = redis.pipeline()
    for (const id of ids) pipeline.xrange(orderEventsKey(id), "-", "+")
    const logs = (await pipeline.exec()) ?? []
    for (const [error, entries] of logs) {
      expect(error).toBeNull()
      const records = (entries as Array<[string, Array<string>]>).map(([, fields]) => JSON.parse(fields[1]!))
      expect(records.map((record: { status: string }) => record.status)).toEqual(["SellersSelected"])
      expect(records[0].details.Count).toBe("3")
    }
  }, 60_000)
})
