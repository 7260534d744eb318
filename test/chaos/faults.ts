/**
 * The faults, injected one at a time. Each resolves when the fault is over (`healedAt`): the
 * killed process is ready again, the restarted server answers, the link is healed.
 */
import { sleep } from "../support/e2e.ts"
import type { Cluster } from "./cluster.ts"
import {
  chaosRedisClusterKillMaster,
  chaosRedisClusterMasters,
  chaosRedisClusterUp,
  chaosRestart,
  partitionStates,
  replicatedKafka,
  replicatedKafkaKill,
  replicatedKafkaNodes,
  replicatedKafkaUp,
  waitFailover,
  waitInSync,
} from "./infra.ts"
import { allTopics } from "./truth.ts"

export const faultKinds = [
  "processor-kill",
  "requestor-kill",
  "kafka-restart",
  "redis-restart",
  "link-delay",
  "link-cut",
  "link-reset",
  "slow-consumer",
  "kafka-broker-kill",
  "redis-master-failover",
] as const
export type FaultKind = (typeof faultKinds)[number]

/**
 * Kinds that need the replicated Kafka (3 brokers, `./infra.ts`): a run of them has the services
 * on that cluster (replication factor 3, `min.insync.replicas=2`), apart from the other kinds,
 * which run on the single chaos broker.
 */
export const replicatedKafkaKinds: ReadonlyArray<FaultKind> = ["kafka-broker-kill"]
export const needsReplicatedKafka = (kind: FaultKind) => replicatedKafkaKinds.includes(kind)

/**
 * Kinds that need the Redis Cluster (3 masters + a replica each, `./infra.ts`): a run of them has
 * the services on that cluster (`REDIS_CLUSTER_NODES`) and the single chaos broker.
 */
export const redisClusterKinds: ReadonlyArray<FaultKind> = ["redis-master-failover"]
export const needsRedisCluster = (kind: FaultKind) => redisClusterKinds.includes(kind)

export const faultDescriptions: Record<FaultKind, string> = {
  "processor-kill": "kill -9 of a processor mid-stream, then started again on its ports",
  "requestor-kill": "kill -9 of a requestor mid-stream, then started again on its ports",
  "kafka-restart": "Kafka broker stopped (SIGTERM, controlled shutdown) and started again",
  "redis-restart": "Redis killed (SIGKILL; AOF, appendfsync always) and started again",
  "link-delay": "requestor↔processor link: every chunk held CHAOS_DELAY_MS (both ways) for CHAOS_FAULT_MS",
  "link-cut": "requestor↔processor link blackholed for CHAOS_FAULT_MS (new connections refused), then reset",
  "link-reset": "requestor↔processor link: every open connection reset (RST)",
  "slow-consumer":
    "the WatchOrder observers of every other order pause CHAOS_SLOW_PAUSE_MS after each event for CHAOS_FAULT_MS",
  "kafka-broker-kill":
    "3-broker Kafka: kill -9 of one broker (in turn), down for CHAOS_FAULT_MS, started again; over once every partition is back in sync",
  "redis-master-failover":
    "Redis Cluster (3 masters + replicas): kill -9 of one master (in turn), its replica promoted; the old master started again after CHAOS_FAULT_MS rejoins as a replica",
}

export interface Injection {
  readonly kind: FaultKind
  readonly round: number
  /** What was hit (for restarts, with the stop and start times). */
  target: string
  readonly injectedAt: number
  healedAt: number
  /**
   * `kafka-broker-kill`: how long after the kill every partition had a leader on another broker
   * and `min.insync.replicas` in-sync replicas without the dead one (writes go on), with the
   * replicas per partition seen then; absent when that did not happen.
   */
  failover?: { readonly afterMs: number; readonly replicas: number; readonly minInsync: number }
  /** `redis-master-failover`: how long after the kill a replica served the dead master's slots. */
  promotedAfterMs?: number
}

export interface FaultSettings {
  /** Length of the timed faults (delay, cut, slow consumer). */
  readonly faultMs: number
  /** Added latency per chunk in `link-delay`. */
  readonly delayMs: number
  /** Pause after each event in `slow-consumer`. */
  readonly slowPauseMs: number
}

