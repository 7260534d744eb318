/**
 * OpenAPI-driven fuzzing with Schemathesis (PyPI, cached venv: `../support/schemathesis.ts`)
 * against both services as real processes with `AUTH_MODE=jwt` and a valid operator token: every
 * operation of each `/openapi.json` (but the SSE stream, which never ends), one run with data
 * valid for the document (`--mode positive`: examples and fuzzing) and one with invalid data
 * (`--mode negative`: the coverage phase, which breaks each constraint in turn), fixed seed.
 *
 * - no response is a 5xx;
 * - invalid data is refused (4xx);
 * - valid data is not "mostly rejected": at most a fifth of it is refused as invalid (400) — the
 *   documents match the servers' validation (`test/unit/openapi.test.ts` checks the same offline).
 *
 * The counts per service and status are printed (and asserted on, never on timing).
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mintToken } from "../../shared/src/auth/tokens.ts"
import { type Stack, startStack, stopStack } from "../support/e2e.ts"
import { ensureSchemathesis } from "../support/schemathesis.ts"

const secret = randomBytes(32).toString("hex")
const reportDir = mkdtempSync(join(tmpdir(), "dcent-fuzz-"))

let stack: Stack
let st: string
let token: string

interface Exchange {
  readonly method: string
  readonly url: string
  readonly status: number
}

interface Har {
  readonly log: {
    readonly entries: ReadonlyArray<{
      readonly request: { readonly method: string; readonly url: string }
      readonly response: { readonly status: number }
    }>
  }
}

/** Runs `st run` against `service`; resolves with every exchange it made (its HAR report). */
const fuzz = (name: string, baseUrl: string, mode: "positive" | "negative") =>
  new Promise<{ readonly exchanges: ReadonlyArray<Exchange>; readonly output: string }>((resolve, reject) => {
    const har = join(reportDir, `${name}-${mode}.har`)
    execFile(
      st,
      [
        "run",
        `${baseUrl}/openapi.json`,
        "--url",
        baseUrl,
        "--header",
        `Authorization: Bearer ${token}`,
        "--checks",
        "not_a_server_error",
        "--mode",
        mode,
        "--phases",
        mode === "positive" ? "examples,fuzzing" : "coverage",
        "--max-examples",
        "12",
        "--seed",
        "20261206",
        "--workers",
        "2",
        "--exclude-path-regex",
        "/events$",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--report",
        "har",
        "--report-har-path",
        har,
        "--no-color",
        "--output-sanitize",
        "true",
      ],
      // In the report folder: schemathesis keeps a cache (`.schemathesis/`) in its working directory.
      {
        cwd: reportDir,
        timeout: 240_000,
        maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, SCHEMATHESIS_HOOKS: "" },
      },
      (error, stdout, stderr) => {
        let parsed: Har
        try {
          parsed = JSON.parse(readFileSync(har, "utf8")) as Har
        } catch (cause) {
          reject(new Error(`no HAR report from schemathesis (${String(cause)}):\n${stdout}\n${stderr}`))
          return
        }
        const exchanges = parsed.log.entries.map((entry) => ({
          method: entry.request.method,
          url: entry.request.url,
          status: entry.response.status,
        }))
        resolve({ exchanges, output: `${error === null ? "" : `${error.message}\n`}${stdout}\n${stderr}` })
      },
    )
  })

const countBy = (exchanges: ReadonlyArray<Exchange>, key: (exchange: Exchange) => string) => {
  const counts: Record<string, number> = {}
  for (const exchange of exchanges) counts[key(exchange)] = (counts[key(exchange)] ?? 0) + 1
  return counts
}

beforeAll(async () => {
  st = ensureSchemathesis()
  token = await mintToken({
    secret,
    sub: "fuzz-operator",
    roles: ["operator"],
    expiresInSeconds: 3600,
    nowMillis: Date.now(),
  })
  const env = { AUTH_MODE: "jwt", AUTH_JWT_SECRET: secret, LOG_LEVEL: "warning" }
  stack = await startStack({ processorDb: 10, requestorDb: 11, processorEnv: env, requestorEnv: env })
}, 600_000)

afterAll(async () => {
  await stopStack(stack)
  rmSync(reportDir, { recursive: true, force: true })
})

describe("OpenAPI-driven fuzzing (schemathesis, AUTH_MODE=jwt, operator token)", () => {
  it.each(["requestor", "processor"] as const)("%s: no 5xx, and valid data is not mostly rejected", async (name) => {
    const valid = await fuzz(name, stack[name].httpUrl, "positive")
    const invalid = await fuzz(name, stack[name].httpUrl, "negative")
    const rejected = valid.exchanges.filter((exchange) => exchange.status === 400).length
    const byStatus = (exchanges: ReadonlyArray<Exchange>) => JSON.stringify(countBy(exchanges, (e) => String(e.status)))
    console.log(
      `[fuzz] ${name}: valid data ${valid.exchanges.length} requests ${byStatus(valid.exchanges)}, ` +
        `refused as invalid (400) ${rejected}; invalid data ${invalid.exchanges.length} requests ${byStatus(invalid.exchanges)}`,
    )
    for (const run of [valid, invalid]) {
      expect(run.exchanges.length, run.output).toBeGreaterThan(50)
      const serverErrors = run.exchanges.filter((exchange) => exchange.status >= 500)
      expect(
        serverErrors.map((exchange) => `${exchange.status} ${exchange.method} ${exchange.url}`),
        run.output,
      ).toEqual([])
    }
    // Invalid data is refused (4xx), never served.
    expect(invalid.exchanges.filter((exchange) => exchange.status >= 400).length).toBeGreaterThan(
      invalid.exchanges.length / 2,
    )
    // Valid data is not "mostly rejected": the documents match the servers' validation.
    expect(rejected / valid.exchanges.length, byStatus(valid.exchanges)).toBeLessThanOrEqual(0.2)
  })
})
