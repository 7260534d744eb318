/** `RATE_LIMIT_*`: defaults, classes turned off with 0, burst → fixed window, bad values name the variable. */
import { ConfigProvider, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { bucketOf, defaultRateLimits, rateLimitConfig } from "../../../src/ratelimit/config.ts"

const parse = (env: Record<string, string>) =>
  Effect.runSyncExit(rateLimitConfig.parse(ConfigProvider.fromEnv({ env })))

const value = (env: Record<string, string>) => {
  const exit = parse(env)
  if (Exit.isFailure(exit)) throw new Error(`unexpected failure: ${String(exit.cause)}`)
  return exit.value
}

describe("bucketOf", () => {
  it("spends the burst in a window of burst / rate seconds", () => {
    expect(bucketOf(2000, 4000)).toEqual({ points: 4000, windowSeconds: 2 })
    expect(bucketOf(1, 6)).toEqual({ points: 6, windowSeconds: 6 })
    expect(bucketOf(3, 10)).toEqual({ points: 10, windowSeconds: 4 })
  })

  it("defaults the burst to twice the rate; a burst below the rate is the rate", () => {
    expect(bucketOf(10, undefined)).toEqual({ points: 20, windowSeconds: 2 })
    expect(bucketOf(10, 4)).toEqual({ points: 10, windowSeconds: 1 })
  })

  it("takes fractional rates (windows of whole seconds, at least 1)", () => {
    expect(bucketOf(0.5, undefined)).toEqual({ points: 1, windowSeconds: 2 })
    expect(bucketOf(0.1, 1)).toEqual({ points: 1, windowSeconds: 10 })
  })

  it("a rate of 0 is no limit", () => {
    expect(bucketOf(0, 100)).toBeUndefined()
  })
})

describe("rateLimitConfig", () => {
  it("has generous defaults", () => {
    const settings = value({})
    expect(settings.classes.write).toEqual(bucketOf(defaultRateLimits.write.perSecond, defaultRateLimits.write.burst))
    expect(settings.classes.write).toEqual({ points: 4000, windowSeconds: 2 })
    expect(settings.classes.read).toEqual({ points: 10_000, windowSeconds: 2 })
    expect(settings.classes.stream).toEqual({ points: 120_000, windowSeconds: 60 })
    expect(settings.classes.unary).toEqual({ points: 10_000, windowSeconds: 2 })
    expect(settings.streamsPerPrincipal).toBe(100_000)
    expect(settings.storeTimeoutMs).toBe(250)
  })

  it("reads each class; the default burst follows a configured rate", () => {
    const settings = value({
      RATE_LIMIT_WRITE_PER_SECOND: "1",
      RATE_LIMIT_WRITE_BURST: "6",
      RATE_LIMIT_READ_PER_SECOND: "50",
      RATE_LIMIT_STREAMS_PER_PRINCIPAL: "3",
      RATE_LIMIT_STORE_TIMEOUT_MS: "100",
    })
    expect(settings.classes.write).toEqual({ points: 6, windowSeconds: 6 })
    expect(settings.classes.read).toEqual({ points: 100, windowSeconds: 2 })
    expect(settings.streamsPerPrincipal).toBe(3)
    expect(settings.storeTimeoutMs).toBe(100)
  })

  it("0 turns a class or the stream cap off", () => {
    const settings = value({
      RATE_LIMIT_WRITE_PER_SECOND: "0",
      RATE_LIMIT_STREAM_PER_SECOND: "0",
      RATE_LIMIT_STREAMS_PER_PRINCIPAL: "0",
    })
    expect(settings.classes.write).toBeUndefined()
    expect(settings.classes.stream).toBeUndefined()
    expect(settings.classes.read).toBeDefined()
    expect(settings.streamsPerPrincipal).toBe(0)
  })

  it.each([
    ["RATE_LIMIT_WRITE_PER_SECOND", "-1"],
    ["RATE_LIMIT_READ_PER_SECOND", "lots"],
    ["RATE_LIMIT_WRITE_BURST", "0"],
    ["RATE_LIMIT_WRITE_BURST", "2.5"],
    ["RATE_LIMIT_STREAMS_PER_PRINCIPAL", "-3"],
    ["RATE_LIMIT_STORE_TIMEOUT_MS", "0"],
  ])("rejects %s=%j, naming it", (name, bad) => {
    const exit = parse({ [name]: bad })
    expect(Exit.isFailure(exit)).toBe(true)
    expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain(name)
  })
})
