/** The event-log and priority-queue decorators: events counted per status once committed, queue waits per priority. */
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import type { PriorityQueueShape } from "../../../src/coordination/PriorityQueue.ts"
import { MetricNames } from "../../../src/metrics/catalogue.ts"
import { instrumentPriorityQueue } from "../../../src/metrics/coordination.ts"
import { instrumentEventLog } from "../../../src/metrics/eventLog.ts"
import { Metrics, type MetricsShape } from "../../../src/metrics/Metrics.ts"
import type { OrderEventRecord } from "../../../src/orders/events.ts"
import type { OrderEventLogShape } from "../../../src/orders/OrderEventLog.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

const record = (seq: number, status: OrderEventRecord["status"]): OrderEventRecord => ({
  orderReqId: "ORD-1",
  seq,
  eventId: `E${seq}`,
  status,
  occurredAt: new Date().toISOString(),
  message: "",
  details: {},
})

const total = async (metrics: MetricsShape, name: string, labels: Record<string, string>) =>
  sumSamples(parseExposition(await metrics.registry.metrics()), name, labels)

describe("metric decorators", () => {
  it("counts appended events per status, and recorded (not duplicate) ones", async () => {
    const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
    // Only what the decorator wraps; it passes the rest through.
    const append: OrderEventLogShape["append"] = (_, drafts) =>
      Effect.succeed(drafts.length === 0 ? [] : [record(1, "SellersSelected"), record(2, "NewProposal")])
    const recordOnce: OrderEventLogShape["record"] = (event) =>
      Effect.succeed(event.seq <= 1 ? "duplicate" : "recorded")
    const log = { append, record: recordOnce } as unknown as OrderEventLogShape
    const counted = instrumentEventLog(log, metrics.catalogue, (record) => record.status)
    await Effect.runPromise(counted.append("ORD-1", [{} as never, {} as never]))
    await Effect.runPromise(counted.append("ORD-1", []))
    await Effect.runPromise(counted.record(record(1, "SellersSelected")))
    await Effect.runPromise(counted.record(record(3, "NewProposal")))
    expect(await total(metrics, MetricNames.orderEvents, { status: "SellersSelected" })).toBe(1)
    expect(await total(metrics, MetricNames.orderEvents, { status: "NewProposal" })).toBe(2)
  })

  it("observes the wait of every job taken, by priority", async () => {
    const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
    const jobs = [
      { id: "a", priority: "HIGH" as const, payload: "", enqueuedAt: 0, waitedMs: 1_500, leaseUntil: 0 },
      { id: "b", priority: "LOW" as const, payload: "", enqueuedAt: 0, waitedMs: 40_000, leaseUntil: 0 },
    ]
    const queue = instrumentPriorityQueue(
      {
        take: () => Effect.sync(() => Option.fromNullishOr(jobs.shift())),
      } as unknown as PriorityQueueShape,
      metrics.catalogue,
    )
    for (let i = 0; i < 3; i++) await Effect.runPromise(queue.take("dispatch", { leaseMs: 1_000 }))
    expect(await total(metrics, `${MetricNames.queueWait}_count`, { priority: "HIGH" })).toBe(1)
    expect(await total(metrics, `${MetricNames.queueWait}_sum`, { priority: "HIGH" })).toBe(1.5)
    expect(await total(metrics, `${MetricNames.queueWait}_count`, { priority: "LOW" })).toBe(1)
    expect(await total(metrics, `${MetricNames.queueWait}_sum`, { priority: "LOW" })).toBe(40)
    expect(await total(metrics, `${MetricNames.queueWait}_count`, { priority: "MEDIUM" })).toBe(0)
  })
})
