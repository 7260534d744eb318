/**
 * The chaos suite's own Kafka and Redis (never the shared ones on 9092/6379): `infra/local/stack.sh`
 * with other ports and its own run directory (`test/chaos/.run`, git-ignored), so restarting them
 * disturbs no other test.
 *
 * Restarts stop the server through its pidfile in that run directory (never `stack.sh down`, which
 * with a missing variable would stop the shared stack) and start it again with `stack.sh up`.
 *
 * Redis runs with the settings every deployment uses (`infra/redis/redis.conf`, loaded by
 * stack.sh: AOF with `appendfsync always`, `noeviction`), untouched by this suite, and is
 * restarted with SIGKILL: an acknowledged write is on disk before Redis answers, so a crash loses
 * nothing acknowledged — the harsher of the two ways (a graceful SIGTERM restart would fsync the
 * AOF anyway and prove less).
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { homedir } from "node:os"
import { repoRoot } from "../support/processes.ts"

export const chaosServers = {
  kafkaPort: Number(process.env.CHAOS_KAFKA_PORT ?? 19392),
  kafkaControllerPort: Number(process.env.CHAOS_KAFKA_CONTROLLER_PORT ?? 19393),
  redisPort: Number(process.env.CHAOS_REDIS_PORT ?? 16399),
  runDir: process.env.CHAOS_RUN_DIR ?? `${repoRoot}test/chaos/.run`,
} as const

export const chaosKafka = `127.0.0.1:${chaosServers.kafkaPort}`
export const chaosBrokerUrl = `kafka://${chaosKafka}`
export const chaosRedisUrl = (db: number) => `redis://127.0.0.1:${chaosServers.redisPort}/${db}`

type Server = "kafka" | "redis"

const stackEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  // One broker, whatever KAFKA_BROKERS the shell exports (the 3-broker Kafka is below).
  KAFKA_BROKERS: "1",
  KAFKA_PORT: String(chaosServers.kafkaPort),
  KAFKA_CONTROLLER_PORT: String(chaosServers.kafkaControllerPort),
  REDIS_PORT: String(chaosServers.redisPort),
  DCENT_LOCAL_DIR: chaosServers.runDir,
})

const run = (file: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) =>
  new Promise<string>((resolve, reject) => {
    execFile(file, [...args], { env: env ?? process.env, cwd: repoRoot, timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const pidOf = (server: Server): number | undefined => {
  try {
    const pid = Number(readFileSync(`${chaosServers.runDir}/pids/${server}.pid`, "utf8").trim())
    process.kill(pid, 0)
    return pid
  } catch {
    return undefined
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts (idempotently) the chaos Kafka and/or Redis and waits until ready. */
export const chaosUp = async (servers: ReadonlyArray<Server> = ["kafka", "redis"]) => {
  await run("bash", ["infra/local/stack.sh", "up", ...servers], stackEnv())
}

/** Stops one chaos server by its pidfile (`signal`), waiting (bounded) until it has exited. */
export const chaosStop = async (server: Server, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 60_000) => {
  const pid = pidOf(server)
  if (pid === undefined) return
  process.kill(pid, signal)
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL")
    }
    await sleep(100)
  }
}

/** Stops, then starts again; resolves with how long stopping and starting (until ready) took. */
export const chaosRestart = async (server: Server, signal: NodeJS.Signals) => {
  const started = Date.now()
  await chaosStop(server, signal)
  const stopped = Date.now()
  await chaosUp([server])
  return { stopMs: stopped - started, startMs: Date.now() - stopped }
}

/** Stops both chaos servers (SIGTERM), and the replicated Kafka if it runs; their data stays in the run directory. */
export const chaosDown = async () => {
  await Promise.all([chaosStop("kafka"), chaosStop("redis"), replicatedKafkaDown(), chaosRedisClusterDown()])
}

// --- the replicated Kafka (kind `kafka-broker-kill`) -----------------------------------------------

/**
 * A 3-broker KRaft cluster of the chaos suite's own: `KAFKA_BROKERS=3 stack.sh up kafka` with
 * brokers on `CHAOS_KAFKA3_PORT` (19492), +2 and +4 (controllers on the next ports), its own run
 * directory, and a modest heap each (`CHAOS_KAFKA3_HEAP_OPTS`, -Xmx512m: -Xmx256m ran out of
 * heap at start-up on a fresh-clone run).
 * Topics get 3 replicas and `min.insync.replicas=2`.
 */
