/**
 * Several listening sockets per HTTP server (`acceptors.ts`), on real servers and real sockets.
 *
 * The first case pins down why they exist: Node (libuv ≥ 1.45) accepts one connection per
 * event-loop iteration and socket. With a loop kept busy, many clients connecting at once are
 * accepted one per iteration by a single socket, several per iteration by the acceptors. The
 * others check what a service relies on: every connection is served by the one server, a taken
 * port still fails the start with `EADDRINUSE`, and closing the server frees the port.
 */
import { createServer, request, type Server } from "node:http"
import { connect, type Socket } from "node:net"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { afterEach, describe, expect, it } from "vitest"
import { freePort } from "../../../../test/support/ports.ts"
import { addAcceptors, portIsFree, reusePortSupported } from "../../../src/http/acceptors.ts"
import { defaultHttpLimits } from "../../../src/http/limits.ts"
import { serveApi } from "../../../src/http/server.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const listen = (server: Server, reusePort: boolean) =>
  new Promise<number>((resolve) =>
    server.listen({ host: "127.0.0.1", port: 0, backlog: 4096, reusePort }, () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : 0)
    }),
  )

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

/** Resolves once `condition()` holds, checked after each event-loop turn. */
const until = (condition: () => boolean) =>
  new Promise<void>((resolve) => {
    const check = () => (condition() ? resolve() : setImmediate(check))
    check()
  })

/**
 * Opens `clients` connections at once to a server whose loop stays busy (`busyMs` of work per
 * iteration) and returns the most connections it accepted within one iteration.
 */
const mostAcceptedPerIteration = async (acceptors: number, clients: number, busyMs = 5) => {
  const server = createServer((_, response) => response.end("ok"))
  const bound = addAcceptors(server, acceptors, 4096)
  const port = await listen(server, acceptors > 1)
  expect(await bound).toBe(acceptors)
  let acceptedThisIteration = 0
  let most = 0
  let accepted = 0
  server.on("connection", () => {
    accepted += 1
    acceptedThisIteration += 1
    most = Math.max(most, acceptedThisIteration)
  })
  let spinning = true
  const spin = () => {
    acceptedThisIteration = 0
    const end = performance.now() + busyMs
    while (performance.now() < end) {}
    if (spinning) setImmediate(spin)
  }
  const sockets: Array<Socket> = Array.from({ length: clients }, () => connect(port, "127.0.0.1"))
  setImmediate(spin)
  await until(() => accepted >= clients)
  spinning = false
  for (const socket of sockets) socket.destroy()
  await closeServer(server)
  return most
}

describe.runIf(reusePortSupported)("HTTP acceptors", () => {
  it("a busy server accepts one connection per event-loop iteration with one socket, several with acceptors", async () => {
    expect(await mostAcceptedPerIteration(1, 200)).toBe(1)
    expect(await mostAcceptedPerIteration(16, 200)).toBeGreaterThan(1)
  })

  it("every connection, whichever socket accepted it, is served by the one HTTP server", async () => {
    let served = 0
    const server = createServer((_, response) => {
      served += 1
      response.end("ok")
    })
    const bound = addAcceptors(server, 8, 4096)
    const port = await listen(server, true)
    cleanups.push(() => closeServer(server))
    expect(await bound).toBe(8)
    const get = () =>
      new Promise<number>((resolve, reject) => {
        // A new connection each: `agent: false`.
        const call = request({ host: "127.0.0.1", port, path: "/", agent: false }, (response) => {
          response.resume()
          response.on("end", () => resolve(response.statusCode ?? 0))
        })
        call.on("error", reject)
        call.end()
      })
    const statuses = await Promise.all(Array.from({ length: 100 }, get))
    expect(statuses).toEqual(Array.from({ length: 100 }, () => 200))
    expect(served).toBe(100)
  })

  class PingApi extends HttpApiGroup.make("ping").add(
    HttpApiEndpoint.get("ping", "/ping", { success: Schema.Struct({ ok: Schema.Boolean }) }),
  ) {}
  class TestApi extends HttpApi.make("acceptors-test").add(PingApi) {}
  const handlers = HttpApiBuilder.group(TestApi, "ping", (h) => h.handle("ping", () => Effect.succeed({ ok: true })))

  const serve = (port: number) =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const exit = yield* Layer.build(
        serveApi(TestApi, handlers, {
          host: "127.0.0.1",
          port,
          shutdownTimeout: "1 second",
          limits: { ...defaultHttpLimits, acceptors: 8 },
        }),
      ).pipe(Scope.provide(scope), Effect.exit)
      return { scope, exit }
    })

  it("a service started on a port another service holds fails with EADDRINUSE; once closed, the port is free", async () => {
    const port = await freePort()
    const first = await Effect.runPromise(serve(port))
    expect(Exit.isSuccess(first.exit)).toBe(true)
    const answer = await fetch(`http://127.0.0.1:${port}/ping`)
    expect(await answer.json()).toEqual({ ok: true })

    const second = await Effect.runPromise(serve(port))
    await Effect.runPromise(Scope.close(second.scope, Exit.void))
    expect(Exit.isFailure(second.exit)).toBe(true)
    expect(JSON.stringify(Exit.isFailure(second.exit) ? second.exit.cause : "")).toContain("EADDRINUSE")

    await Effect.runPromise(Scope.close(first.scope, Exit.void))
    // Every socket of the first service is closed: the port binds alone again.
    await expect(Effect.runPromise(portIsFree("127.0.0.1", port))).resolves.toBeUndefined()
  })
})
