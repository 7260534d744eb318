/** The registry: the whole catalogue registered once, Prometheus naming, the service label, scrape hooks. */
import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { MetricNames, metricNames } from "../../../src/metrics/catalogue.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"

const make = (service = "processor", defaultMetrics = false) =>
  Effect.runSync(Metrics.make(service, { defaultMetrics, scrapeHookTimeout: "200 millis" }))

describe("the metric catalogue", () => {
  it("registers every catalogue metric, with HELP and TYPE, in each registry", async () => {
    const metrics = make()
    const exposition = await Effect.runPromise(metrics.exposition)
    expect(metricNames.length).toBe(40)
    expect(new Set(metricNames).size).toBe(metricNames.length)
    for (const name of metricNames) {
      expect(metrics.registry.getSingleMetric(name), name).toBeDefined()
      expect(exposition.body).toMatch(new RegExp(`^# HELP ${name} .+$`, "m"))
      expect(exposition.body).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, "m"))
    }
    expect(exposition.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
  })

  it("follows the Prometheus conventions: counters end in _total, durations are histograms in seconds", () => {
    const metrics = make()
    for (const name of metricNames) {
      const type = (metrics.registry.getSingleMetric(name) as unknown as { constructor: { name: string } }).constructor
        .name
      if (type === "Counter") expect(name, name).toMatch(/_total$/)
      else expect(name, name).not.toMatch(/_total$/)
      if (/_seconds$/.test(name) && type !== "Gauge") expect(type, name).toBe("Histogram")
      expect(name).toMatch(/^[a-z][a-z0-9_]*$/)
    }
  })

  it("labels every series with the service, and adds Node's process metrics in the live registry", async () => {
    const metrics = make("requestor", true)
    metrics.catalogue.orderEvents.labels("NewProposal").inc()
    const body = (await Effect.runPromise(metrics.exposition)).body
    expect(body).toMatch(/^dcent_order_events_total\{status="NewProposal",service="requestor"\} 1$/m)
    expect(body).toMatch(/^process_cpu_user_seconds_total\{service="requestor"\} /m)
  })

  it("runs scrape hooks before rendering; a failing or hanging hook keeps its gauge and does not fail the scrape", async () => {
    const metrics = make()
    const scope = Effect.runSync(Scope.make())
    let lag = 1.5
    await Effect.runPromise(
      Effect.gen(function* () {
        yield* metrics.onScrape(
          "outbox",
          Effect.sync(() => metrics.catalogue.outboxLag.set(lag)),
        )
        yield* metrics.onScrape("broken", Effect.fail(new Error("redis down")))
        yield* metrics.onScrape("hanging", Effect.never)
      }).pipe(Scope.provide(scope)),
    )
    const first = await Effect.runPromise(metrics.exposition)
    expect(first.body).toMatch(new RegExp(`^${MetricNames.outboxLag}\\{service="processor"\\} 1.5$`, "m"))
    lag = 3
    await Effect.runPromise(Scope.close(scope, Exit.void))
    // Hooks end with their scope: the gauge keeps its last value.
    const second = await Effect.runPromise(metrics.exposition)
    expect(second.body).toMatch(new RegExp(`^${MetricNames.outboxLag}\\{service="processor"\\} 1.5$`, "m"))
  })
})
