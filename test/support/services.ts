/**
 * Starting the two services as real processes on free ports, against the real servers of
 * `infra/local/stack.sh` (override anything through `env`).
 */
import { freePorts } from "./ports.ts"
import { type ServiceProcess, startProcess, waitForHttp } from "./processes.ts"
import { kafkaUrl, redisUrl } from "./servers.ts"

export interface RunningService extends ServiceProcess {
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string
  readonly httpPort: number
}

export interface RunningProcessor extends RunningService {
  /** `127.0.0.1:<port>`, for nice-grpc `createChannel` */
  readonly grpcAddress: string
  readonly grpcPort: number
}

export interface StartOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Wait until `/healthz` answers 200 (default true). */
  readonly waitForHealthz?: boolean
  readonly name?: string
}

const baseEnv = { BROKER_URL: kafkaUrl, REDIS_URL: redisUrl, HTTP_HOST: "127.0.0.1", LOG_LEVEL: "info" }

export const startProcessor = async (options: StartOptions = {}): Promise<RunningProcessor> => {
  const [httpPort, grpcPort] = (await freePorts(2)) as [number, number]
  const child = startProcess(
    "processor",
    {
      ...baseEnv,
      GRPC_SERVER_HOST: "127.0.0.1",
      PROCESSOR_HTTP_PORT: String(httpPort),
      GRPC_SERVER_PORT: String(grpcPort),
      ...options.env,
    },
    { name: options.name ?? "processor" },
  )
  const httpUrl = `http://127.0.0.1:${httpPort}`
  if (options.waitForHealthz ?? true) await waitForHttp(`${httpUrl}/healthz`, { process: child, status: 200 })
  return Object.assign(child, { httpUrl, httpPort, grpcAddress: `127.0.0.1:${grpcPort}`, grpcPort })
}

export const startRequestor = async (options: StartOptions = {}): Promise<RunningService> => {
  const [httpPort] = (await freePorts(1)) as [number]
  const child = startProcess(
    "requestor",
    { ...baseEnv, REQUESTOR_HTTP_PORT: String(httpPort), ...options.env },
    { name: options.name ?? "requestor" },
  )
  const httpUrl = `http://127.0.0.1:${httpPort}`
  if (options.waitForHealthz ?? true) await waitForHttp(`${httpUrl}/healthz`, { process: child, status: 200 })
  return Object.assign(child, { httpUrl, httpPort })
}
