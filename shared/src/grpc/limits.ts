/**
 * `GRPC_MAX_RECEIVE_MESSAGE_BYTES` (1048576): the largest gRPC message a server (and the
 * requestor's processor client) accepts; a larger one fails with RESOURCE_EXHAUSTED before it is
 * decoded. gRPC's own default is 4 MiB; no request of either service comes near 1 MiB.
 */
import type { Config } from "effect"
import { positiveInt } from "../config/env.ts"

export const defaultGrpcMaxReceiveMessageBytes = 1_048_576

export const grpcMaxReceiveMessageBytesConfig: Config.Config<number> = positiveInt(
  "GRPC_MAX_RECEIVE_MESSAGE_BYTES",
  defaultGrpcMaxReceiveMessageBytes,
)

/** The channel option carrying it (server and client). */
export const maxReceiveMessageOption = (bytes: number) => ({ "grpc.max_receive_message_length": bytes })
