/** The requestor's settings, read from the environment and validated at start-up. */

import { fileURLToPath } from "node:url"
import { requestorHttpMaxInFlight } from "@dcent/shared/admission/config"
import { flag, port, positiveInt } from "@dcent/shared/config/env"
import { serverConfig } from "@dcent/shared/config/servers"
import { SettingsService } from "@dcent/shared/config/settings"
import { Config, Schema } from "effect"
import { parseProcessorTarget } from "./processor/target.ts"

/**
 * One `host:port` (or `[v6]:port`), optionally behind `http://` / `https://` (TLS), or several
 * comma-separated IP addresses of processor replicas (see `processor/target.ts`). Anything else
 * fails start-up naming the variable.
 */
const GrpcAddress = Schema.String.check(
  Schema.makeFilter((value: string) => {
    const parsed = parseProcessorTarget(value)
    return "problem" in parsed ? parsed.problem : undefined
  }),
)

/** Where `vite build` writes the web console (`console/dist`). */
const defaultConsoleDir = fileURLToPath(new URL("../../console/dist", import.meta.url))

export const requestorConfig = Config.all({
  /** `REQUESTOR_HTTP_PORT` (8000): REST, `/docs`, `/healthz`, `/readyz`. */
  httpPort: port("REQUESTOR_HTTP_PORT", 8000),
  /** `REQUESTOR_GRPC_PORT` (50052): the public gRPC server (`WatchOrder`, health, reflection). */
  grpcPort: port("REQUESTOR_GRPC_PORT", 50052),
  /**
   * `HTTP_HOST`, `GRPC_SERVER_HOST`, admission control, input limits, TLS (`@dcent/shared/config/servers`);
   * `GRPC_MAX_STREAMS` 100000: twice the 50,000 `WatchOrder` streams one requestor is built for;
   * `HTTP_MAX_IN_FLIGHT` 512 (`requestorHttpMaxInFlight`: its SSE opens come in crowds).
   */
  ...serverConfig({ grpcMaxStreams: 100_000, httpMaxInFlight: requestorHttpMaxInFlight }),
  /**
   * `PROCESSOR_GRPC_URL` (127.0.0.1:50051): where the processor's gRPC server is; several
   * replicas as `127.0.0.1:50051,127.0.0.1:50061` (round-robin, failing over to the live ones).
   */
  processorGrpcUrl: Config.schema(GrpcAddress, "PROCESSOR_GRPC_URL").pipe(Config.withDefault("127.0.0.1:50051")),
  /**
   * `STREAM_LEASE_TTL_SECONDS` (6): lease of a requestor replica on its shards of the live orders'
   * processor streams, claimed every third of it. When a replica dies the others take its shards
   * over within about this long (plus one claim period); a graceful stop hands them over at once.
   */
  streamLeaseTtlSeconds: positiveInt("STREAM_LEASE_TTL_SECONDS", 6),
  /**
   * `STREAM_SHARDS` (64): how many shards the live orders' streams are spread over among the
   * requestor replicas. Every replica of a deployment must use the same value.
   */
  streamShards: positiveInt("STREAM_SHARDS", 64),
  /** `SSE_HEARTBEAT_SECONDS` (15): comment lines keeping idle SSE connections open through proxies. */
  sseHeartbeatSeconds: positiveInt("SSE_HEARTBEAT_SECONDS", 15),
  /** `SSE_MAX_STREAMS` (20000: twice the 10,000 one requestor is built for): open SSE responses; past it 503 `overloaded`. */
  sseMaxStreams: positiveInt("SSE_MAX_STREAMS", 20_000),
  /** `PROCESSOR_HTTP_URL` (http://127.0.0.1:8001): the processor's REST API, for the console's proxy (`console/http.ts`). */
  processorHttpUrl: Config.schema(
    Schema.String.check(Schema.isPattern(/^https?:\/\/[^/\s]+$/, { message: "Expected http(s)://host:port" })),
    "PROCESSOR_HTTP_URL",
  ).pipe(Config.withDefault("http://127.0.0.1:8001")),
  /** `CONSOLE_DIR` (console/dist): the built web console served under `/console`. */
  consoleDir: Config.String("CONSOLE_DIR").pipe(Config.withDefault(defaultConsoleDir)),
  /**
   * `CONSOLE_DEMO_TOKENS` (false): `POST /console/demo-token` mints tokens for the demo principals
   * (the console's local picker) — only with AUTH_MODE=jwt, AUTH_JWT_SECRET and a loopback HTTP_HOST.
   */
  consoleDemoTokens: flag("CONSOLE_DEMO_TOKENS", false),
  /** `DEMO_DATA` (false): register the original dCent README's demo order `ORD-001` at start-up (if absent). */
  demoData: flag("DEMO_DATA", false),
})

export class RequestorConfig extends SettingsService<RequestorConfig>()(
  "dcent/requestor/RequestorConfig",
  requestorConfig,
) {}

/** Prefix of every Redis key the requestor writes. */
export const redisKeyPrefix = "dcent:requestor:"
