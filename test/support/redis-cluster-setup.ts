import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

/**
 * Global setup of the `integration-cluster` project (and of the e2e lifecycle on the cluster):
 * starts the local Redis Cluster with `infra/local/stack.sh redis-cluster-up` — idempotent,
 * about 3 s the first time, nothing when it runs — and waits until `cluster_state:ok`.
 */
export default function startRedisCluster() {
  const stack = fileURLToPath(new URL("../../infra/local/stack.sh", import.meta.url))
  execFileSync("bash", [stack, "redis-cluster-up"], { stdio: ["ignore", "inherit", "inherit"], timeout: 120_000 })
}
