/**
 * The process-wide logger: one line per entry on stdout.
 *
 * `LOG_FORMAT`:
 * - `json` — the default when stdout is not a terminal (containers, files, log shippers): one
 *   JSON object per line with `time` (ISO 8601), `level` (trace, debug, info, warn, error, fatal),
 *   `service`, `message`, `trace_id` / `span_id` (of the current span, when there is one),
 *   `order_req_id` (from the `orderReqId` annotation), every other annotation as its own field,
 *   and `cause` (pretty-printed) for failures;
 * - `logfmt` — the same fields as `key=value` pairs: the default on a terminal, for humans;
 * - `pretty` — Effect's multi-line, coloured console output.
 *
 * `LOG_LEVEL` (see `../config/env.ts`) sets the threshold. Secrets stay out: a URL's password
 * (`redis://user:secret@host`) is written as `***`, and annotations named like a secret
 * (password, token, secret, authorization, api key) are written as `[redacted]`. Payloads are not
 * logged at info level (the services log ids, counts and outcomes; bodies only at debug).
 */
import { Cause, Config, Context, Effect, Layer, Logger, type LogLevel, References, Schema, Tracer } from "effect"
import { logLevel } from "../config/env.ts"

export type LogFormat = "logfmt" | "json" | "pretty"

/** `LOG_FORMAT`; without it json, or logfmt when stdout is a terminal. */
export const logFormatConfig: Config.Config<LogFormat> = Config.schema(
  Schema.Literals(["logfmt", "json", "pretty"]),
  "LOG_FORMAT",
).pipe(Config.withDefault((process.stdout.isTTY === true ? "logfmt" : "json") as LogFormat))

/** Fields every line starts with; annotations never overwrite them. */
const reservedFields = new Set(["time", "level", "service", "message", "trace_id", "span_id", "order_req_id", "cause"])

/** Annotation names written under the conventional field name. */
const renamedAnnotations: Readonly<Record<string, string>> = {
  orderReqId: "order_req_id",
  OrderReqID: "order_req_id",
  order_req_id: "order_req_id",
}

const secretName = /pass(word)?|secret|token|authorization|api[-_]?key|credential/i

/** `scheme://user:password@host` → `scheme://user:***@host` (anywhere in the text). */
export const redactUrls = (text: string): string =>
  text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):([^\s/@]+)@/gi, (_, head: string) => `${head}:***@`)

const redactValue = (value: unknown): unknown => (typeof value === "string" ? redactUrls(value) : value)

const textOf = (part: unknown): string => {
  if (typeof part === "string") return part
  if (part instanceof Error) return part.message
  try {
    return JSON.stringify(part) ?? String(part)
  } catch {
    return String(part)
  }
}

/** A log line's fields, in output order. */
export type LogRecord = Record<string, unknown>

/** The fields of one entry (see the module comment). */
export const logRecordOf = (options: Logger.Options<unknown>): LogRecord => {
  const { fiber, logLevel, cause, date } = options
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  const record: LogRecord = {
    time: date.toISOString(),
    level: logLevel.toLowerCase(),
    service: annotations.service,
    message: redactUrls(parts.map(textOf).join(" ")),
  }
  if (span !== undefined) {
    record.trace_id = span.traceId
    record.span_id = span.spanId
  }
  for (const [key, value] of Object.entries(annotations)) {
    if (key === "service") continue
    const name = renamedAnnotations[key] ?? key
    if (name !== "order_req_id" && reservedFields.has(name)) continue
    record[name] = secretName.test(key) ? "[redacted]" : redactValue(value)
  }
  if (cause.reasons.length > 0) record.cause = redactUrls(Cause.pretty(cause))
  if (record.service === undefined) delete record.service
  return record
}

export const formatJsonLine = (record: LogRecord): string =>
  JSON.stringify(record, (_key, value) => (typeof value === "bigint" ? value.toString() : value))

const logfmtValue = (value: unknown): string => {
  const text = typeof value === "string" ? value : textOf(value)
  return text !== "" && /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text)
}

export const formatLogfmtLine = (record: LogRecord): string =>
  Object.entries(record)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${logfmtValue(value)}`)
    .join(" ")

/** A logger producing the lines of `format` (json / logfmt), for `Logger.withConsoleLog` or tests. */
export const lineLogger = (format: "json" | "logfmt"): Logger.Logger<unknown, string> =>
  Logger.make((options) => (format === "json" ? formatJsonLine : formatLogfmtLine)(logRecordOf(options)))

const loggerOf = (format: LogFormat) =>
  format === "pretty" ? Logger.consolePretty() : Logger.withConsoleLog(lineLogger(format))

/** The logger of `format` at `level` for `service` (no configuration read). */
export const loggingLayer = (service: string, format: LogFormat, level: LogLevel.LogLevel) =>
  Layer.mergeAll(
    Logger.layer([loggerOf(format)]),
    Layer.succeed(References.MinimumLogLevel, level),
    Layer.succeed(References.CurrentLogAnnotations, { service }),
  )

/** The process-wide logger: `LOG_LEVEL`, `LOG_FORMAT`, lines annotated with the service name. */
export const LoggingLive = (service: string) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const level = yield* logLevel
      const format = yield* logFormatConfig
      return loggingLayer(service, format, level)
    }),
  )
