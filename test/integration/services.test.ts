/**
 * The test support's `startProcessor` / `startRequestor` return only once the service's gRPC
 * server answers, not merely once `/healthz` does: the REST and gRPC servers start side by side,
 * and a test that opened gRPC right after `/healthz` (as `replicas.test.ts` did) got
 * ECONNREFUSED about one start in three. Each service is probed the moment its start returns,
 * with a fresh channel whose first call fails at once when nothing listens (no wait for ready).
 */
import { createChannel, createClient } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { describe, expect, it } from "vitest"
import { freePort } from "../support/ports.ts"
import { redisUrl } from "../support/servers.ts"
import { type RunningGrpcService, startProcessor, startRequestor } from "../support/services.ts"

/** `HealthCheckResponse.ServingStatus.SERVING` */
const SERVING = 1
const STARTS = 4

/** One health check right now: SERVING, another status, or why the call failed. */
const healthNow = async (address: string): Promise<string> => {
  const channel = createChannel(address)
  try {
    const health = createClient(HealthDefinition, channel)
    const { status } = await health.check({ service: "" }, { signal: AbortSignal.timeout(5_000) })
    return status === SERVING ? "SERVING" : `status ${status}`
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    channel.close()
  }
}

/** Starts `STARTS` services side by side, probing each the moment its start returns; stops them all. */
const probeStarts = async (start: (n: number) => Promise<RunningGrpcService>): Promise<Array<string>> => {
  const started: Array<RunningGrpcService> = []
  try {
    return await Promise.all(
      Array.from({ length: STARTS }, async (_, n) => {
        const service = await start(n)
        started.push(service)
        return `${service.name}: ${await healthNow(service.grpcAddress)}`
      }),
    )
  } finally {
    await Promise.all(started.map((service) => service.stop()))
  }
}

describe("starting the services for tests", () => {
  it("startProcessor returns once gRPC is SERVING", async () => {
    const probes = await probeStarts((n) =>
      startProcessor({ name: `processor-${n}`, env: { REDIS_URL: `${redisUrl}/14`, LOG_LEVEL: "warning" } }),
    )
    expect(probes).toEqual(Array.from({ length: STARTS }, (_, n) => `processor-${n}: SERVING`))
  })

  it("startRequestor puts its public gRPC on a free port (not 50052) and returns once it is SERVING", async () => {
    // Nothing listens there: the requestors have no processor, which their gRPC server does not need.
    const processorAddress = `127.0.0.1:${await freePort()}`
    const ports: Array<number> = []
    const probes = await probeStarts(async (n) => {
      const requestor = await startRequestor({
        name: `requestor-${n}`,
        env: { REDIS_URL: `${redisUrl}/14`, PROCESSOR_GRPC_URL: processorAddress, LOG_LEVEL: "warning" },
      })
      ports.push(requestor.grpcPort)
      return requestor
    })
    expect(probes).toEqual(Array.from({ length: STARTS }, (_, n) => `requestor-${n}: SERVING`))
    expect(new Set(ports).size).toBe(STARTS)
    expect(ports).not.toContain(50052)
  })
})
