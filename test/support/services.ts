/**
 * Starting the two services as real processes on free ports, against the real servers of
 * `infra/local/stack.sh` (override anything through `env`). Both return once their REST server
 * answers `/healthz` AND their gRPC server is SERVING: the REST and gRPC servers start side by
 * side, so `/healthz` alone does not mean gRPC is listening yet.
 */
import { ChannelCredentials } from "@grpc/grpc-js"
import { waitForGrpc } from "./grpc.ts"
import { freePorts } from "./ports.ts"
import { type ServiceProcess, startProcess, waitForHttp } from "./processes.ts"
import { kafkaUrl, redisUrl } from "./servers.ts"

export interface RunningService extends ServiceProcess {
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string
  readonly httpPort: number
}

/** A service with a gRPC server: the processor's order services, the requestor's public `WatchOrder`. */
export interface RunningGrpcService extends RunningService {
  /** `127.0.0.1:<port>`, for nice-grpc `createChannel` */
  readonly grpcAddress: string
  readonly grpcPort: number
}

export type RunningProcessor = RunningGrpcService

/** `grpcPort` is `REQUESTOR_GRPC_PORT` (a free port unless `env` sets one; never the default 50052). */
export type RunningRequestor = RunningGrpcService

export interface StartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Wait until `/healthz` answers 200 and gRPC answers SERVING (default true). */
  readonly waitForHealthz?: boolean
  readonly name?: string
  /** The service serves TLS (its env sets `TLS_*`): https, and this client identity for probing gRPC. */
  readonly tls?: ClientTls
  /** Another checkout's entry point (benchmarks against a baseline revision); default this tree's. */
  readonly entry?: string
}

/** What a test client needs to reach services with `TLS_*` set: the CA, and a certificate for mutual TLS. */
export interface ClientTls {
  readonly ca: Buffer
  readonly cert: Buffer
  readonly key: Buffer
}

export const clientCredentials = (tls: ClientTls) => ChannelCredentials.createSsl(tls.ca, tls.key, tls.cert)

const baseEnv = { BROKER_URL: kafkaUrl, REDIS_URL: redisUrl, HTTP_HOST: "127.0.0.1", LOG_LEVEL: "info" }

/** Waits for `/healthz` (200), then for the gRPC server (SERVING). */
const waitUntilServing = async (child: ServiceProcess, httpUrl: string, grpcPort: number, tls?: ClientTls) => {
  await waitForHttp(`${httpUrl}/healthz`, { process: child, status: 200, ...(tls === undefined ? {} : { ca: tls.ca }) })
  await waitForGrpc(grpcPort, { process: child, ...(tls === undefined ? {} : { credentials: clientCredentials(tls) }) })
}

/** The port `env[name]` pins, or `fallback`. */
const portFrom = (env: StartOptions["env"], name: string, fallback: number) => {
  const value = env?.[name]
  return value === undefined ? fallback : Number(value)
}

export const startProcessor = async (options: StartOptions = {}): Promise<RunningProcessor> => {
  const [freeHttp, freeGrpc] = (await freePorts(2)) as [number, number]
  const httpPort = portFrom(options.env, "PROCESSOR_HTTP_PORT", freeHttp)
  const grpcPort = portFrom(options.env, "GRPC_SERVER_PORT", freeGrpc)
  const child = startProcess(
    options.entry ?? "processor",
    {
      ...baseEnv,
      GRPC_SERVER_HOST: "127.0.0.1",
      PROCESSOR_HTTP_PORT: String(httpPort),
      GRPC_SERVER_PORT: String(grpcPort),
      ...options.env,
    },
    { name: options.name ?? "processor" },
  )
  const httpUrl = `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${httpPort}`
  if (options.waitForHealthz ?? true) await waitUntilServing(child, httpUrl, grpcPort, options.tls)
  return Object.assign(child, { httpUrl, httpPort, grpcAddress: `127.0.0.1:${grpcPort}`, grpcPort })
}

export const startRequestor = async (options: StartOptions = {}): Promise<RunningRequestor> => {
  const [freeHttp, freeGrpc] = (await freePorts(2)) as [number, number]
  const httpPort = portFrom(options.env, "REQUESTOR_HTTP_PORT", freeHttp)
  const grpcPort = portFrom(options.env, "REQUESTOR_GRPC_PORT", freeGrpc)
  const child = startProcess(
    "requestor",
    {
      ...baseEnv,
      GRPC_SERVER_HOST: "127.0.0.1",
      REQUESTOR_HTTP_PORT: String(httpPort),
      REQUESTOR_GRPC_PORT: String(grpcPort),
      ...options.env,
    },
    { name: options.name ?? "requestor" },
  )
  const httpUrl = `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${httpPort}`
  if (options.waitForHealthz ?? true) await waitUntilServing(child, httpUrl, grpcPort, options.tls)
  return Object.assign(child, { httpUrl, httpPort, grpcAddress: `127.0.0.1:${grpcPort}`, grpcPort })
}
