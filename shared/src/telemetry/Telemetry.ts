/**
 * Tracing for a service process: Effect's spans (`Effect.fn` names, `Effect.withSpan`, the HTTP
 * server spans, the gRPC and messaging spans of this folder) become OpenTelemetry spans exported
 * over OTLP/gRPC.
 *
 * Exporting is OFF unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
 * is set; then spans go through a `BatchSpanProcessor` (its `OTEL_BSP_*` variables apply) to an
 * `OTLPTraceExporter` that reads the standard `OTEL_EXPORTER_OTLP_*` variables itself, with
 * `service.name` = `OTEL_SERVICE_NAME` or the service's own name. The provider is flushed and
 * shut down when the layer is released (after the application's layers: the last spans go out).
 *
 * Without an endpoint Effect's native tracer stays: spans still have ids, so trace context is
 * still propagated and log lines still carry `trace_id` / `span_id`.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { Resource } from "@effect/opentelemetry/Resource"
import { SpanKind } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-node"
import { Config, Effect, Layer, Option } from "effect"
import { HttpMiddleware } from "effect/http"

const optionalString = (name: string) =>
  Config.String(name).pipe(Config.option, Config.map(Option.filter((value) => value.trim() !== "")))

export interface TelemetrySettings {
  /** Where spans go; `None`: exporting is off. */
  readonly endpoint: Option.Option<string>
  readonly serviceName: string
}

/** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME`. */
export const telemetryConfig = (service: string): Config.Config<TelemetrySettings> =>
  Config.all({
    traces: optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    any: optionalString("OTEL_EXPORTER_OTLP_ENDPOINT"),
    name: optionalString("OTEL_SERVICE_NAME"),
  }).pipe(
    Config.map(({ traces, any, name }) => ({
      endpoint: Option.orElse(traces, () => any),
      serviceName: Option.getOrElse(name, () => service),
    })),
  )

/** Requests that are not worth a trace: probes, scrapes and the docs. */
const untracedPaths = new Set(["/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"])

const untraced = Layer.succeed(HttpMiddleware.TracerDisabledWhen, (request) =>
  untracedPaths.has(request.url.split("?")[0] ?? request.url),
)

/**
 * `processor`, except that flushing and shutting down never fail: a trace backend that is down
 * at shutdown costs the last spans, not the service's clean exit (Effect's tracer provider would
 * turn the rejected flush into a defect of the whole program).
 */
export const forgivingProcessor = (processor: SpanProcessor): SpanProcessor => ({
  onStart: (span, context) => processor.onStart(span, context),
  onEnd: (span) => processor.onEnd(span),
  forceFlush: () => processor.forceFlush().catch(() => undefined),
  shutdown: () => processor.shutdown().catch(() => undefined),
})

/** Root spans of work that is not a request but still worth its own trace. */
const backgroundRoots: ReadonlySet<string> = new Set(["Dispatch.job"])

/**
 * Which new traces are recorded: those that start at an entry point — a SERVER span (a REST
 * request, a gRPC call), a CONSUMER span (a topic message, an order event without a trace
 * context) — or at one of `backgroundRoots`. Everything else that has no parent is the services'
 * own machinery — start-up (`*.make`), polling loops (the outbox relay, the timers, the queue,
 * lease renewals, `Redis.*` commands) — and would otherwise make a trace per poll or one
 * ever-growing start-up trace; it is dropped, and with it (the sampler is parent-based) every span
 * below it. A span with a parent follows the parent's decision, remote parents included.
 */
export const entryPointSampler = (extraRoots: ReadonlySet<string> = backgroundRoots): Sampler =>
  new ParentBasedSampler({
    root: {
      shouldSample: (_context, _traceId, spanName, spanKind) => ({
        decision:
          spanKind === SpanKind.SERVER || spanKind === SpanKind.CONSUMER || extraRoots.has(spanName)
            ? SamplingDecision.RECORD_AND_SAMPLED
            : SamplingDecision.NOT_RECORD,
      }),
      toString: () => "EntryPointSampler",
    },
  })

/** Records every span (tests of single spans). */
export const sampleEverything: Sampler = new AlwaysOnSampler()

/** An OpenTelemetry tracer exporting through `processor`, for `serviceName` (also used by tests). */
export const tracerLayer = (serviceName: string, processor: SpanProcessor, sampler: Sampler = entryPointSampler()) =>
  NodeSdk.layer(() => ({
    resource: { serviceName },
    spanProcessor: processor,
    tracerConfig: { sampler },
    shutdownTimeout: "5 seconds",
  }))

/** The process-wide tracing of `service` (see the module comment). */
export const TelemetryLive = (service: string): Layer.Layer<Resource, Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const settings = yield* telemetryConfig(service)
      if (Option.isNone(settings.endpoint)) return Layer.merge(untraced, NodeSdk.layerEmpty)
      yield* Effect.logDebug("exporting traces").pipe(
        Effect.annotateLogs({ endpoint: settings.endpoint.value, serviceName: settings.serviceName }),
      )
      const processor = forgivingProcessor(new BatchSpanProcessor(new OTLPTraceExporter()))
      return Layer.merge(untraced, tracerLayer(settings.serviceName, processor))
    }),
  )
