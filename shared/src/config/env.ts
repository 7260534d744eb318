/**
 * Building blocks for reading environment variables through Effect `Config`.
 *
 * Every helper names the variable it reads, so a bad value fails with a `ConfigError` whose
 * path is that variable; `formatConfigError` turns it into a one-line message.
 */
import { Config, type LogLevel as EffectLogLevel, Schema } from "effect"

/** A TCP port 1–65535 (`PROCESSOR_HTTP_PORT=abc` or `=70000` fail). */
export const port = (name: string, defaultValue: number): Config.Config<number> =>
  Config.Port(name).pipe(Config.withDefault(defaultValue))

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/** An integer ≥ 1 (`MAX_CONCURRENT_TASKS=-1` or `=2.5` fail). */
export const positiveInt = (name: string, defaultValue: number): Config.Config<number> =>
  Config.schema(PositiveInt, name).pipe(Config.withDefault(defaultValue))

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** An integer ≥ 0 (`HTTP_MAX_QUEUE=-1` or `=2.5` fail). */
export const nonNegativeInt = (name: string, defaultValue: number): Config.Config<number> =>
  Config.schema(NonNegativeInt, name).pipe(Config.withDefault(defaultValue))

/** A boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (case-insensitive). */
export const flag = (name: string, defaultValue: boolean): Config.Config<boolean> =>
  Config.schema(
    Schema.String.check(
      Schema.makeFilter((value: string) =>
        /^(true|false|1|0|yes|no|on|off)$/i.test(value) ? undefined : "Expected true or false (1/0, yes/no, on/off)",
      ),
    ),
    name,
  ).pipe(
    Config.map((value) => /^(true|1|yes|on)$/i.test(value)),
    Config.withDefault(defaultValue),
  )

/** A host name or IP address to bind or connect to. */
export const host = (name: string, defaultValue: string): Config.Config<string> =>
  Config.NonEmptyString(name).pipe(Config.withDefault(defaultValue))

/**
 * A URL whose scheme is one of `protocols` (without the trailing colon), e.g.
 * `url("REDIS_URL", ["redis", "rediss"], "redis://127.0.0.1:6379")`.
 */
export const url = (name: string, protocols: ReadonlyArray<string>, defaultValue: string): Config.Config<URL> => {
  const expected = protocols.map((p) => `${p}://`).join(" or ")
  const UrlString = Schema.String.check(
    Schema.makeFilter((value: string) => {
      if (!URL.canParse(value)) return `Expected a valid URL starting with ${expected} (e.g. ${defaultValue})`
      const scheme = new URL(value).protocol.slice(0, -1)
      return protocols.includes(scheme) ? undefined : `Expected a URL starting with ${expected}, got ${scheme}://`
    }),
  )
  return Config.schema(UrlString, name).pipe(
    Config.withDefault(defaultValue),
    Config.map((value) => new URL(value)),
  )
}

/** Log levels accepted in `LOG_LEVEL`, mapped onto Effect's. */
const logLevels = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None",
} as const satisfies Record<string, EffectLogLevel.LogLevel>

/** `LOG_LEVEL`: trace, debug, info (default), warning, error (case-insensitive). */
export const logLevel: Config.Config<EffectLogLevel.LogLevel> = Config.schema(
  Schema.String.check(
    Schema.makeFilter((value: string) =>
      value.toLowerCase() in logLevels ? undefined : `Expected one of ${Object.keys(logLevels).join(", ")}`,
    ),
  ),
  "LOG_LEVEL",
).pipe(
  Config.withDefault("info"),
  Config.map((value) => logLevels[value.toLowerCase() as keyof typeof logLevels]),
)
