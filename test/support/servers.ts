/** Where the integration tests find the real servers started by `infra/local/stack.sh`. */
export const servers = {
  kafka: { host: "127.0.0.1", port: Number(process.env.KAFKA_PORT ?? 9092) },
  redis: { host: "127.0.0.1", port: Number(process.env.REDIS_PORT ?? 6379) },
  nats: { host: "127.0.0.1", port: Number(process.env.NATS_PORT ?? 4222) },
  postgres: { host: "127.0.0.1", port: Number(process.env.POSTGRES_PORT ?? 5432) },
} as const

export const kafkaUrl = `kafka://${servers.kafka.host}:${servers.kafka.port}`
export const natsUrl = `nats://${servers.nats.host}:${servers.nats.port}`
export const redisUrl = `redis://${servers.redis.host}:${servers.redis.port}`

/**
 * The Redis Cluster of `infra/local/stack.sh redis-cluster-up` (3 masters from
 * `REDIS_CLUSTER_PORT`, default 7101, and a replica each), started by `redis-cluster-setup.ts`.
 */
export const redisClusterPort = Number(process.env.REDIS_CLUSTER_PORT ?? 7101)
export const redisClusterNodes: ReadonlyArray<{ readonly host: string; readonly port: number }> = [0, 1, 2].map(
  (index) => ({ host: "127.0.0.1", port: redisClusterPort + index }),
)
/** `REDIS_CLUSTER_NODES` for services run as processes on that cluster. */
export const redisClusterNodesEnv = redisClusterNodes.map(({ host, port }) => `${host}:${port}`).join(",")
/**
 * Whether the Redis suites run on the cluster in this vitest project (`integration-cluster`
 * sets `DCENT_TEST_REDIS_CLUSTER=1`; the same files run on one node in `integration`).
 */
export const onRedisCluster = process.env.DCENT_TEST_REDIS_CLUSTER === "1"

/** The archive (PostgreSQL of `infra/local/stack.sh`, database `dcent`); `DATABASE_URL` overrides it. */
export const databaseUrl =
  process.env.DATABASE_URL ?? `postgres://dcent@127.0.0.1:${Number(process.env.POSTGRES_PORT ?? 5432)}/dcent`
