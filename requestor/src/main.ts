/**
 * Requestor entry point: `node requestor/src/main.ts`.
 *
 * Layers, from the bottom: configuration → broker (`BROKER_URL`) and Redis (`REDIS_URL`) →
 * topic bootstrap (background, retried) → readiness → REST server. SIGTERM/SIGINT release them
 * in reverse: the server stops accepting and drains, Redis quits, the broker flushes; exit 0.
 */
import { BrokerLive } from "@dcent/shared/bootstrap/broker"
import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { brokerUrlConfig, topicSpecsConfig } from "@dcent/shared/broker/config"
import { Redis } from "@dcent/shared/redis/Redis"
import { runService } from "@dcent/shared/runtime/runService"
import { Config, Layer } from "effect"
import { RequestorConfig, redisKeyPrefix, requestorConfig } from "./config.ts"
import { ReadinessLive } from "./health/readiness.ts"
import { HttpLive } from "./http/server.ts"

const InfraLive = Layer.mergeAll(Redis.layer({ keyPrefix: redisKeyPrefix }), TopicsBootstrap.layer).pipe(
  Layer.provideMerge(BrokerLive),
)

const AppLive = HttpLive.pipe(
  Layer.provide(ReadinessLive),
  Layer.provide(InfraLive),
  Layer.provide(RequestorConfig.layer),
)

runService("requestor", AppLive, {
  config: Config.all([requestorConfig, brokerUrlConfig, topicSpecsConfig, Redis.url]),
})
