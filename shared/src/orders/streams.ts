/**
 * The span both sides give one order's `open` on a multiplexed `ProcessOrderStreams` call (the
 * call itself is a connection, not traced): the requestor's CLIENT span, a child of the request
 * that asked for the order's stream, and the processor's SERVER span, its child through the
 * command's `trace_context`.
 */
import { rpcAttributes, rpcSpanName } from "../telemetry/grpc.ts"

const path = "/dcent.orders.v1.OrderStreamingService/ProcessOrderStreams"

export const openSpanName = `${rpcSpanName(path)} open`

export const openSpanAttributes: Readonly<Record<string, string>> = rpcAttributes(path)
