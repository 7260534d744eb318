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

/** The archive (PostgreSQL of `infra/local/stack.sh`, database `dcent`); `DATABASE_URL` overrides it. */
export const databaseUrl =
  process.env.DATABASE_URL ?? `postgres://dcent@127.0.0.1:${Number(process.env.POSTGRES_PORT ?? 5432)}/dcent`
