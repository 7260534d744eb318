/**
 * The circuit breaker of `makeGuard` against a real local HTTP server that fails, then recovers:
 * Closed → Open (calls rejected without reaching the server) → HalfOpen (one probe goes through,
 * a concurrent call is rejected) → Closed when the probe succeeds, Open again when it fails.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Fiber } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { describeFailure, isCircuitRejection, makeGuard } from "../../../src/resilience/Resilience.ts"

/** What the server answers now; `delayMs` holds the answer (a slow probe). */
const behaviour = { status: 503, delayMs: 0 }
let requests = 0
let server: Server
let url: string

beforeAll(async () => {
  server = createServer((_request, response) => {
    requests += 1
    setTimeout(() => {
      response.writeHead(behaviour.status, { "content-type": "application/json" })
      response.end("{}")
    }, behaviour.delayMs)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const policy = {
  attemptTimeout: "2 seconds",
  retries: 0,
  retryBaseDelay: "10 millis",
  failureThreshold: 2,
  openDuration: "300 millis",
} as const

describe("circuit breaker against a real HTTP server", () => {
  it("opens after failures, half-opens for one probe, closes when the server recovers and re-opens when it fails again", async () => {
    const outcome = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const guard = yield* makeGuard(policy)
          const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
          const call = guard.run("hook", client.get(url)).pipe(
            Effect.as("ok"),
            Effect.catch((error) => Effect.succeed(isCircuitRejection(error) ? "rejected" : describeFailure(error))),
          )
          const state = () => guard.state("hook").pipe(Effect.map((s) => s._tag))
          const log: Array<[string, string, number]> = []
          const step = (label: string, result: string) =>
            Effect.map(state(), (s) => {
              log.push([label, `${result} → ${s}`, requests])
            })

          behaviour.status = 503
          yield* step("failure 1", yield* call)
          yield* step("failure 2", yield* call)
          yield* step("while open", yield* call)

          // The server recovers; after the open time one slow probe goes through.
          behaviour.status = 200
          behaviour.delayMs = 200
          yield* Effect.sleep("350 millis")
          const probe = yield* Effect.forkChild(call)
          yield* Effect.sleep("50 millis")
          yield* step("during the probe", yield* call)
          yield* step("the probe", yield* Fiber.join(probe))
          behaviour.delayMs = 0
          yield* step("closed again", yield* call)

          // Fails again: opens; a failed probe keeps it open.
          behaviour.status = 500
          yield* call
          yield* step("failure 2 again", yield* call)
          yield* Effect.sleep("350 millis")
          yield* step("failed probe", yield* call)
          yield* step("after the failed probe", yield* call)
          return log
        }).pipe(Effect.provide(FetchHttpClient.layer)),
      ),
    )
    expect(outcome).toEqual([
      ["failure 1", "HTTP 503 → Closed", 1],
      ["failure 2", "HTTP 503 → Open", 2],
      ["while open", "rejected → Open", 2],
      ["during the probe", "rejected → HalfOpen", 3],
      ["the probe", "ok → Closed", 3],
      ["closed again", "ok → Closed", 4],
      ["failure 2 again", "HTTP 500 → Open", 6],
      ["failed probe", "HTTP 500 → Open", 7],
      ["after the failed probe", "rejected → Open", 7],
    ])
  })
})
