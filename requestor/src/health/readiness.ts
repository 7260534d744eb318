import { TopicsBootstrap } from "@dcent/shared/bootstrap/TopicsBootstrap"
import { brokerCheck, drainCheck, redisCheck } from "@dcent/shared/health/checks"
import { Readiness } from "@dcent/shared/health/Readiness"
import { Effect } from "effect"
import { processorCheck } from "./processorCheck.ts"

/** `/readyz`: not draining, the broker answers, Redis answers, the topics exist, a processor is SERVING. */
export const ReadinessLive = Readiness.layer(
  Effect.all([drainCheck, brokerCheck, redisCheck, TopicsBootstrap.readinessCheck, processorCheck]),
)
