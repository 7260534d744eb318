/**
 * Creates the eight lifecycle topics at start-up, without holding the service hostage to the
 * broker: the first attempt starts immediately in the background, failures are logged and
 * retried with capped exponential backoff until they succeed, and `/readyz` reports `topics`
 * as failing meanwhile. Consumers that need the topics wait on `ready`.
 *
 * `KAFKA_TOPIC_PARTITIONS` (default 3) and `KAFKA_REPLICATION_FACTOR` (default 1) shape topics
 * that do not exist yet; existing topics are left as they are.
 */
import { type Config, Context, Deferred, Effect, Layer, Schedule } from "effect"
import { Broker } from "../broker/Broker.ts"
import { topicSpecsConfig } from "../broker/config.ts"
import type { ReadinessCheck } from "../health/Readiness.ts"

/** 0.5 s, 1 s, 2 s, ... capped at 10 s between attempts, forever. */
const retrySchedule = Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("10 seconds")])

export interface TopicsBootstrapShape {
  /** Completes once the topics exist. */
  readonly ready: Effect.Effect<void>
  /** Succeeds if the topics exist, fails with the last error otherwise (readiness). */
  readonly check: Effect.Effect<void, Error>
}

export class TopicsBootstrap extends Context.Service<TopicsBootstrap, TopicsBootstrapShape>()(
  "dcent/bootstrap/TopicsBootstrap",
) {
  static readonly layer: Layer.Layer<TopicsBootstrap, Config.ConfigError, Broker> = Layer.effect(
    TopicsBootstrap,
    Effect.gen(function* () {
      const broker = yield* Broker
      const specs = yield* topicSpecsConfig
      const done = yield* Deferred.make<void>()
      let lastProblem = "topics not created yet"
      let attempt = 0

      yield* Effect.suspend(() => {
        attempt += 1
        return broker.ensureTopics(specs)
      }).pipe(
        Effect.tapError((error) =>
          Effect.sync(() => {
            lastProblem = error.message
          }).pipe(
            // Warn on the first failure and every tenth after it; the rest is debug noise.
            Effect.andThen(
              (attempt % 10 === 1 ? Effect.logWarning : Effect.logDebug)("could not ensure topics; retrying").pipe(
                Effect.annotateLogs({ attempt, error: error.message }),
              ),
            ),
          ),
        ),
        Effect.retry(retrySchedule),
        Effect.andThen(
          Effect.logInfo("topics ready").pipe(
            Effect.annotateLogs({ topics: specs.map((spec) => spec.name).join(",") }),
          ),
        ),
        Effect.andThen(Deferred.succeed(done, undefined)),
        Effect.withSpan("TopicsBootstrap.ensureTopics"),
        Effect.forkScoped,
      )

      return TopicsBootstrap.of({
        ready: Deferred.await(done),
        check: Effect.suspend(() => (Deferred.isDoneUnsafe(done) ? Effect.void : Effect.fail(new Error(lastProblem)))),
      })
    }),
  )

  static readonly readinessCheck: Effect.Effect<ReadinessCheck, never, TopicsBootstrap> = Effect.gen(function* () {
    const bootstrap = yield* TopicsBootstrap
    return { name: "topics", check: bootstrap.check }
  })
}
