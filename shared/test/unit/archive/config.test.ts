import { ConfigProvider, Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { archiveConfig, maskDatabaseUrl } from "../../../src/archive/config.ts"

const read = (env: Record<string, string>) =>
  Effect.runPromise(Effect.result(archiveConfig.parse(ConfigProvider.fromEnv({ env }))))

describe("archive settings", () => {
  it("DATABASE_URL unset or empty: no archive; defaults: one day of retention", async () => {
    for (const env of [{}, { DATABASE_URL: "" }] as Array<Record<string, string>>) {
      const result = await read(env)
      expect(result._tag).toBe("Success")
      if (result._tag === "Success") {
        expect(Option.isNone(result.success.databaseUrl)).toBe(true)
        expect(result.success.retentionSeconds).toBe(86_400)
      }
    }
  })

  it("a postgres URL is taken; anything else fails naming DATABASE_URL", async () => {
    const ok = await read({ DATABASE_URL: "postgres://dcent@127.0.0.1:5432/dcent", ORDER_RETENTION_SECONDS: "60" })
    expect(ok._tag === "Success" && Option.getOrUndefined(ok.success.databaseUrl)).toBe(
      "postgres://dcent@127.0.0.1:5432/dcent",
    )
    const bad = await read({ DATABASE_URL: "mysql://x@y/z" })
    expect(bad._tag).toBe("Failure")
    expect(String(bad._tag === "Failure" ? bad.failure : "")).toContain("DATABASE_URL")
    const zero = await read({ ORDER_RETENTION_SECONDS: "0" })
    expect(zero._tag).toBe("Failure")
  })

  it("masks the password of the URL", () => {
    expect(maskDatabaseUrl("postgres://dcent:secret@db:5432/dcent")).toBe("postgres://dcent:***@db:5432/dcent")
  })
})
