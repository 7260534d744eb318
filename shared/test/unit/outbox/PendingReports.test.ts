/**
 * Failure reports held while Redis is down: bounded, committed in order, counted when dropped, no
 * body in logs. The worker's retry backoff runs on the test clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { Broker, type BrokerShape } from "../../../src/broker/Broker.ts"
import { BrokerUnavailable } from "../../../src/broker/errors.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"
import type { OutboxEntry } from "../../../src/outbox/entry.ts"
import { OutboxError } from "../../../src/outbox/errors.ts"
import { Outbox, type OutboxShape } from "../../../src/outbox/Outbox.ts"
import { PendingReports } from "../../../src/outbox/PendingReports.ts"
import { Drain } from "../../../src/runtime/Drain.ts"

const report = (orderReqId: string): OutboxEntry => ({
  topic: "REQ_failures",
  key: orderReqId,
  headers: { "event-id": `failure:${orderReqId}` },
  payload: JSON.stringify({ OrderReqID: orderReqId, Buyer: "secret buyer details" }),
})

/** An outbox whose Redis is down until `redisUp` is set; records the commits tried and those made. */
const fakes = (capacity?: number) => {
  const state = {
    redisUp: false,
    attempts: [] as Array<string>,
    committed: [] as Array<string>,
    logs: [] as Array<string>,
  }
  const add: OutboxShape["add"] = (orderReqId) =>
    Effect.suspend(() => {
      state.attempts.push(orderReqId)
      return state.redisUp
        ? Effect.sync(() => {
            state.committed.push(orderReqId)
          })
        : Effect.fail(new OutboxError({ operation: "add", reason: "Unavailable", detail: "connection refused" }))
    })
  const publish: BrokerShape["publish"] = () =>
    Effect.fail(new BrokerUnavailable({ url: "kafka://127.0.0.1:1", reason: "down" }))
  const capture = Logger.make(({ message, fiber }) => {
    state.logs.push(JSON.stringify({ message, annotations: fiber.getRef(References.CurrentLogAnnotations) }))
  })
  const layer = Layer.effect(PendingReports, PendingReports.make({ capacity })).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.succeed(Outbox, { add }),
        Layer.succeed(Broker, { publish } as unknown as BrokerShape),
        Metrics.layerTest,
        Drain.layerWith("5 seconds"),
        Logger.layer([capture]),
      ),
    ),
  )
  return { state, layer }
}

const sampleOf = (metrics: Metrics["Service"], name: string, labels: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const metric = metrics.registry.getSingleMetric(name)
    const values = (await metric?.get())?.values ?? []
    return values.find((value) => Object.entries(labels).every(([key, v]) => value.labels[key] === v))?.value ?? 0
  })

/** Moves the test clock on in 25 ms steps (the worker's backoff tops out at 5 s) until `done` (bounded). */
const waitUntil = (done: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !done(); i++) yield* TestClock.adjust("25 millis")
    expect(done()).toBe(true)
  })

describe("PendingReports", () => {
  it.effect(
    "is bounded: a full queue drops the oldest, counts it, and commits the rest in order once Redis is back",
    () => {
      const { state, layer } = fakes(2)
      return Effect.gen(function* () {
        const pending = yield* PendingReports
        const metrics = yield* Metrics
        // The worker is retrying ORD-1 when ORD-3 pushes ORD-1 out of the full queue.
        yield* pending.defer("ORD-1", [report("ORD-1")])
        yield* pending.defer("ORD-2", [report("ORD-2")])
        yield* waitUntil(() => state.attempts.length >= 2)
        expect(state.attempts).toEqual(["ORD-1", "ORD-1"])
        yield* pending.defer("ORD-3", [report("ORD-3")])
        expect(yield* pending.size).toBe(2)
        expect(yield* sampleOf(metrics, "dcent_pending_reports")).toBe(2)
        expect(yield* sampleOf(metrics, "dcent_pending_reports_dropped_total", { reason: "capacity" })).toBe(1)

        state.redisUp = true
        yield* waitUntil(() => state.committed.includes("ORD-3"))
        // ORD-1 was already being committed when it was dropped; ORD-2 must not be lost in its place.
        expect(state.committed.filter((id) => id !== "ORD-1")).toEqual(["ORD-2", "ORD-3"])
        expect(yield* pending.size).toBe(0)
        expect(yield* sampleOf(metrics, "dcent_pending_reports")).toBe(0)
      }).pipe(Effect.provide(layer))
    },
  )

  it.effect("keeps the newest `capacity` reports: each one dropped is counted and logged by its order id", () => {
    const { state, layer } = fakes(4)
    return Effect.gen(function* () {
      const pending = yield* PendingReports
      const metrics = yield* Metrics
      for (let i = 1; i <= 10; i++) yield* pending.defer(`ORD-${i}`, [report(`ORD-${i}`)])
      expect(yield* pending.size).toBe(4)
      expect(yield* sampleOf(metrics, "dcent_pending_reports_dropped_total", { reason: "capacity" })).toBe(6)
      state.redisUp = true
      yield* waitUntil(() => state.committed.includes("ORD-10"))
      // ORD-1 may have been in flight when it was dropped; the others are the newest four, in order.
      expect(state.committed.filter((id) => id !== "ORD-1")).toEqual(["ORD-7", "ORD-8", "ORD-9", "ORD-10"])
    }).pipe(
      Effect.provide(layer),
      Effect.andThen(
        Effect.sync(() => {
          const dropped = state.logs.filter((line) => line.includes("failure report dropped"))
          expect(dropped.map((line) => /"orderReqId":"([^"]+)"/.exec(line)?.[1])).toEqual([
            "ORD-1",
            "ORD-2",
            "ORD-3",
            "ORD-4",
            "ORD-5",
            "ORD-6",
          ])
        }),
      ),
    )
  })

  it.effect("at drain, counts a report neither Redis nor the broker took, and logs its ids without the body", () => {
    const { state, layer } = fakes()
    return Effect.gen(function* () {
      const pending = yield* PendingReports
      const metrics = yield* Metrics
      yield* pending.defer("ORD-9", [report("ORD-9")])
      yield* (yield* Drain).run
      expect(yield* pending.size).toBe(0)
      expect(yield* sampleOf(metrics, "dcent_pending_reports_dropped_total", { reason: "lost" })).toBe(1)
    }).pipe(
      Effect.provide(layer),
      Effect.andThen(
        Effect.sync(() => {
          const lost = state.logs.find((line) => line.includes("failure report lost"))
          expect(lost).toBeDefined()
          expect(lost).toContain("ORD-9")
          expect(lost).toContain("failure:ORD-9")
          expect(lost).not.toContain("secret buyer details")
        }),
      ),
    )
  })
})
