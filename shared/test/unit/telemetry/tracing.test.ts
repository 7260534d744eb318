/**
 * The tracing pieces in-process, exported to an `InMemorySpanExporter` through the same
 * OpenTelemetry tracer layer the services use: Effect spans, the traced broker (memory adapter)
 * and the gRPC middleware (a real nice-grpc server and client on a free port).
 */
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node"
import { ConfigProvider, type Context, Deferred, Effect, Exit, Layer, Option, Scope } from "effect"
import { createChannel, createClientFactory, createServer, ServerError, Status } from "nice-grpc"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { Broker, type BrokerMessage } from "../../../src/broker/Broker.ts"
import { BrokerMemory } from "../../../src/broker/memory.ts"
import {
  OrderNonStreamingServiceDefinition,
  type PauseOrderRequest,
} from "../../../src/generated/dcent/orders/v1/order_non_streaming_service.ts"
import { serverStages } from "../../../src/grpc/stages.ts"
import { rpcClientTracing, rpcServerTracing, withCallSpan } from "../../../src/telemetry/grpc.ts"
import { tracedBroker } from "../../../src/telemetry/messaging.ts"
import { entryPointSampler, sampleEverything, telemetryConfig, tracerLayer } from "../../../src/telemetry/Telemetry.ts"
import { currentTraceCarrier, parentFromCarrier, traceparentOf } from "../../../src/telemetry/traceContext.ts"

const exporter = new InMemorySpanExporter()
let scope: Scope.Closeable
let context: Context.Context<never>
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.provideContext(effect, context))

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  context = (await Effect.runPromise(
    Layer.buildWithScope(tracerLayer("unit-test", new SimpleSpanProcessor(exporter), sampleEverything), scope),
  )) as Context.Context<never>
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

beforeEach(() => exporter.reset())

const spans = () => exporter.getFinishedSpans()
const named = (name: string): ReadableSpan => {
  const span = spans().find((candidate) => candidate.name === name)
  if (span === undefined) throw new Error(`no span ${name} among ${spans().map((s) => s.name)}`)
  return span
}
const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId
const kindName = (span: ReadableSpan) => ["internal", "server", "client", "producer", "consumer"][span.kind]

describe("Effect spans", () => {
  it("become OpenTelemetry spans with their parent links and the service name", async () => {
    const inner = Effect.fn("Inner.work")(function* () {
      return yield* currentTraceCarrier
    })
    const carrier = await run(inner().pipe(Effect.withSpan("Outer")))
    const outer = named("Outer")
    const innerSpan = named("Inner.work")
    expect(parentId(innerSpan)).toBe(outer.spanContext().spanId)
    expect(innerSpan.spanContext().traceId).toBe(outer.spanContext().traceId)
    expect(outer.resource.attributes["service.name"]).toBe("unit-test")
    // The carrier names the span it was taken in.
    expect(carrier.traceparent).toBe(`00-${outer.spanContext().traceId}-${innerSpan.spanContext().spanId}-01`)
  })
})

