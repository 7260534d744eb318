/**
 * What a scenario measures: the system (real processor and requestor processes, or services
 * already running, named by env) or the baseline (the bare server of `../baseline/server.ts`),
 * behind one shape so that the same load generator drives both.
 */
import { readFileSync } from "node:fs"
import { Redis as IORedis } from "ioredis"
import { parseAllDocuments } from "yaml"
import { startPrivateRedis } from "../../support/privateRedis.ts"
import { startProcess, waitForHttp } from "../../support/processes.ts"
import { kafkaUrl, servers } from "../../support/servers.ts"
import { type RunningProcessor, type RunningRequestor, startProcessor, startRequestor } from "../../support/services.ts"
import { stringEnv } from "./config.ts"

/**
 * The services' own settings found in the bench's environment (`HTTP_MAX_IN_FLIGHT=64 make
 * bench-overload`), passed to the services it starts: tuning is measured with the same suite.
 */
const serviceSettingsFromEnv = (): Record<string, string> => ({
  ...Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined &&
        /^(HTTP_MAX_|HTTP_MIN_IN_FLIGHT|HTTP_ADAPTIVE_LIMIT|HTTP_ACCEPTORS|HTTP_QUEUE_|GRPC_MAX_|SSE_MAX_|OVERLOAD_|KAFKA_LINGER_MS|OUTBOX_RELAYS|STREAM_|MAX_CONCURRENT_TASKS|DISPATCH_|FIND_MAX_SEL|LOG_LEVEL|RATE_LIMIT_|AUTH_)/.test(
          entry[0],
        ),
    ),
  ),
  // The services' V8 options (`BENCH_SERVICE_NODE_OPTIONS="--max-semi-space-size=16"`), apart
  // from the bench's own NODE_OPTIONS; by default the Kubernetes pods' (their heap size).
  NODE_OPTIONS: serviceNodeOptions(),
})

/** The services' NODE_OPTIONS: `BENCH_SERVICE_NODE_OPTIONS`, else the Kubernetes pods'. */
export const serviceNodeOptions = (): string => process.env.BENCH_SERVICE_NODE_OPTIONS ?? deployedNodeOptions()

/** NODE_OPTIONS of the requestor's pod in `infra/k8s/base` (the processor's is the same). */
const deployedNodeOptions = (): string => {
  const manifest = readFileSync(new URL("../../../infra/k8s/base/requestor.yaml", import.meta.url), "utf8")
  for (const document of parseAllDocuments(manifest)) {
    const object = document.toJS() as {
      kind?: string
      spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } }
    } | null
    if (object?.kind !== "Deployment") continue
    for (const container of object.spec?.template?.spec?.containers ?? []) {
      const value = container.env?.find((variable) => variable.name === "NODE_OPTIONS")?.value
      if (value !== undefined) return value
    }
  }
  return ""
}

export interface Target {
  /** `system`, `baseline`, `1+1`, `2+2`: names the rows of the delivery checks. */
  readonly name: string
  readonly processorUrls: ReadonlyArray<string>
  readonly requestorUrls: ReadonlyArray<string>
  /** `host:port` of `WatchOrder`. */
  readonly watchAddresses: ReadonlyArray<string>
  /** Topics carrying exactly one message per accepted proposal submission (key = OrderReqID). */
  readonly topics: ReadonlyArray<string>
  /** Processes to measure (`processor`, `requestor`, `baseline`); empty for services run elsewhere. */
  readonly pids: Readonly<Record<string, number>>
  /** The requestors' processes (their RSS is the fan-out figure). */
  readonly requestorPids: ReadonlyArray<number>
  readonly processorPids: ReadonlyArray<number>
  /** More than one processor or requestor: a topic is fed by several outbox relays. */
  readonly replicated: boolean
  /** The Redis the services use (for `INFO`), when known. */
  readonly redisUrl?: string
  readonly stop: () => Promise<void>
}

// --- Redis -------------------------------------------------------------------------------------