export interface FaultContext {
  readonly cluster: Cluster
  readonly settings: FaultSettings
  /** Turns the slow-consumer mode on (pause ms) or off (0). */
  readonly setSlowPause: (ms: number) => void
}

/** Injects one fault of `kind` and waits until it is over. */
export const inject = async (context: FaultContext, kind: FaultKind, round: number): Promise<Injection> => {
  const { cluster, settings } = context
  const which = round % 2
  const injection = (target: string): Injection => ({ kind, round, target, injectedAt: Date.now(), healedAt: 0 })
  let current: Injection
  switch (kind) {
    case "processor-kill": {
      current = injection(cluster.processors[which]?.name ?? "")
      await cluster.restartProcessor(which, "SIGKILL")
      break
    }
    case "requestor-kill": {
      current = injection(cluster.requestors[which]?.name ?? "")
      await cluster.restartRequestor(which, "SIGKILL")
      break
    }
    case "kafka-restart": {
      current = injection("kafka")
      const { stopMs, startMs } = await chaosRestart("kafka", "SIGTERM")
      current.target = `kafka (stop ${stopMs} ms, start ${startMs} ms)`
      break
    }
    case "redis-restart": {
      current = injection("redis")
      const { stopMs, startMs } = await chaosRestart("redis", "SIGKILL")
      current.target = `redis (stop ${stopMs} ms, start ${startMs} ms)`
      break
    }
    case "link-delay": {
      current = injection(`both proxies +${settings.delayMs} ms`)
      for (const proxy of cluster.proxies) proxy.delay(settings.delayMs)
      await sleep(settings.faultMs)
      for (const proxy of cluster.proxies) proxy.heal()
      break
    }
    case "link-cut": {
      current = injection(`both proxies ${settings.faultMs} ms`)
      await Promise.all(cluster.proxies.map((proxy) => proxy.cut(settings.faultMs)))
      break
    }
    case "link-reset": {
      current = injection("both proxies")
      for (const proxy of cluster.proxies) proxy.reset()
      break
    }
    case "kafka-broker-kill": {
      const node = replicatedKafkaNodes[round % replicatedKafkaNodes.length] as number
      current = injection(`broker ${node}`)
      await replicatedKafkaKill(node)
      const killedAt = Date.now()
      let failover = "no fail-over"
      try {
        const afterMs = await waitFailover(allTopics, node, replicatedKafka.minInsync)
        const states = await partitionStates(allTopics)
        current.failover = {
          afterMs,
          replicas: Math.min(...states.map((state) => state.replicas.length)),
          minInsync: replicatedKafka.minInsync,
        }
        failover = `leaders moved in ${afterMs} ms`
        // The cluster runs on two brokers for a while.
        await sleep(settings.faultMs)
      } finally {
        await replicatedKafkaUp([node])
      }
      const startedAt = Date.now()
      const syncMs = await waitInSync(allTopics)
      current.target = `broker ${node} (${failover}, down ${startedAt - killedAt} ms until ready again, in sync ${syncMs} ms later)`
      break
    }
    case "redis-master-failover": {
      const masters = await chaosRedisClusterMasters()
      const port = masters[round % masters.length] as number
      current = injection(`master ${port}`)
      const promotedAfterMs = await chaosRedisClusterKillMaster(port)
      current.promotedAfterMs = promotedAfterMs
      // The cluster runs on the promoted replica (no replica of its own) for a while.
      await sleep(settings.faultMs)
      const restartedAt = Date.now()
      await chaosRedisClusterUp()
      current.target = `master ${port} (replica promoted in ${promotedAfterMs} ms; rejoined as a replica in ${Date.now() - restartedAt} ms)`
      break
    }
    case "slow-consumer": {
      current = injection(`half the observers +${settings.slowPauseMs} ms/event`)
      context.setSlowPause(settings.slowPauseMs)
      await sleep(settings.faultMs)
      context.setSlowPause(0)
      break
    }
  }
  current.healedAt = Date.now()
  return current
}
