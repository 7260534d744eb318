/**
 * Requestor entry point: `node requestor/src/main.ts`.
 *
 * Layers, from the bottom: configuration → broker (`BROKER_URL`) and Redis (`REDIS_URL`) →
 * topic bootstrap (background, retried) → event log, outbox relay, processor client
 * (`PROCESSOR_GRPC_URL`) → order store, stream holders (resuming every live order), orders →
 * REST server (:8000) and public gRPC server (`WatchOrder`, :50052) → demo data.
 *
 * SIGTERM/SIGINT release them in reverse: open watches (SSE, WatchOrder) end, the servers stop
 * accepting and drain, the stream holders stop (their orders resume on the next start from the
 * last recorded seq), the relay stops, Redis quits, the broker flushes; exit 0.
 */

import { hostname } from "node:os"
import { BrokerLive } from "@dcent/shared/bootstrap/broker"
import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { brokerUrlConfig, topicSpecsConfig } from "@dcent/shared/broker/config"
import { OrderEventLog } from "@dcent/shared/eventlog/OrderEventLog"
import { OutboxRelay } from "@dcent/shared/outbox/OutboxRelay"
import { Redis } from "@dcent/shared/redis/Redis"
import { runService } from "@dcent/shared/runtime/runService"
import { Config, Effect, Layer } from "effect"
import { RequestorConfig, redisKeyPrefix, requestorConfig } from "./config.ts"
import { ReadinessLive } from "./health/readiness.ts"
import { HttpLive } from "./http/server.ts"
import { DemoDataLive } from "./orders/demo.ts"
import { OrderStore } from "./orders/OrderStore.ts"
import { Orders } from "./orders/Orders.ts"
import { ProcessorClient } from "./processor/ProcessorClient.ts"
import { GrpcLive, WatchShutdownLive } from "./streams/grpc.ts"
import { OrderEvents } from "./streams/OrderEvents.ts"
import { StreamHolder } from "./streams/StreamHolder.ts"

const InfraLive = Layer.mergeAll(Redis.layer({ keyPrefix: redisKeyPrefix }), TopicsBootstrap.layer).pipe(
  Layer.provideMerge(BrokerLive),
)

/** The event log and what reads or writes it, over Redis. */
const StorageLive = Layer.mergeAll(OrderEventLog.layer, OrderStore.layer)

const OrdersLive = Orders.layer.pipe(
  Layer.provideMerge(StreamHolder.layer),
  Layer.provideMerge(Layer.mergeAll(StorageLive, ProcessorClient.layer)),
)

const ServersLive = Layer.mergeAll(HttpLive, GrpcLive)

/** One relay consumer per process: unique on the host (the REST port), stable across restarts. */
const OutboxRelayLive = Layer.unwrap(
  Effect.map(RequestorConfig, (config) =>
    OutboxRelay.layer({ consumerName: `requestor@${hostname()}:${config.httpPort}` }),
  ),
)

const AppLive = Layer.mergeAll(WatchShutdownLive, DemoDataLive).pipe(
  // Built after the servers, so released before them: open watches end before the servers drain.
  Layer.provide(ServersLive),
  Layer.provideMerge(OrderEvents.layer),
  Layer.provideMerge(OrdersLive),
  Layer.provideMerge(OutboxRelayLive),
  Layer.provideMerge(ReadinessLive),
  Layer.provideMerge(InfraLive),
  Layer.provideMerge(RequestorConfig.layer),
)

runService("requestor", AppLive, {
  config: Config.all([requestorConfig, brokerUrlConfig, topicSpecsConfig, Redis.url]),
})
