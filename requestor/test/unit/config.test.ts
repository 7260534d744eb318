import { fileURLToPath } from "node:url"
import { formatConfigError } from "@dcent/shared/config/errors"
import { ConfigProvider, Duration, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { requestorConfig } from "../../src/config.ts"

const parse = (env: Record<string, string>) =>
  Effect.runSyncExit(requestorConfig.parse(ConfigProvider.fromEnv({ env })))

const problemOf = (env: Record<string, string>) => {
  const exit = parse(env)
  if (Exit.isSuccess(exit)) throw new Error("expected a configuration error")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error("expected a failure")
  return formatConfigError(reason.error, env)
}

describe("requestor configuration", () => {
  it("has the documented defaults", () => {
    const exit = parse({})
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      httpPort: 8000,
      httpHost: "127.0.0.1",
      grpcPort: 50052,
      grpcHost: "127.0.0.1",
      processorGrpcUrl: "127.0.0.1:50051",
      streamLeaseTtlSeconds: 6,
      streamShards: 64,
      sseHeartbeatSeconds: 15,
      httpAdmission: {
        maxInFlight: 512,
        adaptive: false,
        minInFlight: 8,
        maxQueue: 1024,
        queueTimeout: Duration.millis(250),
        retryAfterSeconds: 1,
      },
      grpcAdmission: { maxUnaryInFlight: 1024, maxStreams: 100_000, retryAfterSeconds: 1 },
      sseMaxStreams: 20_000,
      processorHttpUrl: "http://127.0.0.1:8001",
      consoleDir: fileURLToPath(new URL("../../../console/dist", import.meta.url)),
      consoleDemoTokens: false,
      demoData: false,
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

  it("reads every variable", () => {
    const exit = parse({
      REQUESTOR_HTTP_PORT: "9000",
      HTTP_HOST: "0.0.0.0",
      REQUESTOR_GRPC_PORT: "9001",
      GRPC_SERVER_HOST: "0.0.0.0",
      PROCESSOR_GRPC_URL: "processor:50051",
      STREAM_LEASE_TTL_SECONDS: "10",
      STREAM_SHARDS: "16",
      SSE_HEARTBEAT_SECONDS: "5",
      HTTP_MAX_IN_FLIGHT: "64",
      HTTP_ADAPTIVE_LIMIT: "true",
      HTTP_MIN_IN_FLIGHT: "4",
      HTTP_MAX_QUEUE: "0",
      HTTP_QUEUE_TIMEOUT_MS: "250",
      GRPC_MAX_UNARY_IN_FLIGHT: "32",
      GRPC_MAX_STREAMS: "70000",
      SSE_MAX_STREAMS: "5000",
      OVERLOAD_RETRY_AFTER_SECONDS: "2",
      PROCESSOR_HTTP_URL: "https://processor:8001",
      CONSOLE_DIR: "/srv/console",
      CONSOLE_DEMO_TOKENS: "true",
      DEMO_DATA: "yes",
      HTTP_MAX_BODY_BYTES: "2048",
      HTTP_MAX_URL_LENGTH: "512",
      HTTP_MAX_HEADER_BYTES: "4096",
      HTTP_HEADERS_TIMEOUT_MS: "2000",
      HTTP_REQUEST_TIMEOUT_MS: "4000",
      HTTP_KEEP_ALIVE_TIMEOUT_MS: "1000",
      HTTP_LISTEN_BACKLOG: "1024",
      HTTP_ACCEPTORS: "4",
      GRPC_MAX_RECEIVE_MESSAGE_BYTES: "65536",
    })
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      httpPort: 9000,
      httpHost: "0.0.0.0",
      grpcPort: 9001,
      grpcHost: "0.0.0.0",
      processorGrpcUrl: "processor:50051",
      streamLeaseTtlSeconds: 10,
      streamShards: 16,
      sseHeartbeatSeconds: 5,
      httpAdmission: {
        maxInFlight: 64,
        adaptive: true,
        minInFlight: 4,
        maxQueue: 0,
        queueTimeout: Duration.millis(250),
        retryAfterSeconds: 2,
      },
      grpcAdmission: { maxUnaryInFlight: 32, maxStreams: 70_000, retryAfterSeconds: 2 },
      sseMaxStreams: 5000,
      processorHttpUrl: "https://processor:8001",
      consoleDir: "/srv/console",
      consoleDemoTokens: true,
      demoData: true,
      httpLimits: {
        maxBodyBytes: 2048,
        maxUrlLength: 512,
        maxHeaderBytes: 4096,
        headersTimeoutMs: 2000,
        requestTimeoutMs: 4000,
        keepAliveTimeoutMs: 1000,
        listenBacklog: 1024,
        acceptors: 4,
      },
      grpcMaxReceiveMessageBytes: 65_536,
      tls: undefined,
    })
  })

  it.each([
    "127.0.0.1:50051",
    "http://processor:50051",
    "https://processor.example:443",
    "[::1]:50051",
    "127.0.0.1:50051,127.0.0.1:50061",
    "[::1]:50051,[::1]:50061",
  ])("accepts PROCESSOR_GRPC_URL=%s", (value) => {
    const exit = parse({ PROCESSOR_GRPC_URL: value })
    expect(Exit.isSuccess(exit) && exit.value.processorGrpcUrl).toBe(value)
  })

  it.each(["abc", "0", "65536"])("rejects REQUESTOR_HTTP_PORT=%s with a message naming it", (bad) => {
    expect(problemOf({ REQUESTOR_HTTP_PORT: bad })).toMatch(new RegExp(`^REQUESTOR_HTTP_PORT="${bad}": `))
  })

  it.each([
    ["REQUESTOR_GRPC_PORT", "70000"],
    ["PROCESSOR_GRPC_URL", "processor"],
    ["PROCESSOR_GRPC_URL", "grpc://processor:50051"],
    ["PROCESSOR_GRPC_URL", "processor:99999"],
    ["PROCESSOR_GRPC_URL", "processor-1:50051,processor-2:50051"],
    ["PROCESSOR_GRPC_URL", "127.0.0.1:50051,[::1]:50061"],
    ["PROCESSOR_GRPC_URL", "127.0.0.1:50051,"],
    ["STREAM_LEASE_TTL_SECONDS", "0"],
    ["SSE_HEARTBEAT_SECONDS", "0"],
    ["DEMO_DATA", "maybe"],
    ["SSE_MAX_STREAMS", "0"],
    ["GRPC_MAX_STREAMS", "many"],
    ["HTTP_MAX_QUEUE", "-1"],
    ["HTTP_MAX_BODY_BYTES", "0"],
    ["HTTP_HEADERS_TIMEOUT_MS", "soon"],
    ["GRPC_MAX_RECEIVE_MESSAGE_BYTES", "-5"],
  ])("rejects %s=%s with a message naming it", (name, value) => {
    expect(problemOf({ [name]: value })).toMatch(
      new RegExp(`^${name}="${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}": `),
    )
  })
})