export const replicatedKafka = {
  brokers: 3,
  port: Number(process.env.CHAOS_KAFKA3_PORT ?? 19492),
  controllerPort: Number(process.env.CHAOS_KAFKA3_CONTROLLER_PORT ?? 19493),
  runDir: process.env.CHAOS_KAFKA3_RUN_DIR ?? `${chaosServers.runDir}/kafka3`,
  heapOpts: process.env.CHAOS_KAFKA3_HEAP_OPTS ?? "-Xms128m -Xmx512m",
  /** `min.insync.replicas` of its topics (the services' default for replication factor 3). */
  minInsync: 2,
} as const

/** Broker n (1-based) of the replicated Kafka: its stack.sh service name and its port. */
const replicatedNode = (node: number) => ({
  service: node === 1 ? "kafka" : `kafka-${node}`,
  port: replicatedKafka.port + 2 * (node - 1),
})
export const replicatedKafkaNodes = Array.from({ length: replicatedKafka.brokers }, (_, index) => index + 1)

/** `127.0.0.1:19492,127.0.0.1:19494,127.0.0.1:19496` (kcat `-b`). */
export const replicatedBootstrap = replicatedKafkaNodes
  .map((node) => `127.0.0.1:${replicatedNode(node).port}`)
  .join(",")
export const replicatedBrokerUrl = `kafka://${replicatedBootstrap}`

const replicatedEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  KAFKA_BROKERS: String(replicatedKafka.brokers),
  KAFKA_PORT: String(replicatedKafka.port),
  KAFKA_CONTROLLER_PORT: String(replicatedKafka.controllerPort),
  KAFKA_HEAP_OPTS: replicatedKafka.heapOpts,
  DCENT_LOCAL_DIR: replicatedKafka.runDir,
})

const replicatedPid = (node: number): number | undefined => {
  try {
    const pid = Number(
      readFileSync(`${replicatedKafka.runDir}/pids/${replicatedNode(node).service}.pid`, "utf8").trim(),
    )
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/** Starts (idempotently) the brokers given (default: all) and waits until each is ready. */
export const replicatedKafkaUp = async (nodes: ReadonlyArray<number> = replicatedKafkaNodes) => {
  await run(
    "bash",
    ["infra/local/stack.sh", "up", ...nodes.map((node) => replicatedNode(node).service)],
    replicatedEnv(),
  )
}

/** Sends `signal` to broker `node` and waits (bounded, then SIGKILL) until it has exited. */
const stopReplicatedNode = async (node: number, signal: NodeJS.Signals, timeoutMs = 60_000) => {
  const pid = replicatedPid(node)
  if (pid === undefined) return
  process.kill(pid, signal)
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) process.kill(pid, "SIGKILL")
    await sleep(100)
  }
}

/** `kill -9` of broker `node` (1-based); resolves once the process is gone. */
export const replicatedKafkaKill = (node: number) => stopReplicatedNode(node, "SIGKILL")

/** Stops every broker of the replicated Kafka at once (SIGTERM: the last alone would wait for a quorum). */
export const replicatedKafkaDown = async () => {
  await Promise.all(replicatedKafkaNodes.map((node) => stopReplicatedNode(node, "SIGTERM")))
}

export interface PartitionState {
  readonly topic: string
  readonly partition: number
  /** -1 while it has none. */
  readonly leader: number
  readonly replicas: ReadonlyArray<number>
  readonly isrs: ReadonlyArray<number>
}

const brokerList = (list: string) => (list === "" ? [] : list.split(",").map(Number))

/** Leader, replicas and in-sync replicas of every partition of `topics` (`kcat -L`). */
export const partitionStates = async (topics: ReadonlyArray<string>): Promise<Array<PartitionState>> => {
  const metadata = await run("kcat", [
    "-b",
    replicatedBootstrap,
    "-L",
    "-m",
    "5",
    ...topics.flatMap((topic) => ["-t", topic]),
  ])
  const states: Array<PartitionState> = []
  let topic = ""
  for (const line of metadata.split("\n")) {
    const header = /^\s*topic "([^"]+)"/.exec(line)
    if (header !== null) topic = header[1] as string
    const partition = /partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)/.exec(line)
    if (partition === null) continue
    states.push({
      topic,
      partition: Number(partition[1]),
      leader: Number(partition[2]),
      replicas: brokerList(partition[3] as string),
      isrs: brokerList(partition[4] as string),
    })
  }
  return states
}

const stateText = (state: PartitionState) =>
  `${state.topic}/${state.partition} leader ${state.leader} isr ${state.isrs.join(",")} of ${state.replicas.join(",")}`

