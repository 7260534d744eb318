import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { brokerCheck, drainCheck, redisCheck } from "@dcent/shared/health/checks"
import { Readiness } from "@dcent/shared/health/Readiness"
import { Effect } from "effect"
import { grpcCheck } from "../grpc/server.ts"

/** `/readyz`: the broker answers, Redis answers, the topics exist, the gRPC server listens. */
export const ReadinessLive = Readiness.layer(
  Effect.all([drainCheck, brokerCheck, redisCheck, TopicsBootstrap.readinessCheck, grpcCheck]),
)
