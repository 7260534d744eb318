/**
 * A real OTLP trace receiver for tests: Jaeger v2 (built by `scripts/install-observability.sh`
 * into ~/.cache/dcent/bin) with in-memory storage, on free ports of 127.0.0.1.
 *
 *   const receiver = await startTraceReceiver()
 *   const requestor = await startRequestor({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.otlpGrpcEndpoint } })
 *   ...
 *   const spans = await receiver.waitForSpans({ traceId }, (spans) => spans.length >= 4)
 *   await receiver.stop()
 *
 * Spans are read back through Jaeger's query API (`/api/traces/{id}`, `/api/traces?service=`).
 * A missing binary fails with the install hint; the test never skips.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { answersOk, portAccepts, requireBinary, spawnBinary, waitUntil } from "./binaries.ts"
import { freePorts } from "./ports.ts"

export interface ReceivedSpan {
  /** 32 lowercase hex digits */
  readonly traceId: string
  /** 16 lowercase hex digits */
  readonly spanId: string
  /** The span this one is a child of (absent on a root span). */
  readonly parentSpanId?: string
  readonly name: string
  /** The `service.name` resource attribute of the process that sent it. */
  readonly service: string
  /** OpenTelemetry span kind in lower case: server, client, producer, consumer, internal. */
  readonly kind?: string
  /** The span's attributes (`span.kind` excepted), e.g. `rpc.system`, `messaging.destination.name`. */
  readonly attributes: Record<string, unknown>
}

export interface SpanQuery {
  readonly traceId?: string
  readonly service?: string
}

export interface TraceReceiver {
  /** `http://127.0.0.1:<port>`: give it to the services as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly otlpGrpcEndpoint: string
  /** Jaeger's UI and query API, `http://127.0.0.1:<port>`. */
  readonly queryUrl: string
  /** Every stored span of one trace, of one service, or (no query) of all services. */
  readonly traces: (query: SpanQuery) => Promise<Array<ReceivedSpan>>
  /** Polls `traces(query)` until `until` holds (exports are batched); returns the last spans. */
  readonly waitForSpans: (
    query: SpanQuery,
    until: (spans: ReadonlyArray<ReceivedSpan>) => boolean,
    timeoutMs?: number,
  ) => Promise<Array<ReceivedSpan>>
  /** The receiver's own log, for failure messages. */
  readonly output: () => string
  readonly stop: () => Promise<void>
}

/** Jaeger's configuration (an OpenTelemetry Collector configuration): OTLP gRPC in, memory out. */
const jaegerConfig = (ports: { otlpGrpc: number; queryHttp: number; queryGrpc: number }) => `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memory_store
    # Otherwise Jaeger traces its own query API, exporting to OTEL_EXPORTER_OTLP_ENDPOINT or :4317.
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:${ports.queryHttp}
    grpc:
      endpoint: 127.0.0.1:${ports.queryGrpc}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${ports.otlpGrpc}
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
`

interface JaegerTag {
  readonly key: string
  readonly value: unknown
}

interface JaegerSpan {
  readonly traceID: string
  readonly spanID: string
  readonly operationName: string
  readonly references?: ReadonlyArray<{ readonly refType: string; readonly spanID: string }> | null
  readonly tags?: ReadonlyArray<JaegerTag> | null
  readonly processID: string
}

interface JaegerTrace {
  readonly spans: ReadonlyArray<JaegerSpan>
  readonly processes: Record<string, { readonly serviceName: string }>
}

interface JaegerResponse<A> {
  readonly data: A | null
  readonly errors?: ReadonlyArray<{ readonly code: number; readonly msg: string }> | null
}

const hex = (value: string, digits: number) => value.toLowerCase().padStart(digits, "0")

