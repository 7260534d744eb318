/** The requestor's settings, read from the environment and validated at start-up. */

import { flag, host, port, positiveInt } from "@dcent/shared/config/env"
import { Config, Context, Layer, Schema } from "effect"

/**
 * `host:port` (or `[v6]:port`), optionally behind `http://` / `https://` (TLS). What nice-grpc's
 * `createChannel` accepts; anything else fails start-up naming the variable.
 */
const GrpcAddress = Schema.String.check(
  Schema.makeFilter((value: string) => {
    const address = value.replace(/^https?:\/\//, "")
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(address)
    if (match === null) return "Expected host:port (e.g. 127.0.0.1:50051), optionally with http:// or https://"
    const portNumber = Number(match[2])
    return portNumber >= 1 && portNumber <= 65535 ? undefined : `Expected a port 1-65535, got ${match[2]}`
  }),
)

export const requestorConfig = Config.all({
  /** `REQUESTOR_HTTP_PORT` (8000): REST, `/docs`, `/healthz`, `/readyz`. */
  httpPort: port("REQUESTOR_HTTP_PORT", 8000),
  /** `HTTP_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the REST server binds. */
  httpHost: host("HTTP_HOST", "127.0.0.1"),
  /** `REQUESTOR_GRPC_PORT` (50052): the public gRPC server (`WatchOrder`, health, reflection). */
  grpcPort: port("REQUESTOR_GRPC_PORT", 50052),
  /** `GRPC_SERVER_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the gRPC server binds. */
  grpcHost: host("GRPC_SERVER_HOST", "127.0.0.1"),
  /** `PROCESSOR_GRPC_URL` (127.0.0.1:50051): where the processor's gRPC server is. */
  processorGrpcUrl: Config.schema(GrpcAddress, "PROCESSOR_GRPC_URL").pipe(Config.withDefault("127.0.0.1:50051")),
  /** `SSE_HEARTBEAT_SECONDS` (15): comment lines keeping idle SSE connections open through proxies. */
  sseHeartbeatSeconds: positiveInt("SSE_HEARTBEAT_SECONDS", 15),
  /** `DEMO_DATA` (false): register the seed README's demo order `ORD-001` at start-up (if absent). */
  demoData: flag("DEMO_DATA", false),
})

export type RequestorConfigShape = typeof requestorConfig extends Config.Config<infer A> ? A : never

export class RequestorConfig extends Context.Service<RequestorConfig, RequestorConfigShape>()(
  "dcent/requestor/RequestorConfig",
) {
  static readonly layer = Layer.effect(RequestorConfig, requestorConfig)
}

/** Prefix of every Redis key the requestor writes. */
export const redisKeyPrefix = "dcent:requestor:"
