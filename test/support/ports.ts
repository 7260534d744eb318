import { connect, createServer } from "node:net"

/**
 * A TCP port that was free a moment ago: bind port 0, read the port, release it. Another
 * process could grab it in between, which is unlikely enough for tests.
 */
export const freePort = (host = "127.0.0.1"): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === "string") {
        server.close()
        reject(new Error("could not determine a free port"))
        return
      }
      server.close(() => resolve(address.port))
    })
  })

/** `count` distinct free ports. */
export const freePorts = async (count: number, host = "127.0.0.1"): Promise<Array<number>> => {
  const ports = new Set<number>()
  while (ports.size < count) ports.add(await freePort(host))
  return [...ports]
}

/** Whether something accepts TCP connections on `host:port` (false after `timeoutMs`). */
export const acceptsTcp = (host: string, port: number, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
    socket.once("timeout", () => {
      socket.destroy()
      resolve(false)
    })
  })