/** Waits (bounded) until `check` holds for every partition of `topics`; resolves with how long that took. */
const waitForPartitions = async (
  topics: ReadonlyArray<string>,
  check: (state: PartitionState) => boolean,
  what: string,
  timeoutMs: number,
) => {
  const started = Date.now()
  let failing: Array<string> = []
  while (Date.now() - started < timeoutMs) {
    try {
      const states = await partitionStates(topics)
      failing = states.filter((state) => !check(state)).map(stateText)
      if (states.length > 0 && failing.length === 0) return Date.now() - started
    } catch (error) {
      failing = [String(error)]
    }
    await sleep(250)
  }
  throw new Error(`${what} not reached after ${timeoutMs} ms: ${failing.slice(0, 5).join("; ")}`)
}

/**
 * Waits (bounded) until no partition of `topics` depends on broker `node` any more: each has a
 * leader on another broker and at least `minInsync` in-sync replicas without it, so an
 * `acks=all` write succeeds while `node` is down. Resolves with how long the fail-over took.
 */
export const waitFailover = (topics: ReadonlyArray<string>, node: number, minInsync: number, timeoutMs = 60_000) =>
  waitForPartitions(
    topics,
    (state) =>
      state.leader !== -1 && state.leader !== node && !state.isrs.includes(node) && state.isrs.length >= minInsync,
    `fail-over away from broker ${node}`,
    timeoutMs,
  )

/** Waits (bounded) until every partition of `topics` has all its replicas in sync again. */
export const waitInSync = (topics: ReadonlyArray<string>, timeoutMs = 120_000) =>
  waitForPartitions(
    topics,
    (state) => state.leader !== -1 && state.isrs.length === state.replicas.length,
    "all replicas in sync",
    timeoutMs,
  )

export interface TopicReplication {
  readonly topic: string
  readonly replicationFactor: number
  /** The topic's own `min.insync.replicas` (absent: the broker's default). */
  readonly minInsyncReplicas?: number
}

/**
 * Replication factor and `min.insync.replicas` of `topics` on the replicated Kafka, as Kafka's
 * own `TopicCommand --describe` (from the jars stack.sh installed) reports them.
 */
export const topicReplication = async (topics: ReadonlyArray<string>): Promise<Array<TopicReplication>> => {
  const version = /<kafka\.version>([^<]+)</.exec(readFileSync(`${repoRoot}infra/local/kafka/pom.xml`, "utf8"))?.[1]
  const libs = `${process.env.DCENT_CACHE_DIR ?? `${homedir()}/.cache/dcent`}/kafka-${version}/libs/*`
  const output = await run("java", [
    `-Dlog4j2.configurationFile=${repoRoot}infra/local/kafka/log4j2-tools.properties`,
    "-cp",
    libs,
    "org.apache.kafka.tools.TopicCommand",
    "--bootstrap-server",
    replicatedBootstrap,
    "--describe",
    "--topic",
    topics.join("|"),
  ])
  return output
    .split("\n")
    .map((line) => /^Topic: (\S+)\s.*ReplicationFactor: (\d+)\s+Configs: (.*)$/.exec(line.trim()))
    .filter((match) => match !== null)
    .map((match) => {
      const minInsync = /(?:^|,)min\.insync\.replicas=(\d+)/.exec(match[3] as string)?.[1]
      return {
        topic: match[1] as string,
        replicationFactor: Number(match[2]),
        ...(minInsync === undefined ? {} : { minInsyncReplicas: Number(minInsync) }),
      }
    })
}

// --- the Redis Cluster (kind `redis-master-failover`) ----------------------------------------------

/**
 * A Redis Cluster of the chaos suite's own: `stack.sh redis-cluster-up` with 3 masters and a
 * replica each on `CHAOS_REDIS_CLUSTER_PORT` (7201) … +5 (cluster bus: +10000), in the chaos run directory, with the
 * project's redis.conf (AOF, `appendfsync always`) and a 2 s `cluster-node-timeout`.
 */
export const chaosRedisCluster = {
  port: Number(process.env.CHAOS_REDIS_CLUSTER_PORT ?? 7201),
  nodes: 6,
} as const

/** `REDIS_CLUSTER_NODES` of the services on the chaos Redis Cluster (the three first ports). */
export const chaosRedisClusterNodes = [0, 1, 2].map((index) => `127.0.0.1:${chaosRedisCluster.port + index}`).join(",")

const redisClusterEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  REDIS_CLUSTER_PORT: String(chaosRedisCluster.port),
  REDIS_CLUSTER_REPLICAS: "1",
  REDIS_CLUSTER_NODE_TIMEOUT: "2000",
  DCENT_LOCAL_DIR: chaosServers.runDir,
})

/**
 * Starts the chaos Redis Cluster (idempotent: also restarts a node that is down) and waits until it
 * is ok and every replica has synced with its master: a replica restarted a moment ago that never
 * completed its first sync refuses to take over (Redis counts its data as infinitely old), so the
 * next round's kill of its master would leave the slots without a server. `make chaos` (20 rounds)
 * hit it in round 4: master 7201's only replica was the node restarted at the end of round 3.
 */
export const chaosRedisClusterUp = async (timeoutMs = 30_000) => {
  await run("bash", ["infra/local/stack.sh", "redis-cluster-up"], redisClusterEnv())
  const deadline = Date.now() + timeoutMs
  const unsynced = async () => {
    const waiting: Array<number> = []
    for (const port of clusterPorts()) {
      const info = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "info", "replication"]).catch(
        () => "",
      )
      if (!info.includes("role:master") && !info.includes("master_link_status:up")) waiting.push(port)
    }
    return waiting
  }
  for (let waiting = await unsynced(); waiting.length > 0; waiting = await unsynced()) {
    if (Date.now() > deadline)
      throw new Error(`redis cluster: replicas ${waiting.join(", ")} not synced within ${timeoutMs} ms`)
    await sleep(100)
  }
}

/** Empties the chaos Redis Cluster (every master): a run starts with no orders of an earlier one. */
export const chaosRedisClusterFlush = async () => {
  for (const port of await chaosRedisClusterMasters()) {
    await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "flushall"])
  }
}

export const chaosRedisClusterDown = async () => {
  await run("bash", ["infra/local/stack.sh", "redis-cluster-down"], redisClusterEnv())
}

/** One line of `CLUSTER NODES`: the node's port, role and (masters) whether it serves slots. */
interface ClusterNodeLine {
  readonly id: string
  readonly port: number
  readonly master: boolean
  readonly failed: boolean
  readonly slots: boolean
}

const clusterNodes = async (askPort: number): Promise<Array<ClusterNodeLine>> => {
  const text = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(askPort), "cluster", "nodes"])
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [id, address, flags, , , , , , ...slots] = line.split(" ")
      return {
        id: id as string,
        port: Number((address as string).split(":")[1]?.split("@")[0]),
        master: (flags as string).includes("master"),
        failed: (flags as string).includes("fail"),
        slots: slots.length > 0,
      }
    })
}

const clusterPorts = () => Array.from({ length: chaosRedisCluster.nodes }, (_, index) => chaosRedisCluster.port + index)

/** The masters serving slots now, by port (asked of the first node that answers). */
export const chaosRedisClusterMasters = async (): Promise<Array<number>> => {
  for (const port of clusterPorts()) {
    try {
      const nodes = await clusterNodes(port)
      return nodes
        .filter((node) => node.master && node.slots && !node.failed)
        .map((node) => node.port)
        .sort((a, b) => a - b)
    } catch {}
  }
  throw new Error("no node of the chaos Redis Cluster answers")
}

/**
 * kill -9 of the master on `port`, then waits until another node (its replica, promoted) serves
 * its slots and every surviving node says `cluster_state:ok`; resolves with how long that took.
 */
export const chaosRedisClusterKillMaster = async (port: number, timeoutMs = 30_000): Promise<number> => {
  const pid = Number(readFileSync(`${chaosServers.runDir}/pids/redis-cluster-${port}.pid`, "utf8").trim())
  const killedAt = Date.now()
  process.kill(pid, "SIGKILL")
  while (alive(pid)) await sleep(20)
  const survivors = clusterPorts().filter((other) => other !== port)
  const deadline = killedAt + timeoutMs
  while (Date.now() < deadline) {
    try {
      const masters = await clusterNodes(survivors[0] as number)
      const serving = masters.filter((node) => node.master && node.slots && !node.failed)
      const states = await Promise.all(
        survivors.map((other) => run("redis-cli", ["-h", "127.0.0.1", "-p", String(other), "cluster", "info"])),
      )
      if (
        serving.length === 3 &&
        !serving.some((node) => node.port === port) &&
        states.every((info) => info.includes("cluster_state:ok"))
      ) {
        return Date.now() - killedAt
      }
    } catch {}
    await sleep(100)
  }
  throw new Error(`redis cluster: no replica took over from master ${port} within ${timeoutMs} ms`)
}
