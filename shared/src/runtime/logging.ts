import { Config, Effect, Layer, Logger, References, Schema } from "effect"
import { logLevel } from "../config/env.ts"

const formats = {
  logfmt: Logger.consoleLogFmt,
  json: Logger.consoleJson,
  pretty: Logger.consolePretty(),
} as const

/** `LOG_FORMAT`: logfmt (default, one line per entry), json, pretty. */
const logFormat = Config.schema(Schema.Literals(["logfmt", "json", "pretty"]), "LOG_FORMAT").pipe(
  Config.withDefault("logfmt" as const),
)

/** The process-wide logger: `LOG_LEVEL` threshold and `LOG_FORMAT` output, annotated with the service name. */
export const LoggingLive = (service: string) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const level = yield* logLevel
      const format = yield* logFormat
      return Layer.mergeAll(
        Logger.layer([formats[format]]),
        Layer.succeed(References.MinimumLogLevel, level),
        Layer.succeed(References.CurrentLogAnnotations, { service }),
      )
    }),
  )
