import { describe, expect, it } from "vitest"
import { baseMetricName, exportedMetricNames, metricNamesIn } from "../support/promql.ts"

// The dashboard/alert check (test/integration/observability) trusts this extraction: a name it
// missed would go unchecked, a keyword it kept would fail the check.
describe("metricNamesIn", () => {
  it("finds the metrics of a ratio with label matchers, grouping and Grafana variables", () => {
    const expr =
      'sum by (service) (rate(http_server_request_duration_seconds_count{service=~"$service", status_code=~"5.."}[$__rate_interval]))' +
      " / sum by (service) (rate(http_server_request_duration_seconds_count[5m])) > 0.05"
    expect(metricNamesIn(expr)).toEqual(["http_server_request_duration_seconds_count"])
  })

  it("finds every operand of a binary expression and skips keywords, numbers and strings", () => {
    const expr =
      'max by (semaphore) (dcent_semaphore_waiters) > 0 and on (semaphore) dcent_semaphore_permits_in_use >= bool 1e3 unless label_replace(up, "x", "$1", "job", "(.*)") offset 5m'
    expect(metricNamesIn(expr).sort()).toEqual(["dcent_semaphore_permits_in_use", "dcent_semaphore_waiters", "up"])
  })

  it("reads histogram_quantile over buckets", () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, stage) (rate(dcent_event_delivery_latency_seconds_bucket{stage="sse"}[1m])))',
      ),
    ).toEqual(["dcent_event_delivery_latency_seconds_bucket"])
  })

  it("reads the metric of a Grafana label_values query", () => {
    expect(metricNamesIn("label_values(process_start_time_seconds, service)")).toEqual(["process_start_time_seconds"])
    expect(metricNamesIn('label_values(dcent_queue_depth{service="processor"}, priority)')).toEqual([
      "dcent_queue_depth",
    ])
  })
})

describe("baseMetricName and exportedMetricNames", () => {
  it("maps histogram series to their metric and reads HELP/TYPE lines", () => {
    expect(baseMetricName("dcent_queue_wait_seconds_bucket")).toBe("dcent_queue_wait_seconds")
    expect(baseMetricName("dcent_queue_depth")).toBe("dcent_queue_depth")
    const exposition = [
      "# HELP dcent_queue_depth Jobs waiting.",
      "# TYPE dcent_queue_depth gauge",
      'dcent_queue_depth{priority="1",service="processor"} 0',
      "# TYPE dcent_queue_wait_seconds histogram",
    ].join("\n")
    expect([...exportedMetricNames(exposition)]).toEqual(["dcent_queue_depth", "dcent_queue_wait_seconds"])
  })
})