export interface BenchRedis {
  /** `redis://host:port` without a database. */
  readonly url: string
  /** A Redis of the bench's own: its `INFO` counts only the bench's services. */
  readonly private: boolean
  readonly close: () => Promise<void>
}

/**
 * A private `redis-server` on a free port (so `INFO` counters and memory are the services' alone
 * and no test's database is touched), unless `BENCH_REDIS_URL` names one to use instead. It runs
 * with the deployments' settings (`infra/redis/redis.conf`: every write fsynced), so the figures
 * are those of the durability users get.
 */
export const benchRedis = async (): Promise<BenchRedis> => {
  const given = stringEnv("BENCH_REDIS_URL")
  if (given !== undefined) return { url: given.replace(/\/\d+$/, ""), private: false, close: async () => {} }
  const redis = await startPrivateRedis({ deployed: true, maxmemory: "8gb" })
  return { url: redis.url, private: true, close: redis.close }
}

/**
 * Empties the scenario's databases of a private Redis (a fresh start: a requestor would resume the
 * live orders an earlier run left); a Redis named by `BENCH_REDIS_URL` is never flushed.
 */
export const flushDatabases = async (redis: BenchRedis, dbs: ReadonlyArray<number>): Promise<void> => {
  if (!redis.private) return
  for (const db of dbs) {
    const client = new IORedis(`${redis.url}/${db}`, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await client.connect()
      await client.flushdb()
    } finally {
      client.disconnect()
    }
  }
}

// --- the system --------------------------------------------------------------------------------

export interface SystemOptions {
  readonly name?: string
  readonly processors?: number
  readonly requestors?: number
  readonly redis: BenchRedis
  /** Databases of the processors and of the requestors (per scenario: they never share keys). */
  readonly processorDb: number
  readonly requestorDb: number
  readonly processorEnv?: Readonly<Record<string, string>>
  readonly requestorEnv?: Readonly<Record<string, string>>
}

/** The running services named by `REQUESTOR_URL`, `PROCESSOR_URL` and `REQUESTOR_GRPC`, if all are set. */
export const externalSystem = (): Target | undefined => {
  const requestorUrl = stringEnv("REQUESTOR_URL")
  const processorUrl = stringEnv("PROCESSOR_URL")
  const watchAddress = stringEnv("REQUESTOR_GRPC")
  if (requestorUrl === undefined || processorUrl === undefined || watchAddress === undefined) return undefined
  const pid = (name: string) => {
    const value = Number(stringEnv(name))
    return Number.isInteger(value) && value > 0 ? value : undefined
  }
  const processorPid = pid("BENCH_PROCESSOR_PID")
  const requestorPid = pid("BENCH_REQUESTOR_PID")
  return {
    name: "system",
    processorUrls: [processorUrl],
    requestorUrls: [requestorUrl],
    watchAddresses: [watchAddress],
    topics: ["BUYER_NOTIFY", "SELLER_ACKNOWLEDGEMENTS"],
    pids: {
      ...(processorPid === undefined ? {} : { processor: processorPid }),
      ...(requestorPid === undefined ? {} : { requestor: requestorPid }),
    },
    requestorPids: requestorPid === undefined ? [] : [requestorPid],
    processorPids: processorPid === undefined ? [] : [processorPid],
    replicated: false,
    redisUrl: stringEnv("BENCH_REDIS_URL") ?? `redis://${servers.redis.host}:${servers.redis.port}`,
    stop: async () => {},
  }
}

const ready = (service: RunningProcessor | RunningRequestor) =>
  waitForHttp(`${service.httpUrl}/readyz`, { process: service, status: 200, timeoutMs: 60_000 })

/**
 * Processors, then requestors whose `PROCESSOR_GRPC_URL` names every processor, as real
 * processes on free ports (`LOG_LEVEL=warning`), all ready. The processors share one Redis
 * database and the requestors another, as replicas do.
 */
