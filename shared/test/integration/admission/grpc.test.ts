/**
 * gRPC admission control on a real server (`GrpcServer` on a free port): with the bound at N,
 * N + k concurrent slow unary calls get k RESOURCE_EXHAUSTED at once (trailers `retry-after`,
 * `grpc-retry-pushback-ms`, `dcent-error-code: overloaded`) while health still answers; a stream
 * past the bound on open streams is refused on open, and admitted again once one closes; after
 * the load the server answers normally.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import {
  type CallContext,
  type Channel,
  ClientError,
  createChannel,
  createClient,
  createClientFactory,
  Metadata,
  ServerError,
  Status,
} from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { OrderNonStreamingServiceDefinition } from "../../../src/generated/dcent/orders/v1/order_non_streaming_service.ts"
import {
  OrderStreamingServiceDefinition,
  type OrderStreamResponse,
  type OrderStreamsResponse,
} from "../../../src/generated/dcent/orders/v1/order_streaming_service.ts"
import { errorDetailsClientMiddleware, errorInfoOf } from "../../../src/grpc/errorDetails.ts"
import { GrpcServer } from "../../../src/grpc/GrpcServer.ts"
import { grpcService } from "../../../src/grpc/services.ts"
import { Metrics, type MetricsShape } from "../../../src/metrics/Metrics.ts"
import { parseExposition, sumSamples } from "../../support/exposition.ts"

const SERVING = 1
const unaryBound = 3
const streamBound = 2

/** Holds calls until `open()`; counts the handlers that ran. */
const makeGate = () => {
  let open = () => {}
  let opened = new Promise<void>((resolve) => {
    open = resolve
  })
  let started = 0
  let onStart = () => {}
  return {
    open: () => open(),
    close: () => {
      opened = new Promise<void>((resolve) => {
        open = resolve
      })
    },
    started: () => started,
    reached: (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => (started >= count ? resolve() : undefined)
        const previous = onStart
        onStart = () => {
          previous()
          check()
        }
        check()
      }),
    enter: async () => {
      started += 1
      onStart()
      await opened
    },
  }
}

const unaryGate = makeGate()
let openStreams = 0

const unimplemented = async (): Promise<never> => {
  throw new ServerError(Status.UNIMPLEMENTED, "not in this test")
}

const services = [
  grpcService(OrderNonStreamingServiceDefinition, {
    pauseOrder: async (request) => {
      await unaryGate.enter()
      return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, seq: 1 }
    },
    processFollowUp: unimplemented,
    finaliseOrder: unimplemented,
    resumeOrder: unimplemented,
  }),
  grpcService(OrderStreamingServiceDefinition, {
    // An open stream: one message, then held until the client cancels.
    processOrderStream: async function* (_request, context: CallContext): AsyncGenerator<OrderStreamResponse> {
      openStreams += 1
      try {
        yield { event: undefined }
        await new Promise<void>((resolve) => {
          if (context.signal.aborted) resolve()
          context.signal.addEventListener("abort", () => resolve(), { once: true })
        })
      } finally {
        openStreams -= 1
      }
    },
    // biome-ignore lint/correctness/useYield: refuses at once; only the other method is under test
    processOrderStreams: async function* (): AsyncGenerator<OrderStreamsResponse> {
      throw new ServerError(Status.UNIMPLEMENTED, "not in this test")
    },
  }),
]

let scope: Scope.Closeable
let metrics: MetricsShape
let channel: Channel

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  metrics = Effect.runSync(Metrics.make("test", { defaultMetrics: false }))
  const server = await Effect.runPromise(
    GrpcServer.make({
      host: "127.0.0.1",
      port: 0,
      services,
      shutdownTimeout: "1 second",
      admission: { maxUnaryInFlight: unaryBound, maxStreams: streamBound, retryAfterSeconds: 2 },
    }).pipe(Effect.provide(Layer.succeed(Metrics, metrics)), Scope.provide(scope)),
  )
  channel = createChannel(`127.0.0.1:${server.port}`)
})

