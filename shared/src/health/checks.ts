/** The standard readiness checks: the broker (named after its kind, e.g. `kafka`) and Redis. */
import { Effect } from "effect"
import { Broker } from "../broker/Broker.ts"
import { Redis } from "../redis/Redis.ts"
import { Drain } from "../runtime/Drain.ts"
import type { ReadinessCheck } from "./Readiness.ts"

export const brokerCheck: Effect.Effect<ReadinessCheck, never, Broker> = Effect.gen(function* () {
  const broker = yield* Broker
  return { name: broker.kind, check: broker.healthCheck }
})

export const redisCheck: Effect.Effect<ReadinessCheck, never, Redis> = Effect.gen(function* () {
  const redis = yield* Redis
  // Reachable is not enough: at `maxmemory` Redis answers PING but refuses every write.
  return { name: "redis", check: Effect.andThen(redis.ping, redis.acceptsWrites) }
})

/** `draining`: fails from the moment the service starts draining (SIGTERM), so `/readyz` says 503 at once. */
export const drainCheck: Effect.Effect<ReadinessCheck> = Effect.gen(function* () {
  const drain = yield* Effect.serviceOption(Drain)
  return {
    name: "draining",
    check: Effect.suspend(() =>
      drain._tag === "Some" && drain.value.isDraining()
        ? Effect.fail(new Error("the service is shutting down; use another replica"))
        : Effect.void,
    ),
  }
})
