/**
 * gRPC metrics as a nice-grpc server stage and client middleware: `rpc_server_call_duration_seconds` (server) and
 * `rpc_client_call_duration_seconds` (client), labelled `{rpc_service, rpc_method,
 * rpc_grpc_status_code}` after the OpenTelemetry RPC conventions (`rpc_service` is the fully
 * qualified service, the status code is the numeric gRPC code, e.g. `0` for OK, `1` CANCELLED).
 *
 * For server-streaming methods the duration is the stream's life. A call the other side
 * abandoned (client cancel, aborted signal) counts as CANCELLED.
 */
import { type ClientMiddleware, Status } from "nice-grpc-common"
import { rpcNames, statusOfError } from "../grpc/calls.ts"
import { type RelayEnd, relayResponses } from "../grpc/relay.ts"
import type { ServerStage } from "../grpc/stages.ts"
import type { Catalogue } from "./catalogue.ts"
import { childPerKey } from "./instrument.ts"

type RpcHistogram = Catalogue["rpcServerDuration"]
type Observer = (seconds: number) => void

/** Histogram children per method path and status, created once each. */
const observers = (histogram: RpcHistogram) => {
  const observerOf = childPerKey((key): Observer => {
    const [path = "", code = ""] = key.split("\u0000")
    const { service, method } = rpcNames(path)
    const child = histogram.labels(service, method, code)
    return (seconds) => child.observe(seconds)
  })
  return (path: string, code: Status): Observer => observerOf(`${path}\u0000${code}`)
}

/**
 * Starts timing one call; what it returns records the call's duration (for server streams: the
 * stream's life) under its final status when the call ends: the status it failed with, CANCELLED
 * when the other side abandoned it, otherwise OK. Server and client differ only in where the
 * call's signal is.
 */
const timeCall = (histogram: RpcHistogram) => {
  const observerFor = observers(histogram)
  return (path: string, signal: AbortSignal | undefined) => {
    // Real elapsed time for the Prometheus histogram (gRPC middleware, outside Effect; not logic).
    const started = performance.now()
    return (end: RelayEnd) => {
      let code: Status = end.failed ? statusOfError(end.error) : Status.OK
      if (code === Status.OK && signal?.aborted === true) code = Status.CANCELLED
      observerFor(path, code)((performance.now() - started) / 1000)
    }
  }
}

/** Server stage (`../grpc/stages.ts`) recording `rpc_server_call_duration_seconds`. */
export const rpcServerMetrics = (catalogue: Catalogue): ServerStage => {
  const timed = timeCall(catalogue.rpcServerDuration)
  return { enter: (call, context) => timed(call.method.path, context.signal) }
}

/** Client middleware recording `rpc_client_call_duration_seconds`; attach with `createClientFactory().use(...)`. */
export const rpcClientMetrics = (catalogue: Catalogue): ClientMiddleware => {
  const timed = timeCall(catalogue.rpcClientDuration)
  return (call, options) =>
    relayResponses(() => call.next(call.request, options), timed(call.method.path, options.signal))
}
