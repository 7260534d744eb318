import { describe, expect, it } from "vitest"
import { deadLetterReport } from "../../../src/orders/topicMessage.ts"

describe("deadLetterReport", () => {
  const fields = ["topic", "BUYER_NOTIFY", "key", "ORD-7", "headers", "[1,2]", "payload", '{"Seq":3}']

  it("reports an entry that can never be published on the failure topic, with the reason and the entry", () => {
    const report = deadLetterReport(
      { id: "1700000000000-4", fields },
      "headers are not a JSON object",
      "2026-01-02T03:04:05.678Z",
      "REQ_failures",
      "ORD_UPDATES",
    )
    expect(report.topic).toBe("REQ_failures")
    expect(report.key).toBe("ORD-7")
    expect(report.headers).toMatchObject({ "event-type": "ORD_UPDATES", "event-id": "outbox-dead:1700000000000-4" })
    expect(JSON.parse(report.payload)).toMatchObject({
      EventID: "outbox-dead:1700000000000-4",
      OrderReqID: "ORD-7",
      Key: "ORD_UPDATES",
      Operation: "publish",
      Reason: "headers are not a JSON object",
      Message: "outbox entry could not be published: headers are not a JSON object",
      Timestamp: "2026-01-02T03:04:05.678Z",
      Request: { topic: "BUYER_NOTIFY", key: "ORD-7", headers: "[1,2]", payload: '{"Seq":3}' },
    })
  })

  it("keys the report `unknown` when the entry's key is not a valid subject token, and keeps its EventID stable", () => {
    const bad = ["topic", "SELLER_NOTIFY", "key", "ORD 7.x", "payload", "{}"]
    const first = deadLetterReport(
      { id: "1-0", fields: bad },
      "invalid subject",
      "2026-01-02T03:04:05.678Z",
      "PRP_FAILURES",
    )
    const again = deadLetterReport(
      { id: "1-0", fields: bad },
      "invalid subject",
      "2026-01-02T03:04:05.678Z",
      "PRP_FAILURES",
    )
    expect(first.key).toBe("unknown")
    expect(JSON.parse(first.payload).Key).toBe("OUTBOX_DEAD_LETTER")
    expect(JSON.parse(first.payload).EventID).toBe(JSON.parse(again.payload).EventID)
  })
})
