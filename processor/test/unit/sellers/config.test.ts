import { formatConfigError } from "@dcent/shared/config/errors"
import { ConfigProvider, Effect, Exit, Option } from "effect"
import { describe, expect, it } from "vitest"
import { sellersConfig } from "../../../src/sellers/config.ts"

const parse = (env: Record<string, string>) => Effect.runSyncExit(sellersConfig.parse(ConfigProvider.fromEnv({ env })))

const failureMessage = (env: Record<string, string>) => {
  const exit = parse(env)
  if (Exit.isSuccess(exit)) throw new Error("expected a configuration error")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error("expected a failure")
  return formatConfigError(reason.error, env)
}

describe("seller selection configuration", () => {
  it("has the documented defaults", () => {
    const exit = parse({})
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      findMaxSel: 10,
      maxSellerDistanceKm: Option.none(),
      distanceApiUrl: Option.none(),
      distanceApiTimeoutMs: 2000,
    })
  })

  it("reads the environment", () => {
    const exit = parse({
      FIND_MAX_SEL: "5",
      MAX_SELLER_DISTANCE_KM: "25.5",
      DISTANCE_API_URL: "https://distances.example/v1/matrix?key=k",
      DISTANCE_API_TIMEOUT_MS: "750",
    })
    expect(Exit.isSuccess(exit) && exit.value).toEqual({
      findMaxSel: 5,
      maxSellerDistanceKm: Option.some(25.5),
      distanceApiUrl: Option.some("https://distances.example/v1/matrix?key=k"),
      distanceApiTimeoutMs: 750,
    })
  })

  it("treats empty optional variables as unset", () => {
    const exit = parse({ MAX_SELLER_DISTANCE_KM: "", DISTANCE_API_URL: " " })
    expect(Exit.isSuccess(exit) && exit.value).toMatchObject({
      maxSellerDistanceKm: Option.none(),
      distanceApiUrl: Option.none(),
    })
  })

  it.each([
    ["MAX_SELLER_DISTANCE_KM", "-5"],
    ["MAX_SELLER_DISTANCE_KM", "0"],
    ["MAX_SELLER_DISTANCE_KM", "ten"],
    ["DISTANCE_API_URL", "not a url"],
    ["DISTANCE_API_URL", "ftp://distances.example"],
    ["DISTANCE_API_TIMEOUT_MS", "0"],
    ["DISTANCE_API_TIMEOUT_MS", "1.5"],
    ["FIND_MAX_SEL", "0"],
  ])("rejects %s=%s with a message naming the variable", (name, bad) => {
    expect(failureMessage({ [name]: bad }).startsWith(`${name}=${JSON.stringify(bad)}: `)).toBe(true)
  })
})
