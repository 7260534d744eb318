/**
 * The short form of `make chaos`, run by `make test`: two processors and two requestors on the
 * chaos Kafka/Redis, a steady workload, and 2 injections of every fault kind (`CHAOS_TEST_ROUNDS`)
 * — then every count that must be zero is zero. The table is printed and written to
 * `test/chaos/.results/short.json`. The kinds that need the replicated Kafka (a broker killed
 * with `kill -9`) run apart, on the 3-broker cluster (`short-kafka3.json`), `CHAOS_TEST_KAFKA3_ROUNDS`
 * (1) times; the Redis Cluster kind (a master killed, its replica promoted) on the chaos Redis
 * Cluster (`short-redis-cluster.json`), `CHAOS_TEST_REDIS_CLUSTER_ROUNDS` (1) times.
 */
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/processes.ts"
import {
  faultKinds,
  needsRedisCluster,
  needsReplicatedKafka,
  redisClusterKinds,
  replicatedKafkaKinds,
} from "./faults.ts"
import { type ChaosOptions, optionsFromEnv, runChaos } from "./suite.ts"
import { allTopics } from "./truth.ts"

const rounds = Number(process.env.CHAOS_TEST_ROUNDS ?? 2)
/** Broker kills on the 3-broker Kafka (`CHAOS_TEST_KAFKA3_ROUNDS`, 1: each costs about 30 s on 2 cores; 0 leaves that run out). */
const kafka3Rounds = Number(process.env.CHAOS_TEST_KAFKA3_ROUNDS ?? 1)
/** Master fail-overs on the Redis Cluster (`CHAOS_TEST_REDIS_CLUSTER_ROUNDS`, 1; 0 leaves that run out). */
const redisClusterRounds = Number(process.env.CHAOS_TEST_REDIS_CLUSTER_ROUNDS ?? 1)

const runShort = async (options: Partial<ChaosOptions> & { readonly rounds: number }) => {
  const result = await runChaos({
    ...optionsFromEnv({
      lanes: 3,
      warmupMs: 3_000,
      // Short faults and pauses: the form asserts counts (nothing lost, duplicated or missing),
      // which a 2 s cut or delay tests as well as a 3 s one; `make chaos` keeps the long ones.
      settleMs: 1_000,
      faultMs: 2_000,
      maxMinutes: 8,
      log: (line) => console.log(`[chaos] ${line}`),
    }),
    ...options,
  })
  console.log(`\n${result.table}\n`)
  const findings = result.analysis.findings.map((finding) => `[${finding.kind}] ${finding.orderReqId}: ${finding.what}`)
  for (const kind of options.kinds ?? []) {
    expect(result.injections.filter((injection) => injection.kind === kind).length, kind).toBe(options.rounds)
  }
  expect(result.analysis.total.events, "the workload produced events").toBeGreaterThan(0)
  expect(result.analysis.total.acknowledged).toBeGreaterThan(0)
  expect(
    {
      lost: result.analysis.total.lost,
      duplicatedOrOutOfOrder: result.analysis.total.duplicatedOrOutOfOrder,
      missingFromTopics: result.analysis.total.missingFromTopics,
    },
    findings.slice(0, 30).join("\n"),
  ).toEqual({ lost: 0, duplicatedOrOutOfOrder: 0, missingFromTopics: 0 })
  return result
}

describe("fault injection (short form)", () => {
  it(`${rounds} injections of each fault kind: nothing lost, duplicated, out of order or missing from topics`, async () => {
    await runShort({
      rounds,
      kafka: "single",
      kinds: faultKinds.filter((kind) => !needsReplicatedKafka(kind) && !needsRedisCluster(kind)),
      resultsFile: `${repoRoot}test/chaos/.results/short.json`,
    })
  })

  it.skipIf(kafka3Rounds === 0)(
    `3-broker Kafka: ${kafka3Rounds} broker(s) killed (kill -9) under load, nothing lost or missing from topics`,
    async () => {
      const result = await runShort({
        rounds: kafka3Rounds,
        kafka: "replicated",
        kinds: replicatedKafkaKinds,
        resultsFile: `${repoRoot}test/chaos/.results/short-kafka3.json`,
      })
      // The services created every topic with 3 replicas and min.insync.replicas=2 ...
      expect(result.topicReplication?.map((topic) => topic.topic).sort()).toEqual([...allTopics].sort())
      for (const topic of result.topicReplication ?? []) {
        expect(topic, topic.topic).toMatchObject({ replicationFactor: 3, minInsyncReplicas: 2 })
      }
      // ... and after each kill every partition had a leader and 2 in-sync replicas on the other brokers.
      for (const injection of result.injections) {
        expect(injection.failover, injection.target).toMatchObject({ replicas: 3, minInsync: 2 })
      }
    },
  )

  it.skipIf(redisClusterRounds === 0)(
    `Redis Cluster: ${redisClusterRounds} master(s) killed (kill -9) under load, a replica promoted, nothing lost`,
    async () => {
      const result = await runShort({
        rounds: redisClusterRounds,
        kafka: "single",
        redis: "cluster",
        kinds: redisClusterKinds,
        resultsFile: `${repoRoot}test/chaos/.results/short-redis-cluster.json`,
      })
      // Each kill ended with a replica serving the dead master's slots.
      for (const injection of result.injections) {
        expect(injection.promotedAfterMs, injection.target).toBeGreaterThan(0)
      }
    },
  )
})
