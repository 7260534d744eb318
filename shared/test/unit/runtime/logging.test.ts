/** The log line formats: fields, trace ids of the current span, order id, level threshold, redaction. */
import { ConfigProvider, Effect, Exit, Layer, Logger, type LogLevel, References } from "effect"
import { describe, expect, it } from "vitest"
import { formatLogfmtLine, LoggingLive, lineLogger, logFormatConfig, redactUrls } from "../../../src/runtime/logging.ts"

/** Runs `effect` with the json (or logfmt) logger at `level`; returns the lines it wrote. */
const linesOf = (
  effect: Effect.Effect<unknown>,
  format: "json" | "logfmt" = "json",
  level: LogLevel.LogLevel = "Info",
) => {
  const lines: Array<string> = []
  const capture = Logger.map(lineLogger(format), (line) => {
    lines.push(line)
  })
  Effect.runSync(
    effect.pipe(
      Effect.provide(
        Layer.mergeAll(
          Logger.layer([capture]),
          Layer.succeed(References.MinimumLogLevel, level),
          Layer.succeed(References.CurrentLogAnnotations, { service: "processor" }),
        ),
      ),
    ),
  )
  return lines
}

const jsonLinesOf = (effect: Effect.Effect<unknown>, level?: LogLevel.LogLevel) =>
  linesOf(effect, "json", level).map((line) => JSON.parse(line) as Record<string, unknown>)

describe("json lines", () => {
  it("carry time, level, service and message", () => {
    const [line] = jsonLinesOf(Effect.logInfo("order opened"))
    expect(line).toMatchObject({ level: "info", service: "processor", message: "order opened" })
    expect(new Date(String(line?.time)).toISOString()).toBe(line?.time)
    expect(line).not.toHaveProperty("trace_id")
  })

  it("carry the trace and span id of the current span", () => {
    const lines = jsonLinesOf(
      Effect.gen(function* () {
        yield* Effect.logWarning("inside")
      }).pipe(Effect.withSpan("Orders.open")),
    )
    expect(lines[0]).toMatchObject({ level: "warn", message: "inside" })
    expect(lines[0]?.trace_id).toMatch(/^[0-9a-f]{32}$/)
    expect(lines[0]?.span_id).toMatch(/^[0-9a-f]{16}$/)
  })

  it("write the orderReqId annotation as order_req_id, other annotations as fields, and the cause", () => {
    const [line] = jsonLinesOf(
      Effect.logError("dispatch failed", new Error("boom")).pipe(
        Effect.annotateLogs({ orderReqId: "ORD-7", attempt: 3, service: "overridden?" }),
      ),
    )
    expect(line).toMatchObject({
      level: "error",
      service: "overridden?",
      order_req_id: "ORD-7",
      attempt: 3,
    })
    expect(line).not.toHaveProperty("orderReqId")
    expect(String(line?.message)).toContain("dispatch failed")
  })

  it("respect the minimum level", () => {
    const program = Effect.logDebug("details").pipe(Effect.andThen(Effect.logInfo("summary")))
    expect(jsonLinesOf(program, "Info").map((line) => line.message)).toEqual(["summary"])
    expect(jsonLinesOf(program, "Debug").map((line) => line.message)).toEqual(["details", "summary"])
    expect(jsonLinesOf(program, "Error")).toEqual([])
  })
})

describe("secrets", () => {
  it("hide URL passwords anywhere in a text", () => {
    expect(redactUrls("redis://:s3cret@10.0.0.1:6379/2")).toBe("redis://:***@10.0.0.1:6379/2")
    expect(redactUrls("connect nats://app:pw@nats:4222 failed")).toBe("connect nats://app:***@nats:4222 failed")
    expect(redactUrls("kafka://127.0.0.1:9092,127.0.0.2:9092")).toBe("kafka://127.0.0.1:9092,127.0.0.2:9092")
  })

  it("are redacted in messages and annotations; secret-named annotations are dropped", () => {
    const [line] = jsonLinesOf(
      Effect.logInfo("redis connected to redis://u:hunter2@host:6379").pipe(
        Effect.annotateLogs({ url: "redis://u:hunter2@host:6379", apiToken: "abc", password: "p" }),
      ),
    )
    expect(JSON.stringify(line)).not.toContain("hunter2")
    expect(line).toMatchObject({ url: "redis://u:***@host:6379", apiToken: "[redacted]", password: "[redacted]" })
  })
})

describe("logfmt lines", () => {
  it("hold the same fields as key=value pairs, quoting where needed", () => {
    const [line] = linesOf(Effect.logInfo("order opened").pipe(Effect.annotateLogs({ orderReqId: "ORD-1" })), "logfmt")
    expect(line).toMatch(/^time=\S+ level=info service=processor message="order opened" order_req_id=ORD-1$/)
    expect(formatLogfmtLine({ a: "x y", b: 'q"', c: "" })).toBe('a="x y" b="q\\"" c=""')
  })
})

describe("configuration", () => {
  it("LOG_FORMAT picks the format; an unknown one is a configuration error", () => {
    const parse = (env: Record<string, string>) =>
      Effect.runSyncExit(logFormatConfig.parse(ConfigProvider.fromEnv({ env })))
    expect(parse({ LOG_FORMAT: "logfmt" })).toEqual(Exit.succeed("logfmt"))
    expect(parse({ LOG_FORMAT: "json" })).toEqual(Exit.succeed("json"))
    expect(parse({ LOG_FORMAT: "xml" })._tag).toBe("Failure")
  })

  it("LoggingLive applies LOG_LEVEL", () => {
    const env = ConfigProvider.layer(ConfigProvider.fromEnv({ env: { LOG_LEVEL: "warning", LOG_FORMAT: "json" } }))
    const level = Effect.runSync(
      Effect.gen(function* () {
        return yield* References.MinimumLogLevel
      }).pipe(Effect.provide(LoggingLive("requestor").pipe(Layer.provide(env)))),
    )
    expect(level).toBe("Warn")
  })
})
