import { Config, ConfigProvider, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { brokerUrlConfig } from "../../src/broker/config.ts"
import { flag, host, logLevel, port, positiveInt, url } from "../../src/config/env.ts"
import { formatConfigError } from "../../src/config/errors.ts"
import { describeError } from "../../src/runtime/runService.ts"

type Env = Record<string, string>

const parse = <A>(config: Config.Config<A>, env: Env) =>
  Effect.runSyncExit(config.parse(ConfigProvider.fromEnv({ env })))

/** The one-line message start-up would print for `env`, or fails the test if the config is valid. */
const failure = <A>(config: Config.Config<A>, env: Env): string => {
  const exit = parse(config, env)
  if (Exit.isSuccess(exit)) throw new Error(`expected a configuration error, got ${JSON.stringify(exit.value)}`)
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (error?._tag !== "Fail") throw new Error("expected a failure")
  return formatConfigError(error.error, env)
}

const value = <A>(config: Config.Config<A>, env: Env): A => {
  const exit = parse(config, env)
  if (Exit.isFailure(exit)) throw new Error(`unexpected failure: ${String(exit.cause)}`)
  return exit.value
}

describe("port", () => {
  const config = port("PROCESSOR_HTTP_PORT", 8001)

  it("defaults when unset or empty", () => {
    expect(value(config, {})).toBe(8001)
    expect(value(config, { PROCESSOR_HTTP_PORT: "" })).toBe(8001)
  })

  it("reads a valid port", () => {
    expect(value(config, { PROCESSOR_HTTP_PORT: "18001" })).toBe(18001)
  })

  it.each(["abc", "0", "70000", "80.5", "-1"])("rejects %j and names the variable", (bad) => {
    const message = failure(config, { PROCESSOR_HTTP_PORT: bad })
    expect(message).toContain(`PROCESSOR_HTTP_PORT=${JSON.stringify(bad)}`)
    expect(message).not.toContain("\n")
  })
})

describe("positiveInt", () => {
  const config = positiveInt("MAX_CONCURRENT_TASKS", 10)

  it("defaults and reads", () => {
    expect(value(config, {})).toBe(10)
    expect(value(config, { MAX_CONCURRENT_TASKS: "3" })).toBe(3)
  })

  it.each(["-1", "0", "2.5", "ten"])("rejects %j and names the variable", (bad) => {
    expect(failure(config, { MAX_CONCURRENT_TASKS: bad })).toMatch(/^MAX_CONCURRENT_TASKS="[^"]*": /)
  })

  it("says what is expected", () => {
    expect(failure(config, { MAX_CONCURRENT_TASKS: "-1" })).toBe(
      'MAX_CONCURRENT_TASKS="-1": Expected a value greater than 0',
    )
  })
})

describe("flag", () => {
  const config = flag("DEMO_DATA", false)

  it("defaults and reads the usual spellings", () => {
    expect(value(config, {})).toBe(false)
    for (const yes of ["true", "TRUE", "1", "yes", "on"]) expect(value(config, { DEMO_DATA: yes })).toBe(true)
    for (const no of ["false", "0", "No", "off"]) expect(value(config, { DEMO_DATA: no })).toBe(false)
  })

  it("rejects anything else and names the variable", () => {
    expect(failure(config, { DEMO_DATA: "maybe" })).toBe(
      'DEMO_DATA="maybe": Expected true or false (1/0, yes/no, on/off)',
    )
  })
})

describe("url", () => {
  const config = url("REDIS_URL", ["redis", "rediss"], "redis://127.0.0.1:6379")

  it("defaults and reads", () => {
    expect(value(config, {}).toString()).toBe("redis://127.0.0.1:6379")
    expect(value(config, { REDIS_URL: "rediss://cache:6380/2" }).port).toBe("6380")
  })

  it("rejects another scheme", () => {
    expect(failure(config, { REDIS_URL: "http://x" })).toBe(
      'REDIS_URL="http://x": Expected a URL starting with redis:// or rediss://, got http://',
    )
  })

  it("rejects what is not a URL, without echoing credentials", () => {
    const message = failure(config, { REDIS_URL: "redis://user:secret@:x" })
    expect(message).toMatch(/^REDIS_URL=/)
    expect(message).not.toContain("secret")
  })
})

describe("host and LOG_LEVEL", () => {
  it("defaults the host", () => {
    expect(value(host("HTTP_HOST", "0.0.0.0"), {})).toBe("0.0.0.0")
  })

  it("maps log levels case-insensitively", () => {
    expect(value(logLevel, {})).toBe("Info")
    expect(value(logLevel, { LOG_LEVEL: "WARNING" })).toBe("Warn")
    expect(value(logLevel, { LOG_LEVEL: "debug" })).toBe("Debug")
  })

  it("rejects an unknown level", () => {
    expect(failure(logLevel, { LOG_LEVEL: "loud" })).toMatch(/^LOG_LEVEL="loud": Expected one of trace, debug, info/)
  })
})

describe("formatConfigError", () => {
  it("says when a required variable is missing", () => {
    expect(failure(Config.String("PROCESSOR_GRPC_URL"), {})).toMatch(/^PROCESSOR_GRPC_URL is required but not set/)
  })

  it("names BROKER_URL for an unknown scheme", () => {
    expect(failure(brokerUrlConfig, { BROKER_URL: "foo://x" })).toMatch(/^BROKER_URL .*unknown scheme "foo"/)
  })

  it("is what start-up prints, prefixed", () => {
    const exit = parse(port("GRPC_SERVER_PORT", 50051), { GRPC_SERVER_PORT: "abc" })
    const reason = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    const error = reason?._tag === "Fail" ? reason.error : undefined
    // (the value is looked up in process.env, where it is not set here)
    expect(describeError(error)).toMatch(/^invalid configuration: GRPC_SERVER_PORT\b/)
  })
})
