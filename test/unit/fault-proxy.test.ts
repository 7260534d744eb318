/**
 * The chaos suite's TCP fault proxy (test/support/faultProxy.ts) on loopback with an echo server:
 * it forwards, fails over to the next upstream, resets connections, refuses during a cut.
 */
import { connect, createServer, type Server, type Socket } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type FaultProxy, startFaultProxy } from "../support/faultProxy.ts"
import { freePort } from "../support/ports.ts"

const servers: Array<Server> = []
const proxies: Array<FaultProxy> = []

const echoServer = async (): Promise<string> => {
  const server = createServer((socket) => {
    socket.on("error", () => {}) // the proxy resets it
    socket.pipe(socket)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, () => resolve()))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no port")
  return `127.0.0.1:${address.port}`
}

const proxyTo = async (upstreams: ReadonlyArray<string>) => {
  const proxy = await startFaultProxy(upstreams)
  proxies.push(proxy)
  return proxy
}

/** Connects, sends `text`, resolves with what comes back (or how the connection ended). */
const roundTrip = (port: number, text: string) =>
  new Promise<string>((resolve) => {
    const socket: Socket = connect({ host: "127.0.0.1", port })
    let received = ""
    socket.on("connect", () => socket.write(text))
    socket.on("data", (chunk) => {
      received += chunk.toString()
      if (received.length >= text.length) {
        socket.end()
        resolve(received)
      }
    })
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(`error:${error.code}`))
    socket.on("close", () => resolve(received === "" ? "closed" : received))
  })

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()))
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

describe("fault proxy", () => {
  it("forwards bytes both ways", async () => {
    const proxy = await proxyTo([await echoServer()])
    expect(await roundTrip(proxy.port, "hello")).toBe("hello")
  })

  it("fails over to the next upstream when the first refuses", async () => {
    const dead = `127.0.0.1:${await freePort()}`
    const proxy = await proxyTo([dead, await echoServer()])
    expect(await roundTrip(proxy.port, "still here")).toBe("still here")
  })

  it("forwards with added delay, in order", async () => {
    const proxy = await proxyTo([await echoServer()])
    proxy.delay(20)
    expect(await roundTrip(proxy.port, "slow but whole")).toBe("slow but whole")
  })

  it("resets open connections", async () => {
    const proxy = await proxyTo([await echoServer()])
    const socket = connect({ host: "127.0.0.1", port: proxy.port })
    const ended = new Promise<string>((resolve) => {
      socket.on("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)))
      socket.on("close", () => resolve("closed"))
    })
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
    socket.write("x")
    await new Promise<void>((resolve) => socket.once("data", () => resolve()))
    expect(proxy.reset()).toBe(1)
    expect(await ended).toBe("ECONNRESET")
  })

  it("refuses new connections during a cut, and works again after it", async () => {
    const proxy = await proxyTo([await echoServer()])
    const cut = proxy.cut(300)
    expect(await roundTrip(proxy.port, "lost")).toMatch(/^(error:ECONNRESET|closed)$/)
    await cut
    expect(await roundTrip(proxy.port, "back")).toBe("back")
  })
})
