import { formatConfigError } from "@dcent/shared/config/errors"
import { ConfigProvider, Duration, Effect, Exit, Option } from "effect"
import { describe, expect, it } from "vitest"
import { processorConfig } from "../../src/config.ts"

const parse = (env: Record<string, string>) =>
  Effect.runSyncExit(processorConfig.parse(ConfigProvider.fromEnv({ env })))

const failureMessage = (env: Record<string, string>) => {
  const exit = parse(env)
  if (Exit.isSuccess(exit)) throw new Error("expected a configuration error")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error("expected a failure")
  return formatConfigError(reason.error, env)
}

describe("processor configuration", () => {
  it("has the documented defaults", () => {
    const exit = parse({})
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      httpPort: 8001,
      httpHost: "127.0.0.1",
      grpcPort: 50051,
      grpcHost: "127.0.0.1",
      maxConcurrentTasks: 10,
      orderExpiryMinutes: 30,
      findMaxSel: 10,
      editLockTtlSeconds: 300,
      dispatchWorkers: Option.none(),
      dispatchAgingMs: 30_000,
      timerPollMs: 250,
      demoData: false,
      httpAdmission: {
        maxInFlight: 128,
        adaptive: false,
        minInFlight: 8,
        maxQueue: 1024,
        queueTimeout: Duration.millis(250),
        retryAfterSeconds: 1,
      },
      grpcAdmission: { maxUnaryInFlight: 1024, maxStreams: 150_000, retryAfterSeconds: 1 },
      httpLimits: {
        maxBodyBytes: 1_048_576,
        maxUrlLength: 8192,
        maxHeaderBytes: 16_384,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        keepAliveTimeoutMs: 5_000,
        listenBacklog: 4096,
        acceptors: 32,
      },
      grpcMaxReceiveMessageBytes: 1_048_576,
      tls: undefined,
    })
  })

  it("reads the admission-control bounds", () => {
    const exit = parse({
      HTTP_MAX_IN_FLIGHT: "64",
      HTTP_ADAPTIVE_LIMIT: "true",
      HTTP_MIN_IN_FLIGHT: "4",
      HTTP_MAX_QUEUE: "0",
      HTTP_QUEUE_TIMEOUT_MS: "250",
      GRPC_MAX_UNARY_IN_FLIGHT: "32",
      GRPC_MAX_STREAMS: "200000",
      OVERLOAD_RETRY_AFTER_SECONDS: "5",
    })
    expect(Exit.isSuccess(exit) && exit.value).toMatchObject({
      httpAdmission: {
        maxInFlight: 64,
        adaptive: true,
        minInFlight: 4,
        maxQueue: 0,
        queueTimeout: Duration.millis(250),
        retryAfterSeconds: 5,
      },
      grpcAdmission: { maxUnaryInFlight: 32, maxStreams: 200_000, retryAfterSeconds: 5 },
    })
  })

  it("reads the environment", () => {
    const exit = parse({
      PROCESSOR_HTTP_PORT: "18001",
      GRPC_SERVER_PORT: "15051",
      MAX_CONCURRENT_TASKS: "4",
      ORDER_EXPIRY_MINUTES: "0.5",
      DISPATCH_WORKERS: "2",
      EDIT_LOCK_TTL_SECONDS: "60",
      DEMO_DATA: "yes",
    })
    expect(Exit.isSuccess(exit) && exit.value).toMatchObject({
      httpPort: 18001,
      grpcPort: 15051,
      maxConcurrentTasks: 4,
      orderExpiryMinutes: 0.5,
      dispatchWorkers: Option.some(2),
      editLockTtlSeconds: 60,
      demoData: true,
    })
  })

  it.each([
    ["PROCESSOR_HTTP_PORT", "abc"],
    ["GRPC_SERVER_PORT", "70000"],
    ["MAX_CONCURRENT_TASKS", "-1"],
    ["ORDER_EXPIRY_MINUTES", "0"],
    ["ORDER_EXPIRY_MINUTES", "soon"],
    ["FIND_MAX_SEL", "1.5"],
    ["EDIT_LOCK_TTL_SECONDS", "0"],
    ["DISPATCH_WORKERS", "-2"],
    ["DISPATCH_AGING_MS", "abc"],
    ["DEMO_DATA", "maybe"],
    ["HTTP_MAX_IN_FLIGHT", "0"],
    ["HTTP_MAX_QUEUE", "-1"],
    ["HTTP_QUEUE_TIMEOUT_MS", "soon"],
    ["GRPC_MAX_UNARY_IN_FLIGHT", "1.5"],
    ["GRPC_MAX_STREAMS", "0"],
    ["OVERLOAD_RETRY_AFTER_SECONDS", "0"],
  ])("rejects %s=%s with a message naming the variable", (name, bad) => {
    expect(failureMessage({ [name]: bad })).toMatch(new RegExp(`^${name}="${bad.replace(".", "\\.")}": `))
  })
})
