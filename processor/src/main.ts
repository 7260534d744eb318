/**
 * Processor entry point: `node processor/src/main.ts`.
 *
 * Layers, from the bottom: configuration → broker (`BROKER_URL`) and Redis (`REDIS_URL`) →
 * topic bootstrap (background, retried) → readiness → REST server and gRPC server. SIGTERM /
 * SIGINT release them in reverse: gRPC goes NOT_SERVING and drains, the REST server drains,
 * Redis quits, the broker flushes; exit 0.
 */
import { BrokerLive } from "@dcent/shared/bootstrap/broker"
import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { brokerUrlConfig, topicSpecsConfig } from "@dcent/shared/broker/config"
import { Redis } from "@dcent/shared/redis/Redis"
import { runService } from "@dcent/shared/runtime/runService"
import { Config, Layer } from "effect"
import { ProcessorConfig, processorConfig, redisKeyPrefix } from "./config.ts"
import { GrpcLive } from "./grpc/server.ts"
import { ReadinessLive } from "./health/readiness.ts"
import { HttpLive } from "./http/server.ts"

const InfraLive = Layer.mergeAll(Redis.layer({ keyPrefix: redisKeyPrefix }), TopicsBootstrap.layer).pipe(
  Layer.provideMerge(BrokerLive),
)

const AppLive = Layer.mergeAll(HttpLive, GrpcLive).pipe(
  Layer.provide(ReadinessLive),
  Layer.provide(InfraLive),
  Layer.provide(ProcessorConfig.layer),
)

runService("processor", AppLive, {
  config: Config.all([processorConfig, brokerUrlConfig, topicSpecsConfig, Redis.url]),
})