afterAll(async () => {
  channel?.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

const samples = async () => parseExposition(await metrics.registry.metrics())

/** A unary call's outcome with its trailers. */
const pause = async (id: string) => {
  const orders = createClientFactory()
    .use(errorDetailsClientMiddleware)
    .create(OrderNonStreamingServiceDefinition, channel)
  let trailer = Metadata()
  try {
    const response = await orders.pauseOrder(
      { orderReqId: id, transactionUuid: id },
      { onTrailer: (received) => (trailer = received) },
    )
    return { ok: true as const, response, trailer }
  } catch (error) {
    if (!(error instanceof ClientError)) throw error
    return { ok: false as const, error, trailer }
  }
}

/** Opens a stream and waits for its first message; `cancel` ends it. */
const openStream = async (id: string) => {
  const streams = createClient(OrderStreamingServiceDefinition, channel)
  const abort = new AbortController()
  let trailer = Metadata()
  const iterator = streams
    .processOrderStream({ orderReqId: id }, { signal: abort.signal, onTrailer: (received) => (trailer = received) })
    [Symbol.asyncIterator]()
  try {
    await iterator.next()
    return { ok: true as const, cancel: () => abort.abort() }
  } catch (error) {
    if (!(error instanceof ClientError)) throw error
    return { ok: false as const, error, trailer }
  }
}

describe("gRPC admission control", () => {
  it("with the bound at N, fails k of N + k concurrent slow unary calls at once with RESOURCE_EXHAUSTED + retry-after", async () => {
    const extra = 2
    const held = Array.from({ length: unaryBound }, (_, i) => pause(`HELD-${i}`))
    await unaryGate.reached(unaryBound)

    const refused = await Promise.all(Array.from({ length: extra }, (_, i) => pause(`EXTRA-${i}`)))
    // Answered while the N are still held: refused at once, their handlers never ran.
    expect(unaryGate.started()).toBe(unaryBound)
    for (const outcome of refused) {
      expect(outcome.ok).toBe(false)
      if (outcome.ok) continue
      expect(outcome.error.code).toBe(Status.RESOURCE_EXHAUSTED)
      expect(outcome.error.details).toContain("3 already in flight")
      expect(outcome.trailer.get("retry-after")).toBe("2")
      expect(outcome.trailer.get("grpc-retry-pushback-ms")).toBe("2000")
      expect(outcome.trailer.get("dcent-error-code")).toBe("overloaded")
      // The same code in the standard details (GrpcServer's outermost middleware).
      expect(errorInfoOf(outcome.error)).toMatchObject({ reason: "overloaded", domain: "dcent" })
    }

    // Health is exempt.
    const health = createClient(HealthDefinition, channel)
    expect((await health.check({ service: "" })).status).toBe(SERVING)

    const during = await samples()
    expect(sumSamples(during, "dcent_admission_in_flight", { entry: "grpc_unary" })).toBe(unaryBound)
    expect(sumSamples(during, "dcent_admission_refused_total", { entry: "grpc_unary", reason: "capacity" })).toBe(extra)
    expect(
      sumSamples(during, "rpc_server_call_duration_seconds_count", {
        rpc_method: "PauseOrder",
        rpc_grpc_status_code: String(Status.RESOURCE_EXHAUSTED),
      }),
    ).toBe(extra)

    // The load ends: the held calls finish and new calls are answered normally.
    unaryGate.open()
    for (const outcome of await Promise.all(held)) expect(outcome.ok).toBe(true)
    const again = await Promise.all(Array.from({ length: unaryBound }, (_, i) => pause(`AGAIN-${i}`)))
    for (const outcome of again) expect(outcome.ok).toBe(true)
    expect(sumSamples(await samples(), "dcent_admission_in_flight", { entry: "grpc_unary" })).toBe(0)
  })

  it("refuses a stream past the bound on open streams on open, and admits one again once a stream closes", async () => {
    const first = await openStream("S-1")
    const second = await openStream("S-2")
    expect(first.ok && second.ok).toBe(true)
    expect(openStreams).toBe(streamBound)

    const third = await openStream("S-3")
    expect(third.ok).toBe(false)
    if (!third.ok) {
      expect(third.error.code).toBe(Status.RESOURCE_EXHAUSTED)
      expect(third.trailer.get("retry-after")).toBe("2")
      expect(third.trailer.get("dcent-error-code")).toBe("overloaded")
    }
    expect(openStreams).toBe(streamBound)
    // Unary calls have their own bound: not affected by the open streams.
    expect((await pause("UNARY-WHILE-STREAMS")).ok).toBe(true)
    expect(
      sumSamples(await samples(), "dcent_admission_refused_total", { entry: "grpc_stream", reason: "capacity" }),
    ).toBe(1)

    if (first.ok) first.cancel()
    // The slot comes back when the server has ended the cancelled stream.
    for (
      let i = 0;
      i < 500 && sumSamples(await samples(), "dcent_admission_in_flight", { entry: "grpc_stream" }) > 1;
      i++
    ) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    const fourth = await openStream("S-4")
    expect(fourth.ok).toBe(true)
    if (second.ok) second.cancel()
    if (fourth.ok) fourth.cancel()
  })
})
