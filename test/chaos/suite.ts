/**
 * One chaos run: the cluster on the chaos Kafka/Redis, sellers registered, the steady workload,
 * then `rounds` rounds of every fault kind in rotation (one at a time, `settleMs` apart), then
 * the workload stops, every observer finishes, and the logs and topics are read back and counted
 * (`./analysis.ts`). Bounded: injecting stops after `maxMinutes` even if rounds remain.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { http, sleep, uniqueId } from "../support/e2e.ts"
import { type Analysis, analyse, formatTable, type OrderTruth, percentile } from "./analysis.ts"
import { startCluster } from "./cluster.ts"
import {
  type FaultKind,
  faultDescriptions,
  faultKinds,
  type Injection,
  inject,
  needsRedisCluster,
  needsReplicatedKafka,
} from "./faults.ts"
import {
  chaosBrokerUrl,
  chaosKafka,
  chaosRedisClusterDown,
  chaosRedisClusterFlush,
  chaosRedisClusterNodes,
  chaosRedisClusterUp,
  chaosRedisUrl,
  chaosUp,
  replicatedBootstrap,
  replicatedBrokerUrl,
  replicatedKafka,
  replicatedKafkaDown,
  replicatedKafkaUp,
  type TopicReplication,
  topicReplication,
} from "./infra.ts"
import { allTopics, outboxesEmptied, processorLastSeq, readAllTopics, readOrderLog } from "./truth.ts"
import { startWorkload } from "./workload.ts"

export interface ChaosOptions {
  readonly rounds: number
  readonly kinds: ReadonlyArray<FaultKind>
  /**
   * `single` (default): the chaos broker; `replicated`: the services on the 3-broker Kafka
   * (replication factor 3, `min.insync.replicas=2`), which the run starts and stops. The kinds of
   * `replicatedKafkaKinds` need `replicated`; the others run on `single`.
   */
  readonly kafka?: "single" | "replicated"
  /**
   * `single` (default): the chaos Redis; `cluster`: the services on the chaos Redis Cluster (3
   * masters + a replica each, `REDIS_CLUSTER_NODES`), which the run starts (emptied) and stops.
   * The kinds of `redisClusterKinds` need `cluster`; the others run on `single`.
   */
  readonly redis?: "single" | "cluster"
  readonly lanes: number
  /** Quiet time after each fault before the next. */
  readonly settleMs: number
  /** Workload before the first fault (the baseline). */
  readonly warmupMs: number
  readonly faultMs: number
  readonly delayMs: number
  readonly slowPauseMs: number
  readonly maxMinutes: number
  readonly resultsFile?: string
  readonly log?: (line: string) => void
}

export interface ChaosResult {
  readonly analysis: Analysis
  readonly table: string
  readonly injections: ReadonlyArray<Injection>
  readonly json: Record<string, unknown>
  /** lost + dup/ooo + missing from topics (the run passes when 0). */
  readonly violations: number
  /** The replicated Kafka's topics as the services created them (`kafka: "replicated"` only). */
  readonly topicReplication?: ReadonlyArray<TopicReplication>
}

const envNumber = (name: string, fallback: number) => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

