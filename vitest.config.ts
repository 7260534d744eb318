import { defineConfig } from "vitest/config"

/**
 * `make test` (scripts/test.sh) runs two vitest processes side by side, one per lane, because
 * vitest runs one file at a time here (2 cores: maxWorkers 1) and most of a file's time is
 * waiting on services, not CPU. The `own-infra` lane holds what brings its own Redis and Kafka
 * (the unit tests, chaos, and the e2e files on a private Redis that only publish to the shared
 * Kafka under keys of their own); the `shared-infra` lane holds everything on the one shared
 * Redis, one file at a time as before. Unset (`npx vitest run …`), every project holds all its files.
 */
const lane = process.env.DCENT_TEST_LANE
if (lane !== undefined && lane !== "own-infra" && lane !== "shared-infra") {
  throw new Error(`DCENT_TEST_LANE must be own-infra or shared-infra, not ${lane}`)
}
/** e2e files that touch no shared Redis database (private `redis-server`s) nor the Redis Cluster. */
const ownInfraE2e = [
  "test/e2e/bench-smoke.test.ts",
  "test/e2e/broker-outage.test.ts",
  "test/e2e/credentials.test.ts",
  "test/e2e/outage.test.ts",
  "test/e2e/redis-full.test.ts",
  "test/e2e/retention.test.ts",
]
const e2eFiles =
  lane === "own-infra"
    ? { include: ownInfraE2e }
    : lane === "shared-infra"
      ? { include: ["test/e2e/**/*.test.ts"], exclude: ownInfraE2e }
      : { include: ["test/e2e/**/*.test.ts"] }

// Four projects: `unit` needs nothing running; `integration` talks to real Kafka, Redis, NATS
// and to the services as real processes (started by `make test` through infra/local/stack.sh);
// `e2e` runs the processor and the requestor together, end to end; `chaos` injects faults.
export default defineConfig({
  test: {
    reporters: ["default", "./scripts/vitest-summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["{shared,requestor,processor}/test/unit/**/*.test.ts", "test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["{shared,requestor,processor}/test/integration/**/*.test.ts", "test/integration/**/*.test.ts"],
          globalSetup: ["./test/support/require-servers.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Files share one Kafka/Redis/NATS; running them one at a time keeps them independent.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "integration-cluster",
          // The Redis suites of `integration` (event log, outbox relay, priority queue, semaphore,
          // shard leases, wake-ups, pub/sub subscriber) again, on the local Redis Cluster (3 masters + replicas,
          // `stack.sh redis-cluster-up`): the same files, parameterised by DCENT_TEST_REDIS_CLUSTER.
          include: [
            "shared/test/integration/{eventlog,outbox,coordination}/**/*.test.ts",
            "shared/test/integration/redis/subscriber.test.ts",
          ],
          globalSetup: ["./test/support/require-servers.ts", "./test/support/redis-cluster-setup.ts"],
          env: { DCENT_TEST_REDIS_CLUSTER: "1" },
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          // Both services as real processes wired to each other, on the real Kafka and Redis.
          ...e2eFiles,
          // The Redis Cluster for `redis-cluster.test.ts` (idempotent, ~3 s the first time); the
          // own-infra lane has no file on it and leaves it to the other lane, which starts it.
          globalSetup: [
            "./test/support/require-servers.ts",
            ...(lane === "own-infra" ? [] : ["./test/support/redis-cluster-setup.ts"]),
          ],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "chaos",
          // The short form of `make chaos`: two processors and two requestors under faults, on a
          // Kafka and Redis of its own (test/chaos/infra.ts) that it restarts.
          include: ["test/chaos/**/*.test.ts"],
          globalSetup: ["./test/chaos/globalSetup.ts"],
          testTimeout: 900_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
