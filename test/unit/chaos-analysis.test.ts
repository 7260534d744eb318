/**
 * The chaos suite's counting (test/chaos/analysis.ts) on made-up runs: it must report a lost,
 * duplicated, overwritten or unpublished event, so `make chaos` can fail.
 */
import { describe, expect, it } from "vitest"
import { analyse } from "../chaos/analysis.ts"
import type { Injection } from "../chaos/faults.ts"
import type { OrderObserver } from "../chaos/observer.ts"
import type { TopicMessage } from "../chaos/truth.ts"
import type { Acknowledged, OrderRun } from "../chaos/workload.ts"
import type { SeenEvent } from "../support/e2e.ts"

const order = "CH-TEST-O1"
const t0 = Date.parse("2026-11-21T10:00:00Z")
const at = (second: number) => new Date(t0 + second * 1000).toISOString()

const event = (seq: number, status: string, extra: Partial<SeenEvent> = {}): SeenEvent => ({
  seq,
  status,
  eventId: `E${seq}`,
  proposalId: "",
  followUpId: "",
  message: "",
  occurredAt: at(seq * 10),
  details: {},
  receivedAt: 0,
  ...extra,
})

/** SellersSelected (S1), NewProposal P1 by S1, OrderFinalised. */
const log: ReadonlyArray<SeenEvent> = [
  event(1, "SellersSelected", { details: { Sellers: JSON.stringify([{ SellerID: "S1" }]) } }),
  event(2, "NewProposal", { proposalId: "P1", details: { SellerID: "S1" } }),
  event(3, "OrderFinalised"),
]

/** Every topic message the three events must produce. */
const allMessages: ReadonlyArray<TopicMessage> = [
  ["BUYER_NOTIFY", "E1"],
  ["SELLER_NOTIFY", "E1:S1"],
  ["BUYER_NOTIFY", "E2"],
  ["SELLER_ACKNOWLEDGEMENTS", "E2:S1"],
  ["BUYER_NOTIFY", "E3"],
  ["SELLER_NOTIFY", "E3:S1"],
  ["BUYER_ACKNOWLEDGEMENTS", "A1"],
].map(([topic, eventId]) => ({
  topic: topic as string,
  key: order,
  eventId: eventId as string,
  headerEventId: eventId as string,
  timestampMs: 0,
}))

const injections: ReadonlyArray<Injection> = [
  { kind: "processor-kill", round: 0, target: "processor-A", injectedAt: t0 + 15_000, healedAt: t0 + 18_000 },
]

const ack: Acknowledged = {
  orderReqId: order,
  seq: 2,
  status: "NewProposal",
  proposalId: "P1",
  sentAt: t0 + 19_000,
  answeredAt: t0 + 20_000,
  operation: "proposal",
}

const runWith = (seen: ReadonlyArray<number>, anomalies: OrderObserver["anomalies"] = []): OrderRun => ({
  orderReqId: order,
  startedAt: t0,
  initiatedAt: t0 + 1_000,
  observer: {
    orderReqId: order,
    events: seen.map((seq) => ({ ...(log[seq - 1] as SeenEvent), receivedAtMs: t0 + seq * 10_000 + 500 })),
    lastSeq: Math.max(0, ...seen),
    anomalies,
    reconnects: 0,
    lastError: "",
    finalised: seen.includes(3),
  } as unknown as OrderObserver,
})

const truth = (run: OrderRun, processorLastSeq = 3, requestorLog = log) => [{ run, processorLastSeq, requestorLog }]

describe("chaos analysis", () => {
  it("counts nothing wrong when every event reached the observer and its topics", () => {
    const { total, rows } = analyse(injections, truth(runWith([1, 2, 3])), [ack], allMessages)
    expect(total).toMatchObject({ events: 3, acknowledged: 1, delivered: 3, lost: 0, duplicatedOrOutOfOrder: 0 })
    expect(total.missingFromTopics).toBe(0)
    // seq 1 (t0+10 s) is before the injection; seqs 2 and 3 after it.
    expect(rows.find((row) => row.kind === "baseline")?.events).toBe(1)
    expect(rows.find((row) => row.kind === "processor-kill")).toMatchObject({ events: 2, injections: 1 })
    // Recovery: the acknowledged seq 2 (sent 4 s after the injection) arrived at t0+20.5 s.
    expect(rows.find((row) => row.kind === "processor-kill")?.recoveryMs).toEqual([5_500])
  })

  it("counts an event the observer never got as lost", () => {
    const { total, findings } = analyse(injections, truth(runWith([1, 3])), [ack], allMessages)
    expect(total.lost).toBe(1)
    expect(findings.some((finding) => finding.what.includes("seq 2"))).toBe(true)
  })

  it("counts an event the processor committed but the requestor's log lacks as lost", () => {
    const { total } = analyse(injections, truth(runWith([1, 2, 3]), 4), [ack], allMessages)
    expect(total.lost).toBe(1)
  })

  it("counts an acknowledged seq that the log holds as another event as lost", () => {
    const overwritten = { ...ack, proposalId: "P9" }
    expect(analyse(injections, truth(runWith([1, 2, 3])), [overwritten], allMessages).total.lost).toBe(1)
  })

  it("counts duplicate and out-of-order arrivals", () => {
    const anomalies: OrderObserver["anomalies"] = [
      { kind: "duplicate", seq: 2, after: 2, at: t0 + 21_000 },
      { kind: "out-of-order", seq: 3, after: 1, at: t0 + 30_000 },
    ]
    expect(
      analyse(injections, truth(runWith([1, 2, 3], anomalies)), [ack], allMessages).total.duplicatedOrOutOfOrder,
    ).toBe(2)
  })

  it("counts a topic message that never appeared, and allows duplicates with one EventID", () => {
    const withoutSellerAck = allMessages.filter((message) => message.eventId !== "E2:S1")
    const duplicated = [...withoutSellerAck, allMessages[0] as TopicMessage]
    const { total } = analyse(injections, truth(runWith([1, 2, 3])), [ack], duplicated)
    expect(total.missingFromTopics).toBe(1)
    expect(total.duplicateTopicMessages).toBe(1)
  })

  it("counts an initiated order without a BUYER_ACKNOWLEDGEMENTS message as missing", () => {
    const withoutAck = allMessages.filter((message) => message.topic !== "BUYER_ACKNOWLEDGEMENTS")
    expect(analyse(injections, truth(runWith([1, 2, 3])), [ack], withoutAck).total.missingFromTopics).toBe(1)
  })
})
