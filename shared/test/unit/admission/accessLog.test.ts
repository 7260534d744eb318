/**
 * Access logs are off the info level: `serveApi` no longer writes Effect's info line per request
 * ("Sent HTTP response"); its own access log (`accessLog`) writes one debug line per request with
 * method, path (no query), status and duration, and nothing at all below debug.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, type LogLevel, References, Schema, Scope } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { freePort } from "../../../../test/support/ports.ts"
import { accessLog } from "../../../src/http/accessLog.ts"
import { serveApi } from "../../../src/http/server.ts"
import { lineLogger } from "../../../src/runtime/logging.ts"

/** A json line logger at `level` that keeps the lines in `lines`. */
const capturing = (level: LogLevel.LogLevel) => {
  const lines: Array<Record<string, unknown>> = []
  const layer = Layer.mergeAll(
    Logger.layer([Logger.map(lineLogger("json"), (line) => lines.push(JSON.parse(line)))]),
    Layer.succeed(References.MinimumLogLevel, level),
  )
  return { lines, layer }
}

const request = (url: string) =>
  Layer.succeed(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(new Request(url)))

describe("accessLog", () => {
  it.effect("writes one debug line per request: method, path without the query, status, duration", () =>
    Effect.gen(function* () {
      const { lines, layer } = capturing("Debug")
      const response = yield* accessLog(Effect.succeed(HttpServerResponse.empty({ status: 201 }))).pipe(
        Effect.provide(Layer.mergeAll(layer, request("http://test/api/v1/orders?token=secret"))),
      )
      expect(response.status).toBe(201)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({
        level: "debug",
        message: "http request",
        "http.method": "GET",
        "http.url": "/api/v1/orders",
        "http.status": 201,
      })
      expect(typeof lines[0]?.["http.duration_ms"]).toBe("number")
    }),
  )

  it.effect("writes nothing below debug", () =>
    Effect.gen(function* () {
      const { lines, layer } = capturing("Info")
      yield* accessLog(Effect.succeed(HttpServerResponse.empty({ status: 200 }))).pipe(
        Effect.provide(Layer.mergeAll(layer, request("http://test/healthz"))),
      )
      expect(lines).toEqual([])
    }),
  )
})

class PingApi extends HttpApiGroup.make("ping").add(
  HttpApiEndpoint.get("ping", "/ping", { success: Schema.Struct({ pong: Schema.Boolean }) }),
) {}
class TestApi extends HttpApi.make("access-log-test").add(PingApi) {}
const handlers = HttpApiBuilder.group(TestApi, "ping", (h) => h.handle("ping", () => Effect.succeed({ pong: true })))

/** Serves TestApi with the logger at `level`, sends two requests, returns the log lines. */
const linesOfTwoRequests = async (level: LogLevel.LogLevel) => {
  const { lines, layer } = capturing(level)
  const port = await freePort()
  const scope = Effect.runSync(Scope.make())
  try {
    await Effect.runPromise(
      Layer.build(serveApi(TestApi, handlers, { host: "127.0.0.1", port, shutdownTimeout: "1 second" })).pipe(
        Effect.provide(layer),
        Scope.provide(scope),
      ),
    )
    expect((await fetch(`http://127.0.0.1:${port}/ping`)).status).toBe(200)
    expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  return lines.filter((line) => line.message !== `Listening on http://127.0.0.1:${port}`)
}

describe("serveApi's access log", () => {
  it("writes no line per request at info level (Effect's info-level logger is off)", async () => {
    const lines = await linesOfTwoRequests("Info")
    expect(lines.filter((line) => "http.status" in line || line.message === "Sent HTTP response")).toEqual([])
  })

  it("writes one debug line per request at debug level", async () => {
    const lines = (await linesOfTwoRequests("Debug")).filter((line) => line.message === "http request")
    expect(lines.map((line) => [line.level, line["http.url"], line["http.status"]])).toEqual([
      ["debug", "/ping", 200],
      ["debug", "/nowhere", 404],
    ])
  })
})