export const startSystem = async (options: SystemOptions): Promise<Target> => {
  await flushDatabases(options.redis, [options.processorDb, options.requestorDb])
  const passed = serviceSettingsFromEnv()
  const processors: Array<RunningProcessor> = []
  const requestors: Array<RunningRequestor> = []
  const stop = async () => {
    await Promise.allSettled(requestors.map((service) => service.stop()))
    await Promise.allSettled(processors.map((service) => service.stop()))
  }
  try {
    for (let index = 0; index < (options.processors ?? 1); index += 1) {
      const processor = await startProcessor({
        name: `processor${index + 1}`,
        env: {
          BROKER_URL: kafkaUrl,
          REDIS_URL: `${options.redis.url}/${options.processorDb}`,
          LOG_LEVEL: "warning",
          ...passed,
          ...options.processorEnv,
        },
      })
      processors.push(processor)
      await ready(processor)
    }
    for (let index = 0; index < (options.requestors ?? 1); index += 1) {
      const requestor = await startRequestor({
        name: `requestor${index + 1}`,
        env: {
          BROKER_URL: kafkaUrl,
          REDIS_URL: `${options.redis.url}/${options.requestorDb}`,
          PROCESSOR_GRPC_URL: processors.map((processor) => processor.grpcAddress).join(","),
          LOG_LEVEL: "warning",
          ...passed,
          ...options.requestorEnv,
        },
      })
      requestors.push(requestor)
      await ready(requestor)
    }
  } catch (error) {
    await stop()
    throw error
  }
  const numbered = (kind: string, list: ReadonlyArray<{ pid: number }>) =>
    Object.fromEntries(list.map((service, index) => [list.length === 1 ? kind : `${kind}${index + 1}`, service.pid]))
  return {
    name: options.name ?? "system",
    processorUrls: processors.map((service) => service.httpUrl),
    requestorUrls: requestors.map((service) => service.httpUrl),
    watchAddresses: requestors.map((service) => service.grpcAddress),
    topics: ["BUYER_NOTIFY", "SELLER_ACKNOWLEDGEMENTS"],
    pids: { ...numbered("processor", processors), ...numbered("requestor", requestors) },
    requestorPids: requestors.map((service) => service.pid),
    processorPids: processors.map((service) => service.pid),
    replicated: processors.length > 1 || requestors.length > 1,
    redisUrl: options.redis.url,
    stop,
  }
}

// --- the baseline ------------------------------------------------------------------------------

/** The topic the baseline's bare producer writes to (created by the baseline at start). */
export const baselineTopic = "BENCH_BASELINE"

/**
 * The bare server (`../baseline/server.ts`) as a process of its own, like a service: REST and
 * SSE on `node:http`, `WatchOrder` on nice-grpc, one bare Kafka producer for the topic figure.
 */
export const startBaseline = async (
  options: { readonly kafka?: boolean; readonly env?: Readonly<Record<string, string>> } = {},
): Promise<Target> => {
  const script = new URL("../baseline/server.ts", import.meta.url).pathname
  const child = startProcess(
    script,
    {
      BASELINE_KAFKA: options.kafka === false ? "" : `${servers.kafka.host}:${servers.kafka.port}`,
      BASELINE_TOPIC: baselineTopic,
      ...options.env,
    },
    { name: "baseline" },
  )
  const deadline = Date.now() + 30_000
  let ports: { http: number; grpc: number } | undefined
  while (ports === undefined) {
    const match = /listening http=(\d+) grpc=(\d+)/.exec(child.stdout())
    if (match !== null) ports = { http: Number(match[1]), grpc: Number(match[2]) }
    else if (child.hasExited() || Date.now() > deadline) {
      await child.stop()
      throw new Error(`the baseline server did not start\n${child.output()}`)
    } else await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const httpUrl = `http://127.0.0.1:${ports.http}`
  return {
    name: "baseline",
    processorUrls: [httpUrl],
    requestorUrls: [httpUrl],
    watchAddresses: [`127.0.0.1:${ports.grpc}`],
    topics: options.kafka === false ? [] : [baselineTopic],
    pids: { baseline: child.pid },
    requestorPids: [child.pid],
    processorPids: [child.pid],
    replicated: false,
    stop: async () => {
      await child.stop()
    },
  }
}
