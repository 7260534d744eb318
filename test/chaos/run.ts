/**
 * `make chaos`: the full fault-injection run (`CHAOS_ROUNDS` rounds of every fault kind, 20 by
 * default), the table printed and written as JSON to `test/chaos/.results/last.json`. The kinds
 * that need the replicated Kafka (`kafka-broker-kill`) run after the others, on the 3-broker
 * cluster, with a table of their own (`last-kafka3.json`); then the Redis Cluster kinds
 * (`redis-master-failover`) with the services on the chaos Redis Cluster (`last-redis-cluster.json`). Exits 1 when any event was lost,
 * duplicated or out of order at a stream consumer, or missing from a topic, in either run.
 * Settings: see `optionsFromEnv` in ./suite.ts (`CHAOS_ROUNDS`, `CHAOS_KINDS`, `CHAOS_LANES`,
 * `CHAOS_MAX_MINUTES`, …).
 */
import { repoRoot } from "../support/processes.ts"
import { needsRedisCluster, needsReplicatedKafka } from "./faults.ts"
import { chaosDown } from "./infra.ts"
import { optionsFromEnv, runChaos } from "./suite.ts"

const resultsFile = process.env.CHAOS_RESULTS_FILE ?? `${repoRoot}test/chaos/.results/last.json`
const options = optionsFromEnv({ resultsFile })
const runs = [
  {
    ...options,
    kafka: "single" as const,
    kinds: options.kinds.filter((kind) => !needsReplicatedKafka(kind) && !needsRedisCluster(kind)),
  },
  {
    ...options,
    kafka: "replicated" as const,
    kinds: options.kinds.filter(needsReplicatedKafka),
    resultsFile: resultsFile.replace(/(\.json)?$/, "-kafka3.json"),
  },
  {
    ...options,
    kafka: "single" as const,
    redis: "cluster" as const,
    kinds: options.kinds.filter(needsRedisCluster),
    resultsFile: resultsFile.replace(/(\.json)?$/, "-redis-cluster.json"),
  },
].filter((run) => run.kinds.length > 0)

let code = 0
try {
  for (const run of runs) {
    const lane = `${run.kafka} Kafka, ${"redis" in run ? "Redis Cluster" : "one Redis"}`
    console.log(`[chaos] ${lane}: ${run.kinds.join(", ")}`)
    const result = await runChaos(run)
    console.log(`\n${result.table}\n`)
    for (const finding of result.analysis.findings.slice(0, 40)) {
      console.log(`  [${finding.kind}] ${finding.orderReqId}: ${finding.what}`)
    }
    console.log(`results: ${run.resultsFile}`)
    console.log(
      result.violations === 0
        ? `chaos (${lane}): PASS (0 lost, 0 duplicated/out of order, 0 missing from topics)`
        : `chaos (${lane}): FAIL (${result.violations} violations)`,
    )
    if (result.violations !== 0) code = 1
  }
} catch (error) {
  console.error("chaos: the run failed:", error)
  code = 1
} finally {
  if (process.env.CHAOS_KEEP_INFRA !== "1") await chaosDown()
}
process.exit(code)
