/**
 * A gRPC server that hosts only `grpc.health.v1.Health` (SERVING), on a free loopback port: a
 * stand-in processor for tests of the requestor that need its `/readyz` check `processor` to
 * pass without running a processor.
 */
import { createServer } from "nice-grpc"
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health"

export interface HealthServer {
  /** `127.0.0.1:<port>` → `PROCESSOR_GRPC_URL` */
  readonly address: string
  /** SERVING (true) or NOT_SERVING (false). */
  readonly setServing: (serving: boolean) => void
  readonly close: () => Promise<void>
}

export const startHealthServer = async (): Promise<HealthServer> => {
  const health = HealthState()
  health.setStatus("healthy", "")
  const server = createServer()
  server.add(HealthDefinition, HealthServiceImpl(health))
  const port = await server.listen("127.0.0.1:0")
  return {
    address: `127.0.0.1:${port}`,
    setServing: (serving) => health.setStatus(serving ? "healthy" : "unhealthy", ""),
    close: () => server.shutdown(),
  }
}
