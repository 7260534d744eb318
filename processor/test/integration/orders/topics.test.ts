/**
 * What the processor publishes to Kafka for one order (through its outbox): `SELLER_NOTIFY`
 * (`PRP_REQUEST`) per selected seller and on pause/finalise, `SELLER_ACKNOWLEDGEMENTS`
 * (`PRP_SUBMISSION`, "Proposal Submitted"), `SELLER_FOLLOWUP` (`PRP_UPDATES`) for a buyer
 * follow-up, and `PRP_FAILURES` (`PRP_SUBMISSION`, reason + original request) for a refused
 * submission or a body not sent as JSON (415). Message key = OrderReqID, header `event-type` = Key.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { type Channel, createChannel } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Broker, type BrokerMessage } from "../../../../shared/src/broker/Broker.ts"
import { BrokerKafka } from "../../../../shared/src/broker/kafka.ts"
import { kafkaUrl, servers } from "../../../../test/support/servers.ts"
import type { RunningProcessor } from "../../../../test/support/services.ts"
import { startProcessor } from "../../../../test/support/services.ts"
import { http, openStream, registerSellers, runId, statusOf, streamRequest, unaryClient } from "../../support/orders.ts"

const run = runId()
const industry = `Topics-${run}`
const order = `TP-${run}`
const seller = (n: number) => `TP-${run}-S${n}`
const topics = ["SELLER_NOTIFY", "SELLER_ACKNOWLEDGEMENTS", "SELLER_FOLLOWUP", "PRP_FAILURES"] as const

interface Received {
  readonly topic: string
  readonly key: string
  readonly headers: Record<string, string>
  readonly payload: Record<string, unknown>
}

describe("topic messages of an order", () => {
  let processor: RunningProcessor
  let channel: Channel
  let scope: Scope.Closeable
  const received: Array<Received> = []

  beforeAll(async () => {
    scope = Scope.makeUnsafe()
    const layer = BrokerKafka.layer({
      servers: [`${servers.kafka.host}:${servers.kafka.port}`],
      url: kafkaUrl,
      clientId: `topics-test-${run}`,
      knownTopics: [],
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 1_000,
    })
    const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    await Effect.runPromise(
      Effect.gen(function* () {
        const broker = yield* Broker
        for (const topic of topics) {
          const subscription = yield* broker.subscribe({
            subject: `${topic}.${order}`,
            group: `topics-test-${run}-${topic}`,
            fromBeginning: true,
            handler: (message: BrokerMessage) =>
              Effect.sync(() => {
                received.push({
                  topic: message.topic,
                  key: message.key,
                  headers: { ...message.headers },
                  payload: JSON.parse(new TextDecoder().decode(message.payload)) as Record<string, unknown>,
                })
              }),
          })
          yield* subscription.ready
        }
      }).pipe(Effect.provide(context), Scope.provide(scope)),
    )
    processor = await startProcessor({ env: { FIND_MAX_SEL: "2" } })
    channel = createChannel(processor.grpcAddress)
    await registerSellers(
      processor,
      [1, 2, 3].map((n) => ({
        SellerID: seller(n),
        Name: `Seller ${n}`,
        Industries: [industry],
        Location: { Lat: 12.9716 + n / 50, Lng: 77.5946 },
      })),
    )
  }, 120_000)

  afterAll(async () => {
    channel?.close()
    await processor?.stop()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  const waitFor = async (predicate: (message: Received) => boolean, count = 1, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const found = received.filter(predicate)
      if (found.length >= count) return found
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`timed out; received ${JSON.stringify(received.map((m) => [m.topic, m.payload.Message]))}`)
  }

  it("publishes the seller-side messages with the spec's payload, key and headers", async () => {
    const stream = openStream(channel, streamRequest(order, industry))
    await stream.waitFor((event) => statusOf(event) === "SellersSelected")
    const session = `SESSION-${order}`

    const selected = await waitFor((message) => message.topic === "SELLER_NOTIFY" && message.payload.Seq === 1, 2)
    expect(selected.map((message) => message.payload.SellerID).sort()).toEqual([seller(1), seller(2)])
    for (const message of selected) {
      expect(message.key).toBe(order)
      expect(message.headers["event-type"]).toBe("PRP_REQUEST")
      expect(message.payload).toMatchObject({
        OrderReqID: order,
        SessionID: session,
        Key: "PRP_REQUEST",
        Status: "SellersSelected",
      })
      expect(typeof message.payload.EventID).toBe("string")
      expect(Date.parse(String(message.payload.Timestamp))).not.toBeNaN()
    }

    const submitted = await http(processor, "POST", "/api/v1/proposal-submissions", {
      OrderReqID: order,
      Seller: seller(1),
      ProposalDictObj: { ProposalID: "PROP-001", Price: 1000.0, DeliveryDate: "2025-11-01T00:00:00Z" },
    })
    expect(submitted.status).toBe(201)
    const [ack] = await waitFor((message) => message.topic === "SELLER_ACKNOWLEDGEMENTS")
    expect(ack!.headers["event-type"]).toBe("PRP_SUBMISSION")
    expect(ack!.payload).toMatchObject({
      Key: "PRP_SUBMISSION",
      Message: "Proposal Submitted",
      OrderReqID: order,
      SessionID: session,
      Seq: 2,
      ProposalID: "PROP-001",
      SellerID: seller(1),
      Price: "1000",
    })

    const refusedBody = {
      OrderReqID: order,
      Seller: seller(3),
      ProposalDictObj: { ProposalID: "PROP-003", Price: 5, DeliveryDate: "2025-11-01" },
    }
    expect((await http(processor, "POST", "/api/v1/proposal-submissions", refusedBody)).status).toBe(403)
    const [failure] = await waitFor((message) => message.topic === "PRP_FAILURES")
    expect(failure!.headers["event-type"]).toBe("PRP_SUBMISSION")
    expect(failure!.payload).toMatchObject({
      Key: "PRP_SUBMISSION",
      OrderReqID: order,
      SessionID: session,
      Operation: "proposal-submission",
      Code: "seller_not_eligible",
      HttpStatus: 403,
      Request: refusedBody,
    })

    const answer = await unaryClient(channel).processFollowUp({
      orderReqId: order,
      transactionUuid: `tx-${run}`,
      audienceProposalIds: ["PROP-001"],
      message: { urls: [], messageType: "text", text: "Please clarify delivery terms" },
    })
    const [followUp] = await waitFor((message) => message.topic === "SELLER_FOLLOWUP")
    expect(followUp!.headers["event-type"]).toBe("PRP_UPDATES")
    expect(followUp!.payload).toMatchObject({
      Key: "PRP_UPDATES",
      SellerID: seller(1),
      ProposalID: "PROP-001",
      FollowUpID: answer.followUpId,
      Text: "Please clarify delivery terms",
      Seq: answer.seq,
    })

    const paused = await unaryClient(channel).pauseOrder({ orderReqId: order, transactionUuid: `p-${run}`, reason: "" })
    const pauseNotes = await waitFor(
      (message) => message.topic === "SELLER_NOTIFY" && message.payload.Seq === paused.seq,
      2,
    )
    expect(pauseNotes.map((message) => message.payload.SellerID).sort()).toEqual([seller(1), seller(2)])
    expect(pauseNotes[0]!.payload).toMatchObject({ Status: "OrderPaused", Reason: "buyer" })
    stream.cancel()
  }, 90_000)

  it("answers a body sent without Content-Type: application/json 415 with the common error body, and publishes it", async () => {
    const body = {
      OrderReqID: order,
      Seller: seller(1),
      ProposalDictObj: { ProposalID: "PROP-415", Price: 10, DeliveryDate: "2025-11-01" },
    }
    // What `curl -d '{...}'` sends without `-H 'Content-Type: application/json'`.
    const response = await fetch(`${processor.httpUrl}/api/v1/proposal-submissions`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(415)
    expect(response.headers.get("content-type")).toMatch(/^application\/json/)
    expect(await response.json()).toEqual({
      error: { code: "unsupported_media_type", message: "send JSON with Content-Type: application/json", details: [] },
    })
    const [failure] = await waitFor((message) => message.topic === "PRP_FAILURES" && message.payload.HttpStatus === 415)
    expect(failure!.headers["event-type"]).toBe("PRP_SUBMISSION")
    expect(failure!.payload).toMatchObject({
      OrderReqID: order,
      SessionID: `SESSION-${order}`,
      Operation: "proposal-submission",
      Code: "unsupported_media_type",
      Request: body,
    })
  })
})
