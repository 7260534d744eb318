/**
 * The Node server's own refusals (`src/http/earlyRefusal.ts`) on a real server at port 0: while
 * the limiter would refuse, a request is answered 503 `overloaded` + `Retry-After` without the
 * server's handler seeing it, its unread body is discarded and the connection serves the next
 * request; probes and `/metrics` still reach the handler; once a slot frees, requests do too.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Agent, request } from "undici"
import { afterEach, describe, expect, it } from "vitest"
import { makeLimiter } from "../../../src/admission/Limiter.ts"
import { makeEarlyRefusal } from "../../../src/http/earlyRefusal.ts"
import { AdmissionEntries } from "../../../src/metrics/catalogue.ts"

const servers: Array<Server> = []
const agents: Array<Agent> = []
afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.close()
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve))
})

const start = async () => {
  const seen: Array<string> = []
  const server = createServer((incoming, response) => {
    seen.push(incoming.url ?? "")
    incoming.resume()
    incoming.on("end", () => response.end("handled"))
  })
  servers.push(server)
  const early = makeEarlyRefusal()
  early.install(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  // One connection: the refusal must leave it usable for the next request.
  const agent = new Agent({ connections: 1, pipelining: 1 })
  agents.push(agent)
  const send = async (path: string, body?: string) => {
    const response = await request(`http://127.0.0.1:${port}${path}`, {
      method: body === undefined ? "GET" : "POST",
      dispatcher: agent,
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
    })
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() }
  }
  return { early, seen, send }
}

describe("early refusal", () => {
  it("answers 503 overloaded + Retry-After from the request event while every slot is taken and the queue is full", async () => {
    const { early, seen, send } = await start()
    const limiter = makeLimiter({ entry: AdmissionEntries.Http, maxInFlight: 1, maxQueue: 0, retryAfterSeconds: 3 })
    const recorded: Array<string> = []
    early.attach(limiter, (method) => recorded.push(method))
    expect(limiter.tryAcquire()).toBeUndefined()

    const refused = await send("/api/v1/orders", JSON.stringify({ large: "x".repeat(64 * 1024) }))
    expect(refused.status).toBe(503)
    expect(refused.headers["retry-after"]).toBe("3")
    expect(refused.headers["content-type"]).toBe("application/json")
    const body = JSON.parse(refused.text) as {
      error: { code: string; details: Array<{ path: string; problem: string }> }
    }
    expect(body.error.code).toBe("overloaded")
    expect(body.error.details).toEqual([{ path: "http", problem: expect.stringContaining("1 already in flight") }])
    expect(seen).toEqual([])
    expect(recorded).toEqual(["POST"])

    // The probes and the scrape are never refused; the same connection carries them.
    for (const path of ["/healthz", "/readyz", "/metrics?x=1"]) expect((await send(path)).status).toBe(200)
    expect(seen).toEqual(["/healthz", "/readyz", "/metrics?x=1"])

    // A slot frees: requests reach the handler again.
    limiter.release()
    expect(await send("/api/v1/orders", "{}")).toMatchObject({ status: 200, text: "handled" })
    expect(recorded).toEqual(["POST"])
  })

  it("lets the request through while the limiter would still queue it, and before a limiter is attached", async () => {
    const { early, seen, send } = await start()
    expect((await send("/api/v1/orders")).status).toBe(200)
    const limiter = makeLimiter({ entry: AdmissionEntries.Http, maxInFlight: 1, maxQueue: 1 })
    early.attach(limiter)
    expect(limiter.tryAcquire()).toBeUndefined()
    // All slots taken, but the queue has room: the middleware decides (it would queue).
    expect(limiter.refuseIfFull()).toBeUndefined()
    expect((await send("/api/v1/orders")).status).toBe(200)
    expect(seen).toEqual(["/api/v1/orders", "/api/v1/orders"])
  })
})