/** Options from the environment (`CHAOS_ROUNDS`, `CHAOS_LANES`, …) over `defaults`. */
export const optionsFromEnv = (defaults: Partial<ChaosOptions> = {}): ChaosOptions => {
  const kinds = (process.env.CHAOS_KINDS ?? "")
    .split(",")
    .map((kind) => kind.trim())
    .filter((kind): kind is FaultKind => (faultKinds as ReadonlyArray<string>).includes(kind))
  return {
    rounds: envNumber("CHAOS_ROUNDS", defaults.rounds ?? 20),
    kinds: kinds.length > 0 ? kinds : (defaults.kinds ?? faultKinds),
    lanes: envNumber("CHAOS_LANES", defaults.lanes ?? 4),
    settleMs: envNumber("CHAOS_SETTLE_MS", defaults.settleMs ?? 2_000),
    warmupMs: envNumber("CHAOS_WARMUP_MS", defaults.warmupMs ?? 5_000),
    faultMs: envNumber("CHAOS_FAULT_MS", defaults.faultMs ?? 3_000),
    delayMs: envNumber("CHAOS_DELAY_MS", defaults.delayMs ?? 300),
    slowPauseMs: envNumber("CHAOS_SLOW_PAUSE_MS", defaults.slowPauseMs ?? 1_000),
    maxMinutes: envNumber("CHAOS_MAX_MINUTES", defaults.maxMinutes ?? 45),
    ...(defaults.kafka === undefined ? {} : { kafka: defaults.kafka }),
    ...(defaults.resultsFile === undefined ? {} : { resultsFile: defaults.resultsFile }),
    ...(defaults.log === undefined ? {} : { log: defaults.log }),
  }
}

const origin = { Lat: 12.9716, Lng: 77.5946 }

/** `<run>-O<n>` with an even n. */
const isEvenOrder = (orderReqId: string) => Number(orderReqId.slice(orderReqId.lastIndexOf("-O") + 2)) % 2 === 0

export const runChaos = async (options: ChaosOptions): Promise<ChaosResult> => {
  const log = options.log ?? ((line: string) => console.log(`[chaos] ${line}`))
  const startedAt = Date.now()
  const runId = uniqueId("CH")
  const industry = `Chaos Supplies ${runId}`
  const replicated = options.kafka === "replicated"
  const misplaced = options.kinds.filter((kind) => needsReplicatedKafka(kind) !== replicated)
  if (misplaced.length > 0) {
    throw new Error(
      `fault kinds ${misplaced.join(", ")} do not run on the ${replicated ? "replicated" : "single"} Kafka`,
    )
  }
  const onCluster = options.redis === "cluster"
  const misplacedRedis = options.kinds.filter((kind) => needsRedisCluster(kind) !== onCluster)
  if (misplacedRedis.length > 0) {
    throw new Error(
      `fault kinds ${misplacedRedis.join(", ")} do not run on the ${onCluster ? "cluster" : "single"} Redis`,
    )
  }
  const infraStarted = Date.now()
  const bootstrap = replicated ? replicatedBootstrap : chaosKafka
  if (replicated) {
    await Promise.all([chaosUp(["redis"]), replicatedKafkaUp()])
  } else if (onCluster) {
    await Promise.all([chaosUp(["kafka"]), chaosRedisClusterUp().then(chaosRedisClusterFlush)])
  } else {
    await chaosUp()
  }
  log(`chaos Kafka ${bootstrap} and Redis ready (${Date.now() - infraStarted} ms)`)
  try {
    return await runOnInfrastructure(options, log, { startedAt, runId, industry, bootstrap, replicated, onCluster })
  } finally {
    if (replicated && process.env.CHAOS_KEEP_INFRA !== "1") await replicatedKafkaDown()
    if (onCluster && process.env.CHAOS_KEEP_INFRA !== "1") await chaosRedisClusterDown()
  }
}

