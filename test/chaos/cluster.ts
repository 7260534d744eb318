/**
 * The system under fault: two processors and two requestors as real processes on the chaos
 * Kafka/Redis, each on fixed ports (a restarted process comes back where its clients look for
 * it), and one fault proxy per requestor between it and the processors.
 *
 *   requestor 1 ─▶ proxy 1 ─▶ processor A (or B when A refuses)
 *   requestor 2 ─▶ proxy 2 ─▶ processor B (or A when B refuses)
 *
 * When the requestor accepts a list in `PROCESSOR_GRPC_URL` (`a,b`), each gets both proxies
 * (its own first); until then, its one proxy fails over between the processors by itself.
 */
import { type FaultProxy, startFaultProxy } from "../support/faultProxy.ts"
import { waitForGrpc } from "../support/grpc.ts"
import { freePorts } from "../support/ports.ts"
import { repoRoot, type ServiceProcess, startProcess, waitForHttp } from "../support/processes.ts"
import type { RunningProcessor, RunningRequestor } from "../support/services.ts"
import { chaosBrokerUrl, chaosRedisUrl } from "./infra.ts"

/** Redis databases of the chaos instance: each service its own. */
const PROCESSOR_DB = 1
const REQUESTOR_DB = 2

export interface Slot<S extends ServiceProcess> {
  readonly name: string
  current: S
  readonly httpPort: number
  readonly grpcPort: number
  readonly httpUrl: string
  readonly grpcAddress: string
}

export interface Cluster {
  readonly processors: ReadonlyArray<Slot<RunningProcessor>>
  readonly requestors: ReadonlyArray<Slot<RunningRequestor>>
  readonly proxies: ReadonlyArray<FaultProxy>
  /** `list` when each requestor got both proxies, `single` when one proxy each. */
  readonly processorAddressing: "list" | "single"
  /** Kills (`signal`) and starts again on the same ports; resolves when ready (ms taken). */
  readonly restartProcessor: (index: number, signal: NodeJS.Signals) => Promise<number>
  readonly restartRequestor: (index: number, signal: NodeJS.Signals) => Promise<number>
  /** Every process's output, for failure messages. */
  readonly output: () => string
  readonly stop: () => Promise<void>
}

export interface ClusterOptions {
  readonly processorEnv?: Readonly<Record<string, string>>
  readonly requestorEnv?: Readonly<Record<string, string>>
  readonly logLevel?: string
}

const READY_TIMEOUT_MS = 60_000

/**
 * Where the services' sources are: the work tree, or `CHAOS_CODE_ROOT` (a snapshot of a commit
 * made by `./snapshot.sh`, to measure a fixed version while the work tree changes).
 */
const codeRoot = process.env.CHAOS_CODE_ROOT ?? repoRoot

/** Starts `service` from `codeRoot` on the given ports; resolves once REST and gRPC answer. */
const launch = async (
  service: "processor" | "requestor",
  name: string,
  ports: { readonly http: number; readonly grpc: number },
  env: Readonly<Record<string, string>>,
): Promise<RunningProcessor> => {
  const child = startProcess(
    `${codeRoot}${service}/src/main.ts`,
    {
      HTTP_HOST: "127.0.0.1",
      GRPC_SERVER_HOST: "127.0.0.1",
      // To run the suite with another relay layout than the default (e.g. `OUTBOX_RELAYS=2`).
      OUTBOX_RELAYS: process.env.OUTBOX_RELAYS,
      ...env,
    },
    { name },
  )
  const httpUrl = `http://127.0.0.1:${ports.http}`
  await waitForHttp(`${httpUrl}/healthz`, { process: child, status: 200, timeoutMs: READY_TIMEOUT_MS })
  await waitForGrpc(ports.grpc, { process: child, timeoutMs: READY_TIMEOUT_MS })
  await waitForHttp(`${httpUrl}/readyz`, { process: child, status: 200, timeoutMs: READY_TIMEOUT_MS })
  return Object.assign(child, {
    httpUrl,
    httpPort: ports.http,
    grpcAddress: `127.0.0.1:${ports.grpc}`,
    grpcPort: ports.grpc,
  })
}

