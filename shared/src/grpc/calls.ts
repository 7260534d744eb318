/** What the gRPC metrics and spans both read off a call: its service and method, its final status. */
import { ClientError, ServerError, Status } from "nice-grpc-common"

export interface RpcNames {
  /** The fully qualified service, `pkg.Service`. */
  readonly service: string
  readonly method: string
}

// One entry per method path a process serves or calls: every call of a method shares its strings
// (50,000 `WatchOrder` streams used to hold a copy each in their spans).
const namesByPath = new Map<string, RpcNames>()

/** `/pkg.Service/Method` → `{ service: "pkg.Service", method: "Method" }`. */
export const rpcNames = (path: string): RpcNames => {
  let names = namesByPath.get(path)
  if (names === undefined) {
    const trimmed = path.startsWith("/") ? path.slice(1) : path
    const slash = trimmed.lastIndexOf("/")
    names =
      slash < 0
        ? { service: "unknown", method: trimmed }
        : { service: trimmed.slice(0, slash), method: trimmed.slice(slash + 1) }
    namesByPath.set(path, names)
  }
  return names
}

const standardServicePrefixes = ["/grpc.health.v1.", "/grpc.reflection."]

/**
 * Health checks and reflection: never refused, authenticated or rate limited — probes must answer
 * exactly when the server is busiest.
 */
export const isHealthOrReflection = (path: string): boolean =>
  standardServicePrefixes.some((prefix) => path.startsWith(prefix))

/** The gRPC status a failed call ends with, as far as this side can tell. */
export const statusOfError = (error: unknown): Status => {
  if (error instanceof ServerError || error instanceof ClientError) return error.code
  if (error instanceof Error && error.name === "AbortError") return Status.CANCELLED
  return Status.UNKNOWN
}
