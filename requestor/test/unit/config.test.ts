import { formatConfigError } from "@dcent/shared/config/errors"
import { ConfigProvider, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { requestorConfig } from "../../src/config.ts"

const parse = (env: Record<string, string>) =>
  Effect.runSyncExit(requestorConfig.parse(ConfigProvider.fromEnv({ env })))

describe("requestor configuration", () => {
  it("has the documented defaults", () => {
    const exit = parse({})
    expect(Exit.isSuccess(exit) && exit.value).toEqual({ httpPort: 8000, httpHost: "127.0.0.1" })
  })

  it.each(["abc", "0", "65536"])("rejects REQUESTOR_HTTP_PORT=%s with a message naming it", (bad) => {
    const env = { REQUESTOR_HTTP_PORT: bad }
    const exit = parse(env)
    if (Exit.isSuccess(exit)) throw new Error("expected a configuration error")
    const reason = exit.cause.reasons[0]
    if (reason?._tag !== "Fail") throw new Error("expected a failure")
    expect(formatConfigError(reason.error, env)).toMatch(new RegExp(`^REQUESTOR_HTTP_PORT="${bad}": `))
  })
})
