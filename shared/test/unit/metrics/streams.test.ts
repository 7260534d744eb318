/** Event-stream tracking: open gauge, disconnect reasons, per-event delivery latency. */
import { Deferred, Effect, Fiber, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { DeliveryStages, DisconnectReasons, MetricNames, StreamKinds } from "../../../src/metrics/catalogue.ts"
import { Metrics, type MetricsShape } from "../../../src/metrics/Metrics.ts"
import { trackEventStream } from "../../../src/metrics/streams.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

interface Event {
  readonly status: string
  readonly occurredAt: string
}

const event = (status: string, agoMs = 0): Event => ({ status, occurredAt: new Date(Date.now() - agoMs).toISOString() })

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

const total = async (metrics: MetricsShape, name: string, labels: Record<string, string>) =>
  sumSamples(parseExposition(await metrics.registry.metrics()), name, labels)

const disconnects = (metrics: MetricsShape, reason: string) =>
  total(metrics, MetricNames.streamDisconnects, { stream: "watch_order", reason })

describe("event stream tracking", () => {
  it("counts the stream open while it runs and `completed` after the terminal event; observes each event", async () => {
    const { metrics, track } = setup()
    const release = Effect.runSync(Deferred.make<void>())
    const stream = Stream.make(event("SellersSelected", 1_000), event("NewProposal")).pipe(
      Stream.concat(Stream.fromEffect(Deferred.await(release)).pipe(Stream.drain)),
      Stream.concat(Stream.make(event("OrderFinalised"))),
      track,
    )
    const fiber = Effect.runFork(Stream.runDrain(stream))
    // Both first events went through; the stream now waits for `release`.
    while ((await total(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "watch_order" })) < 2) {
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(await total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(1)
    Effect.runSync(Deferred.succeed(release, undefined))
    await Effect.runPromise(Fiber.join(fiber))
    expect(await total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(0)
    expect(await disconnects(metrics, "completed")).toBe(1)
    expect(await total(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "watch_order" })).toBe(3)
    expect(await total(metrics, `${MetricNames.eventDeliveryLatency}_sum`, { stage: "watch_order" })).toBeGreaterThan(
      0.9,
    )
  })

  it("with liveOnly, leaves out events that occurred before the stream opened (history replay)", async () => {
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
    const live = Stream.fromEffect(Effect.sync(() => event("NewProposal", -5)))
    await Effect.runPromise(
      Stream.runDrain(Stream.make(event("SellersSelected", 60_000)).pipe(Stream.concat(live), track)),
    )
    expect(await total(metrics, `${MetricNames.eventDeliveryLatency}_count`, { stage: "sse" })).toBe(1)
  })

  it("names the end: interrupted → the caller's reason, failed → error, ended early → the caller's reason", async () => {
    const { metrics, track } = setup()
    const fiber = Effect.runFork(Stream.runDrain(Stream.never.pipe(track)))
    await new Promise((resolve) => setTimeout(resolve, 10))
    await Effect.runPromise(Fiber.interrupt(fiber))
    await Effect.runPromise(Effect.exit(Stream.runDrain(Stream.fail("redis down").pipe(track))))
    await Effect.runPromise(Stream.runDrain(Stream.make(event("NewProposal")).pipe(track)))
    expect(await disconnects(metrics, "client_closed")).toBe(1)
    expect(await disconnects(metrics, "error")).toBe(1)
    expect(await disconnects(metrics, "shutdown")).toBe(1)
    expect(await disconnects(metrics, "completed")).toBe(0)
    expect(await total(metrics, MetricNames.streamsOpen, { stream: "watch_order" })).toBe(0)
  })
})