export const startCluster = async (options: ClusterOptions = {}): Promise<Cluster> => {
  const ports = await freePorts(8)
  const logLevel = options.logLevel ?? process.env.CHAOS_LOG_LEVEL ?? "warning"
  const processorPorts = [0, 1].map((index) => ({
    http: ports[index * 2] as number,
    grpc: ports[index * 2 + 1] as number,
  }))
  const requestorPorts = [0, 1].map((index) => ({
    http: ports[4 + index * 2] as number,
    grpc: ports[5 + index * 2] as number,
  }))
  const processorAddresses = processorPorts.map((port) => `127.0.0.1:${port.grpc}`)
  const proxies = await Promise.all([
    startFaultProxy([processorAddresses[0] as string, processorAddresses[1] as string]),
    startFaultProxy([processorAddresses[1] as string, processorAddresses[0] as string]),
  ])
  const logs: Array<ServiceProcess> = []

  const launchProcessor = async (index: number) => {
    const port = processorPorts[index] as { http: number; grpc: number }
    const processor = await launch("processor", `processor-${"AB"[index]}`, port, {
      BROKER_URL: chaosBrokerUrl,
      REDIS_URL: chaosRedisUrl(PROCESSOR_DB),
      PROCESSOR_HTTP_PORT: String(port.http),
      GRPC_SERVER_PORT: String(port.grpc),
      LOG_LEVEL: logLevel,
      FIND_MAX_SEL: "3",
      ORDER_EXPIRY_MINUTES: "240",
      ...options.processorEnv,
    })
    logs.push(processor)
    return processor
  }

  let processorAddressing: "list" | "single" = process.env.CHAOS_SINGLE_PROCESSOR_URL === "1" ? "single" : "list"
  const processorUrlFor = (index: number) => {
    const own = proxies[index] as FaultProxy
    const other = proxies[1 - index] as FaultProxy
    return processorAddressing === "list" ? `${own.address},${other.address}` : own.address
  }

  const launchRequestor = async (index: number): Promise<RunningRequestor> => {
    const port = requestorPorts[index] as { http: number; grpc: number }
    const attempt = () =>
      launch("requestor", `requestor-${index + 1}`, port, {
        BROKER_URL: chaosBrokerUrl,
        REDIS_URL: chaosRedisUrl(REQUESTOR_DB),
        PROCESSOR_GRPC_URL: processorUrlFor(index),
        REQUESTOR_HTTP_PORT: String(port.http),
        REQUESTOR_GRPC_PORT: String(port.grpc),
        LOG_LEVEL: logLevel,
        ...options.requestorEnv,
      })
    let requestor: RunningRequestor
    try {
      requestor = await attempt()
    } catch (error) {
      // A requestor that does not take an address list yet refuses the variable at start-up.
      const message = error instanceof Error ? error.message : String(error)
      if (processorAddressing !== "list" || !message.includes("PROCESSOR_GRPC_URL")) throw error
      processorAddressing = "single"
      requestor = await attempt()
    }
    logs.push(requestor)
    return requestor
  }

  const processors: Array<Slot<RunningProcessor>> = []
  for (const index of [0, 1]) {
    const port = processorPorts[index] as { http: number; grpc: number }
    processors.push({
      name: `processor-${"AB"[index]}`,
      current: await launchProcessor(index),
      httpPort: port.http,
      grpcPort: port.grpc,
      httpUrl: `http://127.0.0.1:${port.http}`,
      grpcAddress: `127.0.0.1:${port.grpc}`,
    })
  }
  const requestors: Array<Slot<RunningRequestor>> = []
  for (const index of [0, 1]) {
    const port = requestorPorts[index] as { http: number; grpc: number }
    requestors.push({
      name: `requestor-${index + 1}`,
      current: await launchRequestor(index),
      httpPort: port.http,
      grpcPort: port.grpc,
      httpUrl: `http://127.0.0.1:${port.http}`,
      grpcAddress: `127.0.0.1:${port.grpc}`,
    })
  }

  const restart =
    <S extends ServiceProcess>(slots: Array<Slot<S>>, launch: (index: number) => Promise<S>) =>
    async (index: number, signal: NodeJS.Signals) => {
      const slot = slots[index] as Slot<S>
      const started = Date.now()
      await slot.current.stop({ signal, timeoutMs: 20_000 })
      slot.current = await launch(index)
      return Date.now() - started
    }

  return {
    processors,
    requestors,
    proxies,
    get processorAddressing() {
      return processorAddressing
    },
    restartProcessor: restart(processors, launchProcessor),
    restartRequestor: restart(requestors, launchRequestor),
    output: () => logs.map((log) => log.output()).join("\n"),
    stop: async () => {
      await Promise.allSettled([
        ...requestors.map((slot) => slot.current.stop()),
        ...processors.map((slot) => slot.current.stop()),
      ])
      await Promise.allSettled(proxies.map((proxy) => proxy.close()))
    },
  }
}
