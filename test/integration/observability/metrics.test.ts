/**
 * The services' metrics seen by a real Prometheus, and the committed dashboards and alert rules
 * checked against them.
 *
 * A processor and a requestor run as real processes; a real Prometheus (Debian's package) scrapes
 * both every second and loads observability/prometheus/alerts.yml. A short workload (register
 * sellers and an order, watch it on WatchOrder and SSE, initiate, submit a proposal) must show up
 * as request, queue, stream and end-to-end latency series. Then every metric named by a panel of
 * observability/grafana/dashboards/*.json or by an alert rule must be one the services export
 * (a HELP/TYPE line of their live /metrics), and every rule must evaluate without error.
 */
import { readdirSync, readFileSync } from "node:fs"
import { metricNames } from "@dcent/shared/metrics/catalogue"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  describeResponse,
  type EventReader,
  http,
  type Stack,
  startStack,
  stopStack,
  uniqueId,
  watchOrder,
  watchSse,
  withRedis,
} from "../../support/e2e.ts"
import { repoRoot } from "../../support/processes.ts"
import { type RunningPrometheus, type Sample, startPrometheus } from "../../support/prometheus.ts"
import { baseMetricName, exportedMetricNames, metricNamesIn } from "../../support/promql.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../../support/redisKeys.ts"

// Redis databases no other test file uses (see the other files' *_DB constants).
const PROCESSOR_DB = 11
const REQUESTOR_DB = 12

const dashboardsDir = `${repoRoot}observability/grafana/dashboards`
const alertRules = `${repoRoot}observability/prometheus/alerts.yml`

/** Series Prometheus makes itself for every target: not exported by the services. */
/** The uid of a panel's datasource: Grafana's `${datasource}` variable. */
const datasourceVariable = ["$", "{datasource}"].join("")

const prometheusSeries = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"])

