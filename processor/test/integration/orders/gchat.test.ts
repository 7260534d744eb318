/**
 * Dispatch of a GChat order: each selected seller with a webhook gets a Google Chat post naming
 * the seller and the order (this test's HTTP server stands in for Google Chat); the outcome per
 * seller is recorded in `order:{id}:gchat`. Sellers without a webhook are skipped.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Redis } from "ioredis"
import { type Channel, createChannel } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { redisUrl } from "../../../../test/support/servers.ts"
import { type RunningProcessor, startProcessor } from "../../../../test/support/services.ts"
import { Keys } from "../../../src/orders/model.ts"
import { openStream, registerSellers, runId, statusOf, streamRequest } from "../../support/orders.ts"

const run = runId()
const industry = `GChat-${run}`
const order = `GC-${run}`

describe("Google Chat on dispatch", () => {
  let processor: RunningProcessor
  let channel: Channel
  let chat: Server
  let redis: Redis
  const posts: Array<{ url: string; text: string }> = []

  beforeAll(async () => {
    chat = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => {
        body += chunk
      })
      request.on("end", () => {
        posts.push({ url: request.url ?? "", text: (JSON.parse(body) as { text: string }).text })
        response.writeHead(200, { "content-type": "application/json" })
        response.end("{}")
      })
    })
    await new Promise<void>((resolve) => chat.listen(0, "127.0.0.1", resolve))
    const base = `http://127.0.0.1:${(chat.address() as AddressInfo).port}`
    processor = await startProcessor()
    channel = createChannel(processor.grpcAddress)
    redis = new Redis(redisUrl, { keyPrefix: "dcent:processor:" })
    await registerSellers(processor, [
      {
        SellerID: `GC-${run}-S1`,
        Name: "Chatty",
        Industries: [industry],
        Location: { Lat: 12.98, Lng: 77.6 },
        ChatWebhookURL: `${base}/v1/spaces/s1/messages?key=k&token=t`,
      },
      { SellerID: `GC-${run}-S2`, Name: "Quiet", Industries: [industry], Location: { Lat: 12.99, Lng: 77.6 } },
    ])
  })

  afterAll(async () => {
    channel?.close()
    await processor?.stop()
    redis?.disconnect()
    await new Promise((resolve) => chat?.close(resolve))
  })

  it("posts to the webhook of each selected seller that has one and records the outcomes", async () => {
    const stream = openStream(channel, streamRequest(order, industry, { notificationType: "GChat" }))
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    const deadline = Date.now() + 10_000
    let results: Record<string, string> = {}
    while (Date.now() < deadline) {
      results = await redis.hgetall(Keys.chatResults(order))
      if (Object.keys(results).length === 2) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(JSON.parse(results[`GC-${run}-S1`] ?? "{}")).toMatchObject({ status: "sent" })
    expect(JSON.parse(results[`GC-${run}-S2`] ?? "{}")).toMatchObject({ status: "skipped" })
    expect(posts).toHaveLength(1)
    expect(posts[0]!.url).toBe("/v1/spaces/s1/messages?key=k&token=t")
    expect(posts[0]!.text).toContain(order)
    expect(posts[0]!.text).toContain("Chatty")
    // The webhook (a credential) never reaches the buyer's stream.
    expect(JSON.stringify(stream.events)).not.toContain("token=t")
    stream.cancel()
  })
})
