/**
 * `test/support/traceReceiver.ts` against the real receiver (Jaeger v2 from
 * scripts/install-observability.sh): spans exported with the OpenTelemetry SDK's OTLP gRPC
 * exporter (the one the services use) come back with their trace id, parent links, service,
 * kind and attributes, by trace id and by service.
 */
import { context, SpanKind, trace } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { uniqueId } from "../../support/e2e.ts"
import { startTraceReceiver, type TraceReceiver } from "../../support/traceReceiver.ts"

let receiver: TraceReceiver

beforeAll(async () => {
  receiver = await startTraceReceiver()
})

afterAll(async () => {
  await receiver?.stop()
})

/** Exports a server span with a child producer span from `service`; returns their ids. */
const exportTwoSpans = async (service: string) => {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": service }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: receiver.otlpGrpcEndpoint }))],
  })
  const tracer = provider.getTracer("trace-receiver-test")
  const parent = tracer.startSpan("POST /api/v1/initiate", {
    kind: SpanKind.SERVER,
    attributes: { "http.request.method": "POST", "http.response.status_code": 202 },
  })
  const child = tracer.startSpan(
    "BUYER_NOTIFY publish",
    {
      kind: SpanKind.PRODUCER,
      attributes: { "messaging.system": "kafka", "messaging.destination.name": "BUYER_NOTIFY" },
    },
    trace.setSpan(context.active(), parent),
  )
  child.end()
  parent.end()
  await provider.forceFlush()
  await provider.shutdown()
  return {
    traceId: parent.spanContext().traceId,
    parentId: parent.spanContext().spanId,
    childId: child.spanContext().spanId,
  }
}

describe("startTraceReceiver (Jaeger v2)", () => {
  it("receives OTLP gRPC spans and returns them by trace id with parent links", async () => {
    const service = uniqueId("trace-test")
    const ids = await exportTwoSpans(service)
    const spans = await receiver.waitForSpans({ traceId: ids.traceId }, (found) => found.length === 2)
    const parent = spans.find((span) => span.spanId === ids.parentId)
    const child = spans.find((span) => span.spanId === ids.childId)
    expect(parent).toMatchObject({
      traceId: ids.traceId,
      name: "POST /api/v1/initiate",
      service,
      kind: "server",
      attributes: { "http.request.method": "POST", "http.response.status_code": 202 },
    })
    expect(parent?.parentSpanId).toBeUndefined()
    expect(child).toMatchObject({
      traceId: ids.traceId,
      parentSpanId: ids.parentId,
      name: "BUYER_NOTIFY publish",
      service,
      kind: "producer",
      attributes: { "messaging.system": "kafka", "messaging.destination.name": "BUYER_NOTIFY" },
    })
  })

  it("returns the spans of one service, and of all services without a query", async () => {
    const first = uniqueId("trace-test")
    const second = uniqueId("trace-test")
    const firstIds = await exportTwoSpans(first)
    const secondIds = await exportTwoSpans(second)
    const ofFirst = await receiver.waitForSpans({ service: first }, (found) => found.length === 2)
    expect(new Set(ofFirst.map((span) => span.traceId))).toEqual(new Set([firstIds.traceId]))
    const all = await receiver.traces({})
    const traceIds = new Set(all.map((span) => span.traceId))
    expect(traceIds.has(firstIds.traceId) && traceIds.has(secondIds.traceId)).toBe(true)
    expect(await receiver.traces({ traceId: "0123456789abcdef0123456789abcdef" })).toEqual([])
  })
})