const run = uniqueId("OBS")
const orderId = `${run}-ORD`
const industry = `Observability ${run}`
const origin = { Lat: 12.9716, Lng: 77.5946 }
const sellers = [1, 2].map((n) => ({
  SellerID: `${run}-S${n}`,
  Name: `Observability seller ${n}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + n * 0.01, Lng: origin.Lng },
  Active: true,
}))

let stack: Stack
let prometheus: RunningPrometheus
const readers: Array<EventReader> = []

const total = (samples: ReadonlyArray<Sample>) => samples.reduce((sum, sample) => sum + Number(sample.value[1]), 0)
const services = (samples: ReadonlyArray<Sample>) => [...new Set(samples.map((sample) => sample.metric.service))].sort()

/** Waits until `promql` returns at least one series (and `until`, if given). */
const waitForSeries = (promql: string, until: (result: ReadonlyArray<Sample>) => boolean = () => true) =>
  prometheus.waitForQuery(promql, (result) => result.length > 0 && until(result), 30_000)

beforeAll(async () => {
  await withRedis(REQUESTOR_DB, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
  stack = await startStack({ processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB })
  prometheus = await startPrometheus(
    [
      { job: "dcent-processor", target: `127.0.0.1:${stack.processor.httpPort}` },
      { job: "dcent-requestor", target: `127.0.0.1:${stack.requestor.httpPort}` },
    ],
    { scrapeIntervalSeconds: 1, ruleFiles: [alertRules] },
  )

  // Both targets scraped before the workload: rate() counts a histogram's increase only between
  // two scrapes, so each series must be seen before the events that increase it.
  await waitForSeries('up{job=~"dcent-.*"} == 1', (result) => result.length === 2)

  // The workload: one order watched on both public streams, initiated (SellersSelected), then a
  // proposal (NewProposal), a pause and a resume (unary gRPC calls requestor → processor).
  const processorUrl = stack.processor.httpUrl
  const requestorUrl = stack.requestor.httpUrl
  const registered = await http("POST", `${processorUrl}/api/v1/sellers`, sellers)
  expect(registered.status, describeResponse(registered)).toBe(201)
  const order = await http("POST", `${requestorUrl}/api/v1/orders`, {
    OrderReqID: orderId,
    BuyerID: `${run}-BUYER`,
    Industry: industry,
    Location: origin,
    Products: [{ ProductID: "P-1", Name: "Observability widget", Quantity: 1, Unit: "piece" }],
    DeliveryDate: "2026-12-20",
    Priority: "HIGH",
  })
  expect(order.status, describeResponse(order)).toBe(201)
  const grpc = watchOrder(stack.requestor.grpcAddress, orderId)
  const sse = watchSse(requestorUrl, orderId)
  readers.push(grpc, sse)
  expect((await sse.response).status).toBe(200)
  const bothSee = async (status: string) => {
    for (const reader of [grpc, sse]) await reader.waitFor((event) => event.status === status, status)
  }

  const initiated = await http("POST", `${requestorUrl}/api/v1/initiate`, {
    OrderReqId: orderId,
    SessionID: `${run}-SESSION`,
    "Notification type": "Email",
  })
  expect(initiated.status, describeResponse(initiated)).toBe(202)
  // The processor knows the order once it has selected its sellers.
  await bothSee("SellersSelected")
  // Every delivery stage scraped once, so that the next events raise its rate.
  await waitForSeries("sum by (stage) (dcent_event_delivery_latency_seconds_count)", (result) => result.length >= 4)

  const submitted = await http("POST", `${processorUrl}/api/v1/proposal-submissions`, {
    OrderReqID: orderId,
    Seller: sellers[0]?.SellerID,
    ProposalDictObj: { ProposalID: `${run}-P1`, Price: 100, DeliveryDate: "2026-12-15T00:00:00Z", Currency: "INR" },
  })
  expect(submitted.status, describeResponse(submitted)).toBeLessThan(300)
  await bothSee("NewProposal")
  const paused = await http("PUT", `${requestorUrl}/api/v1/pause/${orderId}`)
  expect(paused.status, describeResponse(paused)).toBe(200)
  await bothSee("OrderPaused")
  const resumed = await http("PUT", `${requestorUrl}/api/v1/resume/${orderId}`)
  expect(resumed.status, describeResponse(resumed)).toBe(200)
  await bothSee("OrderResumed")
}, 180_000)

afterAll(async () => {
  for (const reader of readers) reader.close()
  await prometheus?.stop()
  await stopStack(stack)
})

describe("a real Prometheus scraping both services", () => {
  it("scrapes both targets", async () => {
    const up = await waitForSeries('up{job=~"dcent-.*"} == 1', (result) => result.length === 2)
    expect(up.map((sample) => sample.metric.job).sort()).toEqual(["dcent-processor", "dcent-requestor"])
  })

  it("has the REST request series of both services, with route and status code", async () => {
    const expected = ["requestor POST /api/v1/initiate 202", "processor POST /api/v1/proposal-submissions 201"]
    const routesOf = (result: ReadonlyArray<Sample>) =>
      result.map(({ metric }) => `${metric.service} ${metric.method} ${metric.route} ${metric.status_code}`)
    // The last requests may be a scrape away.
    const requests = await waitForSeries(
      "sum by (service, method, route, status_code) (http_server_request_duration_seconds_count)",
      (result) => expected.every((route) => routesOf(result).includes(route)),
    )
    expect(services(requests)).toEqual(["processor", "requestor"])
    expect(routesOf(requests)).toEqual(expect.arrayContaining(expected))
    // The raw answer, for the record (`vitest run` prints it).
    console.log(
      "[observability] Prometheus /api/v1/query:",
      JSON.stringify(
        await prometheus.queryRaw(
          'sum by (service, route, status_code) (http_server_request_duration_seconds_count{route=~".*initiate.*|.*proposal-submissions.*"})',
        ),
      ),
    )
  })

  it("has the gRPC series: the requestor's calls to the processor and the processor serving them", async () => {
    const server = await waitForSeries(
      'sum by (rpc_method) (rpc_server_call_duration_seconds_count{service="processor"})',
    )
    const client = await waitForSeries(
      'sum by (rpc_method) (rpc_client_call_duration_seconds_count{service="requestor"})',
    )
    expect(total(server)).toBeGreaterThan(0)
    expect(total(client)).toBeGreaterThan(0)
  })

  it("has the priority queue series: depth per priority and the initiate's wait", async () => {
    const depth = await waitForSeries("dcent_queue_depth")
    expect(depth.every((sample) => sample.metric.priority !== undefined)).toBe(true)
    const waited = await waitForSeries(
      "sum by (priority) (dcent_queue_wait_seconds_count)",
      (result) => total(result) > 0,
    )
    expect(total(waited)).toBeGreaterThanOrEqual(1)
  })

  it("has the stream series: the internal stream and the two public streams are open", async () => {
    const open = await waitForSeries(
      "sum by (service, stream) (dcent_streams_open) > 0",
      (result) => result.length >= 3,
    )
    const streams = open.map((sample) => `${sample.metric.service}/${sample.metric.stream}`)
    expect(streams).toEqual(
      expect.arrayContaining(["requestor/requestor_order_stream", "requestor/watch_order", "requestor/sse"]),
    )
  })

  it("has the end-to-end latency series per stage, with p50/p95/p99", async () => {
    const delivered = await waitForSeries(
      "sum by (stage) (dcent_event_delivery_latency_seconds_count) > 0",
      (result) => result.length >= 4,
    )
    expect(delivered.map((sample) => sample.metric.stage).sort()).toEqual(["sse", "stream", "topic", "watch_order"])
    // Every stage saw events after its first scrape, so each quantile is a finite latency.
    for (const quantile of [0.5, 0.95, 0.99]) {
      const latency = await waitForSeries(
        `histogram_quantile(${quantile}, sum by (le, stage) (rate(dcent_event_delivery_latency_seconds_bucket[1m])))`,
        (result) => result.length >= 4 && result.every((sample) => Number.isFinite(Number(sample.value[1]))),
      )
      for (const sample of latency) {
        expect(Number(sample.value[1]), `${sample.metric.stage} p${quantile}`).toBeGreaterThan(0)
      }
    }
    console.log(
      "[observability] Prometheus /api/v1/query:",
      JSON.stringify(
        await prometheus.queryRaw(
          "histogram_quantile(0.95, sum by (le, stage) (rate(dcent_event_delivery_latency_seconds_bucket[1m])))",
        ),
      ),
    )
  })
})

describe("dashboards and alert rules name only exported metrics", () => {
  let exported: Set<string>

  beforeAll(async () => {
    exported = new Set()
    for (const service of [stack.processor, stack.requestor]) {
      const response = await fetch(`${service.httpUrl}/metrics`)
      expect(response.status).toBe(200)
      for (const name of exportedMetricNames(await response.text())) exported.add(name)
    }
  })

  /** The names `exprs` read that no service exports. */
  const unknownMetrics = (exprs: ReadonlyArray<string>) =>
    exprs
      .flatMap(metricNamesIn)
      .filter((name) => !prometheusSeries.has(name) && !exported.has(baseMetricName(name)) && !exported.has(name))

  const dashboardFiles = readdirSync(dashboardsDir).filter((file) => file.endsWith(".json"))

  it("has the six dashboards", () => {
    expect(dashboardFiles.sort()).toEqual([
      "api.json",
      "archive.json",
      "broker.json",
      "end-to-end-latency.json",
      "queue-semaphore.json",
      "streams.json",
    ])
  })

  interface Target {
    readonly expr: string
    readonly datasource?: { readonly uid?: string }
  }
  interface Panel {
    readonly id: number
    readonly type: string
    readonly title: string
    readonly datasource?: { readonly type?: string; readonly uid?: string }
    readonly targets?: ReadonlyArray<Target>
    readonly panels?: ReadonlyArray<Panel>
  }
  interface Dashboard {
    readonly uid: string
    readonly title: string
    readonly panels: ReadonlyArray<Panel>
    readonly templating: {
      readonly list: ReadonlyArray<{ name: string; type: string; query: string | { query: string } }>
    }
  }

  const readDashboard = (file: string) => JSON.parse(readFileSync(`${dashboardsDir}/${file}`, "utf8")) as Dashboard
  /** Every panel, rows' nested panels included. */
  const panelsOf = (dashboard: Dashboard) => dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])])

  it.each(dashboardFiles)("%s is a Grafana dashboard whose queries name exported metrics", (file) => {
    const dashboard = readDashboard(file)
    expect(dashboard.uid).toMatch(/^dcent-/)
    expect(dashboard.title).not.toBe("")

    // The Prometheus datasource is a variable, so the dashboard works in any Grafana.
    const variables = dashboard.templating.list
    expect(variables.find((variable) => variable.name === "datasource")).toMatchObject({
      type: "datasource",
      query: "prometheus",
    })

    const panels = panelsOf(dashboard)
    const queried = panels.filter((panel) => panel.type !== "row")
    expect(queried.length).toBeGreaterThan(0)
    expect(new Set(panels.map((panel) => panel.id)).size, "panel ids are unique").toBe(panels.length)
    const exprs: Array<string> = []
    for (const panel of queried) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: datasourceVariable })
      expect(panel.targets?.length ?? 0, `${panel.title} has queries`).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        expect(metricNamesIn(target.expr).length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0)
        exprs.push(target.expr)
      }
    }
    for (const variable of variables) {
      if (variable.type === "query")
        exprs.push(typeof variable.query === "string" ? variable.query : variable.query.query)
    }
    expect(unknownMetrics(exprs)).toEqual([])
  })

  it("every metric of the catalogue is on a dashboard", () => {
    const onDashboards = new Set(
      dashboardFiles
        .flatMap((file) => panelsOf(readDashboard(file)))
        .flatMap((panel) => panel.targets ?? [])
        .flatMap((target) => metricNamesIn(target.expr))
        .map(baseMetricName),
    )
    expect(metricNames.filter((name) => !onDashboards.has(name))).toEqual([])
  })

  it("the alert rules cover the issue's alerts, name exported metrics and evaluate without error", async () => {
    // Rules are evaluated every second; wait until each has been evaluated at least once.
    const rules = await (async () => {
      const deadline = Date.now() + 30_000
      for (;;) {
        const loaded = await prometheus.rules()
        if (loaded.length > 0 && loaded.every((rule) => rule.health !== "unknown")) return loaded
        if (Date.now() > deadline) throw new Error(`rules not evaluated: ${JSON.stringify(loaded)}`)
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    })()
    expect(rules.map((rule) => rule.name)).toEqual(
      expect.arrayContaining([
        "DcentTargetDown",
        "DcentHttpErrorRate",
        "DcentQueueBacklog",
        "DcentOutboxLag",
        "DcentConsumerLag",
        "DcentStreamDisconnectStorm",
      ]),
    )
    for (const rule of rules) {
      expect(rule, rule.name).toMatchObject({ type: "alerting", health: "ok" })
      expect(rule.duration ?? 0, `${rule.name} has a for:`).toBeGreaterThan(0)
      expect(rule.annotations?.summary, `${rule.name} summary`).toBeTruthy()
      expect(rule.annotations?.description, `${rule.name} description`).toBeTruthy()
    }
    expect(unknownMetrics(rules.map((rule) => rule.query))).toEqual([])
  })
})
