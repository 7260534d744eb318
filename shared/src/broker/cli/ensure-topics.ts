/**
 * Creates the eight lifecycle topics (Kafka topics / JetStream streams) on the broker named by
 * `BROKER_URL` (default `kafka://127.0.0.1:9092`) and prints them.
 *
 *   node shared/src/broker/cli/ensure-topics.ts
 *   BROKER_URL=nats://127.0.0.1:4222 node shared/src/broker/cli/ensure-topics.ts
 *
 * Partitions and replication come from `KAFKA_TOPIC_PARTITIONS` (3) and
 * `KAFKA_REPLICATION_FACTOR` (1). Existing topics are left as they are. Exits 1 with the error
 * message when the broker is unreachable or a variable is invalid.
 */
import { Cause, Effect, Exit } from "effect"
import { Broker } from "../Broker.ts"
import { brokerUrlConfig, topicSpecsConfig } from "../config.ts"
import { layerFromConfig } from "../layer.ts"

const program = Effect.gen(function* () {
  const url = yield* brokerUrlConfig
  const specs = yield* topicSpecsConfig
  const broker = yield* Broker
  yield* broker.ensureTopics(specs)
  process.stdout.write(`topics on ${url.url}:\n`)
  for (const spec of specs) {
    process.stdout.write(
      `  ${spec.name}  partitions=${spec.partitions} replication=${spec.replicationFactor} min.insync.replicas=${spec.minInsyncReplicas ?? "(broker default)"}\n`,
    )
  }
}).pipe(Effect.provide(layerFromConfig()))

const exit = await Effect.runPromiseExit(program)
if (Exit.isFailure(exit)) {
  const error = Cause.squash(exit.cause)
  process.stderr.write(`ensure-topics: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
}
