/**
 * gRPC metrics as nice-grpc middleware: `rpc_server_call_duration_seconds` (server) and
 * `rpc_client_call_duration_seconds` (client), labelled `{rpc_service, rpc_method,
 * rpc_grpc_status_code}` after the OpenTelemetry RPC conventions (`rpc_service` is the fully
 * qualified service, the status code is the numeric gRPC code, e.g. `0` for OK, `1` CANCELLED).
 *
 * For server-streaming methods the duration is the stream's life. A call the other side
 * abandoned (client cancel, aborted signal) counts as CANCELLED.
 */
import {
  type CallContext,
  type CallOptions,
  ClientError,
  type ClientMiddlewareCall,
  ServerError,
  type ServerMiddlewareCall,
  Status,
} from "nice-grpc-common"
import type { Catalogue } from "./catalogue.ts"

type RpcHistogram = Catalogue["rpcServerDuration"]
type Observer = (seconds: number) => void

/** `/pkg.Service/Method` → [`pkg.Service`, `Method`]. */
export const splitMethodPath = (path: string): readonly [service: string, method: string] => {
  const trimmed = path.startsWith("/") ? path.slice(1) : path
  const slash = trimmed.lastIndexOf("/")
  return slash < 0 ? ["unknown", trimmed] : [trimmed.slice(0, slash), trimmed.slice(slash + 1)]
}

/** The gRPC status a failed call ends with, as far as this side can tell. */
export const statusOfError = (error: unknown): Status => {
  if (error instanceof ServerError || error instanceof ClientError) return error.code
  if (error instanceof Error && error.name === "AbortError") return Status.CANCELLED
  return Status.UNKNOWN
}

/** Histogram children per method path and status, created once each. */
const observers = (histogram: RpcHistogram) => {
  const cache = new Map<string, Observer>()
  return (path: string, code: Status): Observer => {
    const key = `${path}\u0000${code}`
    let observe = cache.get(key)
    if (observe === undefined) {
      const [service, method] = splitMethodPath(path)
      const child = histogram.labels(service, method, String(code))
      observe = (seconds) => child.observe(seconds)
      cache.set(key, observe)
    }
    return observe
  }
}

/** Server middleware recording `rpc_server_call_duration_seconds`; attach with `server.use(...)`. */
export const rpcServerMetrics = (catalogue: Catalogue) => {
  const observerFor = observers(catalogue.rpcServerDuration)
  return async function* rpcServerMetricsMiddleware<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    // Real elapsed time for the Prometheus histogram (a nice-grpc middleware, outside Effect; not logic).
    const started = performance.now()
    let code: Status = Status.OK
    try {
      return yield* call.next(call.request, context)
    } catch (error) {
      code = statusOfError(error)
      throw error
    } finally {
      if (code === Status.OK && context.signal.aborted) code = Status.CANCELLED
      observerFor(call.method.path, code)((performance.now() - started) / 1000)
    }
  }
}

/** Client middleware recording `rpc_client_call_duration_seconds`; attach with `createClientFactory().use(...)`. */
export const rpcClientMetrics = (catalogue: Catalogue) => {
  const observerFor = observers(catalogue.rpcClientDuration)
  return async function* rpcClientMetricsMiddleware<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ) {
    // Real elapsed time for the Prometheus histogram (a nice-grpc middleware, outside Effect; not logic).
    const started = performance.now()
    let code: Status = Status.OK
    try {
      return yield* call.next(call.request, options)
    } catch (error) {
      code = statusOfError(error)
      throw error
    } finally {
      if (code === Status.OK && options.signal?.aborted === true) code = Status.CANCELLED
      observerFor(call.method.path, code)((performance.now() - started) / 1000)
    }
  }
}
