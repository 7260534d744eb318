/**
 * The k6 scripts (`k6/`, run by users; k6 itself is not installed here) cannot drift from the
 * API: every body they send is built in `k6/lib/bodies.ts`, and each builder's output is decoded
 * with the request schema of the endpoint it is sent to (found in the services' `HttpApi`), plus
 * the handler's own rule for the initiate. The scripts type-check against `@types/k6`.
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Exit, Schema } from "effect"
import { HttpApi } from "effect/http-api"
import { describe, expect, it } from "vitest"
import * as bodies from "../../k6/lib/bodies.ts"
import { ProcessorApi } from "../../processor/src/http/Api.ts"
import { RequestorApi } from "../../requestor/src/http/Api.ts"
import { InitiateBody, toInitiateCommand } from "../../requestor/src/orders/schemas.ts"

const root = fileURLToPath(new URL("../..", import.meta.url))
const k6 = join(root, "k6")

/** The decoded payload of `method path` on `api`, or the reason it is refused. */
const decodePayload = (api: unknown, method: string, path: string, body: unknown): string | undefined => {
  let schemas: ReadonlyArray<Schema.Top> | undefined
  HttpApi.reflect(api as never, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      if (endpoint.method === method && endpoint.path === path) {
        schemas = endpoint.payload.get("application/json")?.schemas
      }
    },
  })
  if (schemas === undefined) return `no JSON payload for ${method} ${path}`
  const schema = (schemas.length === 1 ? schemas[0] : Schema.Union(schemas as never)) as Schema.Codec<unknown, unknown>
  const exit = Schema.decodeUnknownExit(schema)(JSON.parse(JSON.stringify(body)), { errors: "all" })
  return Exit.isSuccess(exit) ? undefined : String(exit.cause)
}

const runId = "k6test"
const order = "k6test-REST-1-0"

describe("k6 request bodies against the services' schemas", () => {
  it("POST /api/v1/sellers (processor)", () => {
    expect(decodePayload(ProcessorApi, "POST", "/api/v1/sellers", bodies.sellersBody(runId, 5))).toBeUndefined()
  })

  it("POST /api/v1/initiate (requestor), inline details complete", () => {
    const body = bodies.initiateBody(runId, order)
    expect(decodePayload(RequestorApi, "POST", "/api/v1/initiate", body)).toBeUndefined()
    const command = toInitiateCommand(Schema.decodeUnknownSync(InitiateBody)(body))
    expect(command._tag).toBe("Success")
  })

  it("POST /api/v1/proposal-submissions (processor), first and updated", () => {
    for (const price of [1000, 1010.5]) {
      const body = bodies.proposalBody(order, bodies.sellerIdOf(runId, 0), `${order}-P1`, price)
      expect(decodePayload(ProcessorApi, "POST", "/api/v1/proposal-submissions", body)).toBeUndefined()
    }
  })

  it("POST /api/v1/followup: the buyer's (requestor) and the seller's (processor)", () => {
    const buyer = bodies.buyerFollowUpBody(order, [`${order}-P1`, `${order}-P2`], `${order}-BFU`)
    expect(decodePayload(RequestorApi, "POST", "/api/v1/followup", buyer)).toBeUndefined()
    const seller = bodies.sellerFollowUpBody(order, bodies.sellerIdOf(runId, 0), `${order}-P1`, `${order}-SFU1`)
    expect(decodePayload(ProcessorApi, "POST", "/api/v1/followup", seller)).toBeUndefined()
  })

  it("PUT /api/v1/finalize/:OrderReqID (requestor)", () => {
    const body = bodies.finaliseBody(`${order}-P1`, `${order}-FIN`)
    expect(decodePayload(RequestorApi, "PUT", "/api/v1/finalize/:OrderReqID", body)).toBeUndefined()
  })

  it("the ids the scripts build are valid order, proposal and transaction ids", () => {
    // The longest: RUN_ID's default (k6 + base-36 time), a 4-digit VU, a 6-digit iteration.
    const longest = `k6${Date.now().toString(36)}-GRPC-9999-999999`
    const body = bodies.proposalBody(longest, bodies.sellerIdOf(runId, 0), `${longest}-P3`, 1)
    expect(decodePayload(ProcessorApi, "POST", "/api/v1/proposal-submissions", body)).toBeUndefined()
  })

  it("every POST/PUT of the scripts sends a body built by k6/lib/bodies.ts", () => {
    const files = [
      ...readdirSync(k6).filter((name) => name.endsWith(".ts")),
      ...readdirSync(join(k6, "lib")).map((name) => `lib/${name}`),
    ]
    const builders = new Set(Object.keys(bodies))
    let sends = 0
    for (const file of files) {
      const source = readFileSync(join(k6, file), "utf8")
      const calls = [...source.matchAll(/http\.(post|put|patch|del|request)\(/g)].length
      const built = [...source.matchAll(/http\.(?:post|put)\(\s*`[^`]*`,\s*json\(\s*(\w+)\(/g)].map((match) => match[1])
      expect(built.length, `${file}: ${calls} sends, ${built.length} with a body from bodies.ts`).toBe(calls)
      for (const builder of built) expect(builders, file).toContain(builder)
      sends += calls
    }
    expect(sends).toBeGreaterThanOrEqual(6)
  })

  it("the scripts type-check against @types/k6 (tsc -p k6)", () => {
    const result = spawnSync(join(root, "node_modules/.bin/tsc"), ["-p", "k6/tsconfig.json"], {
      cwd: root,
      encoding: "utf8",
    })
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0)
  }, 120_000)
})