describe("trace carriers", () => {
  it("round-trip a traceparent and reject malformed ones", () => {
    const parent = parentFromCarrier({ traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
    expect(parent).toMatchObject({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" })
    expect(traceparentOf(parent!)).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    expect(parentFromCarrier({ traceparent: "00-zz-b7ad6b7169203331-01" })).toBeUndefined()
    expect(
      parentFromCarrier({ traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01" }),
    ).toBeUndefined()
    expect(parentFromCarrier({})).toBeUndefined()
    expect(parentFromCarrier(undefined)).toBeUndefined()
  })
})

describe("traced broker", () => {
  const withBroker = <A, E>(f: (broker: ReturnType<typeof tracedBroker>) => Effect.Effect<A, E, Scope.Scope>) =>
    run(
      Effect.scoped(
        Effect.gen(function* () {
          const broker = tracedBroker(yield* Broker)
          return yield* f(broker)
        }),
      ).pipe(Effect.provide(BrokerMemory.layer)),
    )

  const publishAndReceive = (headers: Record<string, string> | undefined) =>
    withBroker((broker) =>
      Effect.gen(function* () {
        const received = yield* Deferred.make<BrokerMessage>()
        const subscription = yield* broker.subscribe({
          subject: "BUYER_NOTIFY.>",
          group: `unit-${crypto.randomUUID()}`,
          handler: (message) =>
            Effect.void.pipe(Effect.withSpan("handle"), Effect.andThen(Deferred.succeed(received, message))),
        })
        yield* subscription.ready
        yield* broker
          .publish("BUYER_NOTIFY.ORD-T1", "{}", headers === undefined ? {} : { headers })
          .pipe(Effect.withSpan("request"))
        const message = yield* Deferred.await(received)
        // The handler returned: its CONSUMER span ends as soon as the broker's fiber runs on (no clock involved).
        for (let i = 0; i < 1_000 && !spans().some((span) => span.name === "process BUYER_NOTIFY"); i++) {
          yield* Effect.yieldNow
        }
        return message
      }),
    )

  it("sends in a PRODUCER span, carries its traceparent, processes in a CONSUMER child", async () => {
    const message = await publishAndReceive({ "event-id": "E-1" })
    const send = named("send BUYER_NOTIFY")
    const process = named("process BUYER_NOTIFY")
    expect(kindName(send)).toBe("producer")
    expect(kindName(process)).toBe("consumer")
    expect(parentId(send)).toBe(named("request").spanContext().spanId)
    expect(parentId(process)).toBe(send.spanContext().spanId)
    expect(parentId(named("handle"))).toBe(process.spanContext().spanId)
    expect(message.headers.traceparent).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`)
    expect(send.attributes).toMatchObject({
      "messaging.system": "memory",
      "messaging.destination.name": "BUYER_NOTIFY",
      "messaging.operation.type": "send",
      "messaging.message.id": "E-1",
    })
    expect(process.attributes).toMatchObject({
      "messaging.destination.name": "BUYER_NOTIFY",
      "messaging.operation.type": "process",
    })
  })

  it("continues the trace a message already carries (an outbox entry) rather than the current span", async () => {
    const origin = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await publishAndReceive({ traceparent: origin })
    const send = named("send BUYER_NOTIFY")
    expect(send.spanContext().traceId).toBe("0af7651916cd43dd8448eb211c80319c")
    expect(parentId(send)).toBe("b7ad6b7169203331")
    expect(named("process BUYER_NOTIFY").spanContext().traceId).toBe("0af7651916cd43dd8448eb211c80319c")
  })
})

describe("gRPC middleware", () => {
  it("links client and server spans through the metadata and records the status code", async () => {
    const server = createServer().use(serverStages([rpcServerTracing(context)]))
    server.add(OrderNonStreamingServiceDefinition, {
      pauseOrder: async (request: PauseOrderRequest, call) => {
        await run(Effect.void.pipe(Effect.withSpan("handler"), withCallSpan(call)))
        if (request.orderReqId === "missing") throw new ServerError(Status.NOT_FOUND, "no such order")
        return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, seq: 1 }
      },
      processFollowUp: async () => ({ orderReqId: "", transactionUuid: "", followUpId: "", seq: 0, results: [] }),
      finaliseOrder: async () => ({ orderReqId: "", transactionUuid: "", seq: 0 }),
      resumeOrder: async () => ({ orderReqId: "", transactionUuid: "", seq: 0 }),
    })
    const port = await server.listen("127.0.0.1:0")
    const channel = createChannel(`127.0.0.1:${port}`)
    try {
      const client = createClientFactory()
        .use(rpcClientTracing(context))
        .create(OrderNonStreamingServiceDefinition, channel)
      await run(
        Effect.gen(function* () {
          const traceParent = yield* Effect.currentParentSpan
          yield* Effect.promise(() => client.pauseOrder({ orderReqId: "ORD-1", transactionUuid: "T" }, { traceParent }))
        }).pipe(Effect.withSpan("caller")),
      )
      const name = "dcent.orders.v1.OrderNonStreamingService/PauseOrder"
      const [clientSpan, serverSpan] = [
        spans().find((span) => span.name === name && kindName(span) === "client")!,
        spans().find((span) => span.name === name && kindName(span) === "server")!,
      ]
      expect(parentId(clientSpan)).toBe(named("caller").spanContext().spanId)
      expect(parentId(serverSpan)).toBe(clientSpan.spanContext().spanId)
      expect(parentId(named("handler"))).toBe(serverSpan.spanContext().spanId)
      expect(serverSpan.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.service": "dcent.orders.v1.OrderNonStreamingService",
        "rpc.method": "PauseOrder",
        "rpc.grpc.status_code": Status.OK,
      })

      exporter.reset()
      await expect(client.pauseOrder({ orderReqId: "missing", transactionUuid: "T" })).rejects.toThrow()
      const failed = spans().filter((span) => span.name === name)
      expect(failed.map((span) => span.attributes["rpc.grpc.status_code"])).toEqual([
        Status.NOT_FOUND,
        Status.NOT_FOUND,
      ])
      // A call without a caller span starts a new trace; NOT_FOUND is a client error only.
      const failedServer = failed.find((span) => kindName(span) === "server")!
      const failedClient = failed.find((span) => kindName(span) === "client")!
      expect(failedClient.status.code).toBe(2)
      expect(failedServer.status.code).not.toBe(2)
      expect(parentId(failedServer)).toBe(failedClient.spanContext().spanId)
    } finally {
      channel.close()
      await server.shutdown()
    }
  })
})

describe("the services' sampler", () => {
  it("records traces that start at an entry point and drops the machinery's own roots", async () => {
    const sampled = new InMemorySpanExporter()
    const local = Effect.runSync(Scope.make())
    try {
      const services = (await Effect.runPromise(
        Layer.buildWithScope(tracerLayer("sampled", new SimpleSpanProcessor(sampled), entryPointSampler()), local),
      )) as Context.Context<never>
      const runSampled = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.runPromise(Effect.provideContext(effect, services))
      const child = Effect.void.pipe(Effect.withSpan("Redis.XREADGROUP"))
      // A polling loop started inside a start-up span: nothing.
      await runSampled(child.pipe(Effect.withSpan("OutboxRelay.make")))
      expect(sampled.getFinishedSpans()).toEqual([])
      // A request and what it does: everything.
      const carrier = await runSampled(
        child.pipe(Effect.andThen(currentTraceCarrier), Effect.withSpan("POST /x", { kind: "server" })),
      )
      expect(sampled.getFinishedSpans().map((span) => span.name)).toEqual(["Redis.XREADGROUP", "POST /x"])
      expect(carrier.traceparent).toMatch(/-01$/)
      // A message continuing an unsampled trace stays unsampled.
      sampled.reset()
      const unsampled = parentFromCarrier({ traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" })
      await runSampled(child.pipe(Effect.withSpan("process BUYER_NOTIFY", { kind: "consumer", parent: unsampled! })))
      expect(sampled.getFinishedSpans()).toEqual([])
      // The allowed background root.
      await runSampled(child.pipe(Effect.withSpan("Dispatch.job")))
      expect(sampled.getFinishedSpans().map((span) => span.name)).toEqual(["Redis.XREADGROUP", "Dispatch.job"])
    } finally {
      await Effect.runPromise(Scope.close(local, Exit.void))
    }
  })
})

describe("configuration", () => {
  const settings = (env: Record<string, string>) =>
    Effect.runSync(telemetryConfig("processor").parse(ConfigProvider.fromEnv({ env })))

  it("exports only when an OTLP endpoint is set; service.name defaults to the service", () => {
    expect(settings({})).toEqual({ endpoint: Option.none(), serviceName: "processor" })
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: " " }).endpoint).toEqual(Option.none())
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4317" })).toEqual({
      endpoint: Option.some("http://127.0.0.1:4317"),
      serviceName: "processor",
    })
    expect(
      settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4317", OTEL_SERVICE_NAME: "processor-eu" }),
    ).toEqual({ endpoint: Option.some("http://traces:4317"), serviceName: "processor-eu" })
  })
})