const runOnInfrastructure = async (
  options: ChaosOptions,
  log: (line: string) => void,
  run: {
    readonly startedAt: number
    readonly runId: string
    readonly industry: string
    readonly bootstrap: string
    readonly replicated: boolean
    readonly onCluster: boolean
  },
): Promise<ChaosResult> => {
  const { startedAt, runId, industry, bootstrap, replicated, onCluster } = run
  // On the replicated Kafka, the services create replicated topics and use Redis databases of
  // their own (not those of a single-broker run before).
  const cluster = await startCluster(
    replicated
      ? {
          processorEnv: {
            BROKER_URL: replicatedBrokerUrl,
            KAFKA_REPLICATION_FACTOR: String(replicatedKafka.brokers),
            REDIS_URL: chaosRedisUrl(3),
          },
          requestorEnv: {
            BROKER_URL: replicatedBrokerUrl,
            KAFKA_REPLICATION_FACTOR: String(replicatedKafka.brokers),
            REDIS_URL: chaosRedisUrl(4),
          },
        }
      : onCluster
        ? {
            // Both services on the cluster (one keyspace: their key prefixes keep them apart).
            processorEnv: { BROKER_URL: chaosBrokerUrl, REDIS_CLUSTER_NODES: chaosRedisClusterNodes },
            requestorEnv: { BROKER_URL: chaosBrokerUrl, REDIS_CLUSTER_NODES: chaosRedisClusterNodes },
          }
        : { processorEnv: { BROKER_URL: chaosBrokerUrl }, requestorEnv: { BROKER_URL: chaosBrokerUrl } },
  )
  log(`2 processors + 2 requestors ready (${cluster.processorAddressing} processor addressing)`)
  const replication = replicated ? await topicReplication(allTopics) : undefined
  if (replication !== undefined) {
    log(
      `topics: ${replication.map((topic) => `${topic.topic} replicas ${topic.replicationFactor} min.insync.replicas ${topic.minInsyncReplicas ?? "-"}`).join(", ")}`,
    )
  }
  let slowPause = 0
  const injections: Array<Injection> = []
  try {
    const sellers = Array.from({ length: 4 }, (_, index) => ({
      SellerID: `${runId}-S${index}`,
      Name: `Chaos seller ${index}`,
      Industries: [industry],
      Location: { Lat: origin.Lat + 0.01 * (index + 1), Lng: origin.Lng },
      Active: true,
      Email: `s${index}@chaos.example`,
    }))
    const registered = await http("POST", `${cluster.processors[0]?.httpUrl}/api/v1/sellers`, sellers)
    if (registered.status !== 201 && registered.status !== 200) {
      throw new Error(`seller registration answered ${registered.status}: ${registered.text}`)
    }

    const workload = startWorkload(cluster, {
      runId,
      lanes: options.lanes,
      industry,
      origin,
      stepPauseMs: 150,
      requestDeadlineMs: 90_000,
      // The slow consumers: the observers of every other order (the rest keep full speed).
      observer: { pauseAfterEventMs: (orderReqId) => (slowPause > 0 && isEvenOrder(orderReqId) ? slowPause : 0) },
    })
    const workloadStartedAt = Date.now()
    await sleep(options.warmupMs)

    const deadline = startedAt + options.maxMinutes * 60_000
    rounds: for (let round = 0; round < options.rounds; round++) {
      for (const kind of options.kinds) {
        if (Date.now() > deadline) {
          log(`time budget of ${options.maxMinutes} min reached: no more injections`)
          break rounds
        }
        const injection = await inject(
          {
            cluster,
            settings: { faultMs: options.faultMs, delayMs: options.delayMs, slowPauseMs: options.slowPauseMs },
            setSlowPause: (ms) => {
              slowPause = ms
            },
          },
          kind,
          round,
        )
        injections.push(injection)
        log(
          `round ${round + 1}/${options.rounds} ${kind} (${injection.target}): over after ${injection.healedAt - injection.injectedAt} ms; orders ${workload.orders.length}, acknowledged ${workload.acknowledged.length}`,
        )
        await sleep(options.settleMs)
      }
    }

    log("faults done; letting the orders in flight finish")
    await workload.stop(120_000)
    const observersDone = Promise.all(workload.orders.map((run) => run.observer.done))
    await Promise.race([observersDone, sleep(30_000)])
    for (const run of workload.orders) run.observer.stop()
    const workloadEndedAt = Date.now()

    log(`reading back ${workload.orders.length} orders and the topics`)
    const truths: Array<OrderTruth> = []
    const processorUrls = cluster.processors.map((slot) => slot.httpUrl)
    const requestorAddress = cluster.requestors[0]?.grpcAddress as string
    // Eight orders at a time: each read ends only after its stream has been idle a while, and
    // the orders are independent, so reading them one after the other only adds up those waits.
    const readBack = async (run: (typeof workload.orders)[number]): Promise<OrderTruth> => ({
      run,
      processorLastSeq: await processorLastSeq(processorUrls, run.orderReqId),
      requestorLog: await readOrderLog(requestorAddress, run.orderReqId, run.observer.finalised ? 1_500 : 500),
    })
    const queue = [...workload.orders.entries()]
    const slots: Array<OrderTruth | undefined> = workload.orders.map(() => undefined)
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          slots[next[0]] = await readBack(next[1])
        }
      }),
    )
    for (const truth of slots) if (truth !== undefined) truths.push(truth)
    // Let the outbox relays publish what they still hold, then read every topic.
    const outboxes = await outboxesEmptied(
      [cluster.processors[0]?.httpUrl, cluster.requestors[0]?.httpUrl].filter(
        (url): url is string => url !== undefined,
      ),
    )
    log(
      Object.values(outboxes.left).every((pending) => pending === 0)
        ? `outboxes empty ${outboxes.afterMs} ms after the read-back`
        : `outboxes NOT empty after ${outboxes.afterMs} ms: ${JSON.stringify(outboxes.left)}`,
    )
    const keys = new Set(workload.orders.map((run) => run.orderReqId))
    const messages = await readAllTopics(bootstrap, keys, workloadStartedAt - 5_000)
    const analysis = analyse(injections, truths, workload.acknowledged, messages)
    const table = formatTable(analysis)
    const violations = analysis.total.lost + analysis.total.duplicatedOrOutOfOrder + analysis.total.missingFromTopics
    const stuck = workload.orders.filter((run) => run.stuck !== undefined)
    const json = {
      runId,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
      workloadMs: workloadEndedAt - workloadStartedAt,
      options: { ...options, log: undefined },
      kafka: replicated ? `${replicatedKafka.brokers} brokers (${bootstrap})` : `1 broker (${bootstrap})`,
      redis: onCluster ? `cluster of 3 masters + 3 replicas (${chaosRedisClusterNodes})` : "1 node",
      topicReplication: replication,
      processorAddressing: cluster.processorAddressing,
      faults: faultDescriptions,
      orders: workload.orders.length,
      ordersFinalisedAtObserver: workload.orders.filter((run) => run.observer.finalised).length,
      stuckOrders: stuck.map((run) => ({ order: run.orderReqId, why: run.stuck })),
      requestRetries: workload.retries,
      workloadErrors: workload.errors.slice(0, 100),
      failedAttempts: workload.failedAttempts,
      topicMessages: messages.length,
      outboxes,
      observerReconnects: workload.orders.reduce((sum, run) => sum + run.observer.reconnects, 0),
      rows: [...analysis.rows, analysis.total].map((row) => ({
        ...row,
        recoveryP50Ms: percentile(row.recoveryMs, 50),
        recoveryMaxMs: row.recoveryMs.length === 0 ? undefined : Math.max(...row.recoveryMs),
        outageP50Ms: percentile(row.outageMs, 50),
        outageMaxMs: row.outageMs.length === 0 ? undefined : Math.max(...row.outageMs),
      })),
      injections: analysis.injections,
      violations,
      findings: analysis.findings,
    }
    if (options.resultsFile !== undefined) {
      mkdirSync(dirname(options.resultsFile), { recursive: true })
      writeFileSync(options.resultsFile, `${JSON.stringify(json, null, 2)}\n`)
      // The services' own output (warnings and errors), for explaining a finding.
      writeFileSync(options.resultsFile.replace(/\.json$/, ".services.log"), cluster.output())
    }
    log(
      `${workload.orders.length} orders (${stuck.length} stuck), ${workload.acknowledged.length} acknowledged events, ${messages.length} topic messages, ${workload.retries} request retries`,
    )
    return {
      analysis,
      table,
      injections,
      json,
      violations,
      ...(replication === undefined ? {} : { topicReplication: replication }),
    }
  } finally {
    await cluster.stop()
  }
}
