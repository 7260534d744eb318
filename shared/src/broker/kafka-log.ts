/**
 * librdkafka's log and error events through the application's logger (JSON lines, trace ids),
 * instead of the client's own console logger. `KAFKA_LOG_LEVEL` (librdkafka's syslog level)
 * decides what librdkafka emits; the client maps it onto the logger's level with `setLogLevel`.
 * librdkafka redacts secrets (`sasl.password`, key passwords) from what it logs.
 *
 * The client repeats an error on every reconnect attempt (`all broker connections are down` every
 * 2 s while Kafka is down): the same line is written at most once a minute, the next one with the
 * count of those left out (`repeated`).
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

const repeatWindowMs = 60_000
/** Distinct lines remembered for the repeat window; past that the memory starts over. */
const maxRemembered = 256

/**
 * A KafkaJS logger writing through `runFork` (an `Effect.runForkWith` of the service's context);
 * `now` is the service's clock (`Clock.currentTimeMillisUnsafe`).
 */
export const makeKafkaLogger = (
  runFork: (effect: Effect.Effect<void>) => unknown,
  now: () => number,
): KafkaJS.Logger => {
  let level: KafkaJS.logLevel = KafkaJS.logLevel.NOTHING
  const written = new Map<string, { at: number; leftOut: number }>()
  const at =
    (threshold: KafkaJS.logLevel, log: (message: string) => Effect.Effect<void>): Write =>
    (message, extra) => {
      if (level < threshold) return
      const time = now()
      const last = written.get(message)
      if (last !== undefined && time - last.at < repeatWindowMs) {
        last.leftOut += 1
        return
      }
      if (written.size >= maxRemembered) written.clear()
      written.set(message, { at: time, leftOut: 0 })
      const annotations = annotationsOf(extra)
      if (last !== undefined && last.leftOut > 0) annotations.repeated = last.leftOut
      runFork(log(`librdkafka: ${message}`).pipe(Effect.annotateLogs(annotations)))
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
