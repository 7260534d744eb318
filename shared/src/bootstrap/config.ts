/**
 * The configuration both services read through the shared building blocks: `BROKER_URL` and the
 * topic settings, `REDIS_URL`, `AUTH_*`, `RATE_LIMIT_*`, `DATABASE_URL` and retention. Each
 * service checks it at start-up with its own settings (`runService`'s `config`).
 */
import { Config } from "effect"
import { archiveConfig } from "../archive/config.ts"
import { authConfig } from "../auth/config.ts"
import { brokerUrlConfig, topicSpecsConfig } from "../broker/config.ts"
import { rateLimitConfig } from "../ratelimit/config.ts"
import { Redis } from "../redis/Redis.ts"

export const sharedServiceConfig = Config.all([
  brokerUrlConfig,
  topicSpecsConfig,
  Redis.url,
  authConfig,
  rateLimitConfig,
  archiveConfig,
])
