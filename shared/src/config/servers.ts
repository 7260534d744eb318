/**
 * The settings of the REST and gRPC servers every service runs, read from the same variables in
 * each (each service adds its own ports and its gRPC stream limit).
 */
import { grpcAdmissionConfig, httpAdmissionConfig } from "../admission/config.ts"
import { grpcMaxReceiveMessageBytesConfig } from "../grpc/limits.ts"
import { httpLimitsConfig } from "../http/limits.ts"
import { host } from "./env.ts"
import { tlsConfig } from "./tls.ts"

/** The server settings, with the service's defaults of `GRPC_MAX_STREAMS` and `HTTP_MAX_IN_FLIGHT`. */
export const serverConfig = (defaults: { readonly grpcMaxStreams: number; readonly httpMaxInFlight?: number }) => ({
  /** `HTTP_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the REST server binds. */
  httpHost: host("HTTP_HOST", "127.0.0.1"),
  /** `GRPC_SERVER_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the gRPC server binds. */
  grpcHost: host("GRPC_SERVER_HOST", "127.0.0.1"),
  /**
   * `HTTP_MAX_IN_FLIGHT` (128 processor, 512 requestor), `HTTP_MAX_QUEUE` (1024), `HTTP_QUEUE_TIMEOUT_MS` (250),
   * `OVERLOAD_RETRY_AFTER_SECONDS` (1): REST admission control (past them 503 `overloaded`).
   */
  httpAdmission: httpAdmissionConfig(defaults.httpMaxInFlight),
  /** `GRPC_MAX_UNARY_IN_FLIGHT` (1024), `GRPC_MAX_STREAMS`: gRPC admission control (past them RESOURCE_EXHAUSTED). */
  grpcAdmission: grpcAdmissionConfig(defaults.grpcMaxStreams),
  /** `HTTP_MAX_BODY_BYTES`, `HTTP_MAX_URL_LENGTH`, `HTTP_MAX_HEADER_BYTES`, `HTTP_*_TIMEOUT_MS`: hostile input (`http/limits.ts`). */
  httpLimits: httpLimitsConfig,
  /** `GRPC_MAX_RECEIVE_MESSAGE_BYTES` (1 MiB): the largest gRPC message accepted. */
  grpcMaxReceiveMessageBytes: grpcMaxReceiveMessageBytesConfig,
  /** `TLS_CA_FILE`, `TLS_CERT_FILE`, `TLS_KEY_FILE`: https / gRPC over TLS, mutual TLS between the services (`tls.ts`). */
  tls: tlsConfig,
})