const toReceivedSpans = (trace: JaegerTrace): Array<ReceivedSpan> =>
  trace.spans.map((span) => {
    const attributes: Record<string, unknown> = {}
    let kind: string | undefined
    for (const tag of span.tags ?? []) {
      if (tag.key === "span.kind") kind = String(tag.value)
      else attributes[tag.key] = tag.value
    }
    const parent = (span.references ?? []).find((reference) => reference.refType === "CHILD_OF")
    return {
      traceId: hex(span.traceID, 32),
      spanId: hex(span.spanID, 16),
      ...(parent === undefined ? {} : { parentSpanId: hex(parent.spanID, 16) }),
      name: span.operationName,
      service: trace.processes[span.processID]?.serviceName ?? "unknown",
      ...(kind === undefined ? {} : { kind }),
      attributes,
    }
  })

export const startTraceReceiver = async (): Promise<TraceReceiver> => {
  const binary = requireBinary("jaeger", "JAEGER_BIN")
  const [otlpGrpc, queryHttp, queryGrpc] = (await freePorts(3)) as [number, number, number]
  const dir = mkdtempSync(join(tmpdir(), "dcent-jaeger-"))
  const configFile = join(dir, "jaeger.yaml")
  writeFileSync(configFile, jaegerConfig({ otlpGrpc, queryHttp, queryGrpc }))
  const jaeger = spawnBinary("jaeger", binary, ["--config", configFile])
  const queryUrl = `http://127.0.0.1:${queryHttp}`

  const stop = async () => {
    await jaeger.stop()
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    await waitUntil(jaeger, `Jaeger's query API on ${queryUrl}`, () => answersOk(`${queryUrl}/api/services`))
    await waitUntil(jaeger, `Jaeger's OTLP gRPC receiver on 127.0.0.1:${otlpGrpc}`, () => portAccepts(otlpGrpc))
  } catch (error) {
    await stop()
    throw error
  }

  const getJson = async <A>(path: string): Promise<JaegerResponse<A>> => {
    const response = await fetch(`${queryUrl}${path}`, { signal: AbortSignal.timeout(10_000) })
    const body = (await response.json()) as JaegerResponse<A>
    // Jaeger answers 404 for a trace id it has not (yet) received.
    if (!response.ok && response.status !== 404) {
      throw new Error(`Jaeger ${path} answered ${response.status}: ${JSON.stringify(body.errors)}`)
    }
    return body
  }

  const servicesOf = async (query: SpanQuery) =>
    query.service !== undefined ? [query.service] : ((await getJson<Array<string>>("/api/services")).data ?? [])

  const traces = async (query: SpanQuery): Promise<Array<ReceivedSpan>> => {
    if (query.traceId !== undefined) {
      const trace = await getJson<Array<JaegerTrace>>(`/api/traces/${query.traceId.toLowerCase()}`)
      const spans = (trace.data ?? []).flatMap(toReceivedSpans)
      return query.service === undefined ? spans : spans.filter((span) => span.service === query.service)
    }
    const spans = new Map<string, ReceivedSpan>()
    for (const service of await servicesOf(query)) {
      const found = await getJson<Array<JaegerTrace>>(
        `/api/traces?service=${encodeURIComponent(service)}&limit=10000&lookback=24h`,
      )
      for (const span of (found.data ?? []).flatMap(toReceivedSpans)) {
        if (query.service === undefined || span.service === query.service)
          spans.set(`${span.traceId}/${span.spanId}`, span)
      }
    }
    return [...spans.values()]
  }

  const waitForSpans: TraceReceiver["waitForSpans"] = async (query, until, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    let spans = await traces(query)
    while (!until(spans)) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for spans matching ${JSON.stringify(query)}; received:\n` +
            spans.map((span) => `  ${span.service} ${span.name} ${span.spanId} parent=${span.parentSpanId}`).join("\n"),
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
      spans = await traces(query)
    }
    return spans
  }

  return {
    otlpGrpcEndpoint: `http://127.0.0.1:${otlpGrpc}`,
    queryUrl,
    traces,
    waitForSpans,
    output: jaeger.output,
    stop,
  }
}
