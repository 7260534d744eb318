/**
 * librdkafka's log and error events through the application's logger (JSON lines, trace ids),
 * instead of the client's own console logger. `KAFKA_LOG_LEVEL` (librdkafka's syslog level)
 * decides what librdkafka emits; the client maps it onto the logger's level with `setLogLevel`.
 * librdkafka redacts secrets (`sasl.password`, key passwords) from what it logs.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Effect } from "effect"

type Write = (message: string, extra?: object) => void

/** The fields of librdkafka's log events worth keeping: client name and facility. */
const annotationsOf = (extra: object | undefined): Record<string, unknown> => {
  if (extra === undefined) return {}
  const out: Record<string, unknown> = {}
  if ("name" in extra) out.kafkaClient = extra.name
  if ("fac" in extra) out.facility = extra.fac
  return out
}

/** A KafkaJS logger writing through `runFork` (an `Effect.runForkWith` of the service's context). */
export const makeKafkaLogger = (runFork: (effect: Effect.Effect<void>) => unknown): KafkaJS.Logger => {
  let level: KafkaJS.logLevel = KafkaJS.logLevel.NOTHING
  const at =
    (threshold: KafkaJS.logLevel, log: (message: string) => Effect.Effect<void>): Write =>
    (message, extra) => {
      if (level < threshold) return
      runFork(log(`librdkafka: ${message}`).pipe(Effect.annotateLogs(annotationsOf(extra))))
    }
  const logger: KafkaJS.Logger = {
    error: at(KafkaJS.logLevel.ERROR, Effect.logError),
    warn: at(KafkaJS.logLevel.WARN, Effect.logWarning),
    info: at(KafkaJS.logLevel.INFO, Effect.logInfo),
    debug: at(KafkaJS.logLevel.DEBUG, Effect.logDebug),
    namespace: () => logger,
    setLogLevel: (next) => {
      level = next
    },
  }
  return logger
}
