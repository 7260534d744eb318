/** Event-stream tracking: open gauge, disconnect reasons, per-event delivery latency (on the test clock). */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { DeliveryStages, DisconnectReasons, MetricNames, StreamKinds } from "../../../src/metrics/catalogue.ts"
import { Metrics, type MetricsShape } from "../../../src/metrics/Metrics.ts"
import { trackEventStream } from "../../../src/metrics/streams.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

interface Event {
  readonly status: string
  readonly occurredAt: string
}

/** An event that occurred `agoMs` before the (test) clock's now. */
const event = (status: string, agoMs = 0) =>
  Effect.map(Clock.currentTimeMillis, (now): Event => ({ status, occurredAt: new Date(now - agoMs).toISOString() }))

const setup = () => {
  const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
  const track = trackEventStream<Event>(metrics.catalogue, {
    kind: StreamKinds.WatchOrder,
    stage: DeliveryStages.WatchOrder,
    occurredAt: (each) => each.occurredAt,
    isTerminal: (each) => each.status === "OrderFinalised",
    onInterrupt: DisconnectReasons.ClientClosed,
    onEarlyEnd: DisconnectReasons.Shutdown,
  })
  return { metrics, track }
}

const total = (metrics: MetricsShape, name: string, labels: Record<string, string>) =>
  Effect.promise(async () => sumSamples(parseExposition(await metrics.registry.metrics()), name, labels))

const disconnects = (metrics: MetricsShape, reason: string) =>
  total(metrics, MetricNames.streamDisconnects, { stream: "watch_order", reason })

describe("event stream tracking", () => {
  it.effect("counts the stream open while it runs and `completed` after the terminal event; observes each event", () =>
    Effect.gen(function* () {
      const { metrics, track } = setup()
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const stream = Stream.make(yield* event("SellersSelected", 1_000), yield* event("NewProposal")).pipe(
        Stream.concat(Stream.fromEffect(Deferred.succeed(reached, undefined)).pipe(Stream.drain)),
        Stream.concat(Stream.fromEffect(Deferred.await(release)).pipe(Stream.drain)),
        // Occurred at the clock's 0; delivered after the clock moved on 250 ms.
        Stream.concat(Stream.make(yield* event("OrderFinalised"))),
        track,
      )
      const fiber = yield* Effect.forkChild(Stream.runDrain(stream))
      // Both first events went through; the stream now waits for `release`.
      yield* Deferred.await(reached)
      expect(yield* total(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "watch_order" })).toBe(2)
      expect(yield* total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(1)
      yield* TestClock.adjust("250 millis")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(fiber)
      expect(yield* total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(0)
      expect(yield* disconnects(metrics, "completed")).toBe(1)
      expect(yield* total(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "watch_order" })).toBe(3)
      // 1 s (the first event's age) + 0 + 0.25 s (the last one's wait).
      expect(yield* total(metrics, `${MetricNames.eventDeliveryLatency}_sum`, { stage: "watch_order" })).toBeCloseTo(
        1.25,
        9,
      )
    }),
  )

  it.effect("with liveOnly, leaves out events that occurred before the stream opened (history replay)", () =>
    Effect.gen(function* () {
      const metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
      const track = trackEventStream<Event>(metrics.catalogue, {
        kind: StreamKinds.Sse,
        stage: DeliveryStages.Sse,
        occurredAt: (each) => each.occurredAt,
        isTerminal: (each) => each.status === "OrderFinalised",
        onInterrupt: DisconnectReasons.ClientClosed,
        onEarlyEnd: DisconnectReasons.Shutdown,
        liveOnly: true,
      })
      const live = Stream.fromEffect(event("NewProposal", -5))
      yield* Stream.runDrain(Stream.make(yield* event("SellersSelected", 60_000)).pipe(Stream.concat(live), track))
      expect(yield* total(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "sse" })).toBe(1)
    }),
  )

  it.effect("names the end: interrupted → the caller's reason, failed → error, ended early → the caller's reason", () =>
    Effect.gen(function* () {
      const { metrics, track } = setup()
      const fiber = yield* Effect.forkChild(Stream.runDrain(Stream.never.pipe(track)))
      // Interrupted once it is open (no clock involved).
      for (let i = 0; i < 1_000; i++) {
        if ((yield* total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })) === 1) break
        yield* Effect.yieldNow
      }
      expect(yield* total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(1)
      yield* Fiber.interrupt(fiber)
      yield* Effect.exit(Stream.runDrain(Stream.fail("redis down").pipe(track)))
      yield* Stream.runDrain(Stream.make(yield* event("NewProposal")).pipe(track))
      expect(yield* disconnects(metrics, "client_closed")).toBe(1)
      expect(yield* disconnects(metrics, "error")).toBe(1)
      expect(yield* disconnects(metrics, "shutdown")).toBe(1)
      expect(yield* disconnects(metrics, "completed")).toBe(0)
      expect(yield* total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(0)
    }),
  )
})
