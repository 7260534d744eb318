/**
 * A TCP fault proxy on loopback for fault-injection tests: it forwards every connection to the
 * first upstream that accepts it (the next one when an upstream refuses, so a proxy in front of
 * two processors keeps working while one of them is dead) and injects, on demand:
 *
 * - `delay(ms)`: every chunk, both ways, is held `ms` before it is forwarded (order kept);
 * - `cut(ms)`: a blackhole for `ms` — open connections stop carrying bytes (held, then dropped
 *   when the cut ends, as a dead network path would eventually be) and new connections are
 *   refused (accepted and reset at once);
 * - `reset()`: every open connection is reset (TCP RST both ways); new ones work.
 *
 *   const proxy = await startFaultProxy(["127.0.0.1:50051", "127.0.0.1:50061"])
 *   proxy.address  // "127.0.0.1:<port>"  → PROCESSOR_GRPC_URL
 *   proxy.delay(300); ...; proxy.heal()
 */
import { connect, createServer, type Socket } from "node:net"

export interface FaultProxy {
  /** `127.0.0.1:<port>` */
  readonly address: string
  readonly port: number
  /** Added latency per chunk, both ways, until `heal`. */
  readonly delay: (ms: number) => void
  /** Blackhole for `ms` (then heals by itself; open connections are reset at the end). */
  readonly cut: (ms: number) => Promise<void>
  /** RST every open connection. */
  readonly reset: () => number
  /** Back to a plain pipe. */
  readonly heal: () => void
  /** Open client connections. */
  readonly connections: () => number
  readonly close: () => Promise<void>
}

interface Pair {
  readonly client: Socket
  upstream: Socket | undefined
}

const parse = (address: string) => {
  const at = address.lastIndexOf(":")
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) }
}

const resetSocket = (socket: Socket | undefined) => {
  if (socket === undefined || socket.destroyed) return
  socket.resetAndDestroy()
}

export const startFaultProxy = async (upstreams: ReadonlyArray<string>, port = 0): Promise<FaultProxy> => {
  const pairs = new Set<Pair>()
  let delayMs = 0
  let cutUntil = 0
  const isCut = () => Date.now() < cutUntil

  /** Forwards `from` → `to`, holding each chunk `delayMs` (a queue keeps the order). */
  const pipe = (from: Socket, to: Socket) => {
    let chain = Promise.resolve()
    from.on("data", (chunk: Buffer) => {
      if (isCut()) return // a blackhole drops what it gets
      if (delayMs <= 0) {
        chain = chain.then(() => {
          if (!to.destroyed) to.write(chunk)
        })
        return
      }
      const wait = delayMs
      chain = chain.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!to.destroyed && !isCut()) to.write(chunk)
              resolve()
            }, wait),
          ),
      )
    })
    from.on("end", () => {
      void chain.then(() => to.end())
    })
  }

  const openUpstream = (index: number, pair: Pair, pending: Array<Buffer>) => {
    const target = upstreams[index]
    if (target === undefined) {
      resetSocket(pair.client)
      return
    }
    const upstream = connect(parse(target))
    upstream.setNoDelay(true)
    let connected = false
    upstream.once("connect", () => {
      connected = true
      pair.upstream = upstream
      for (const chunk of pending.splice(0)) upstream.write(chunk)
      pair.client.removeAllListeners("data")
      pipe(pair.client, upstream)
      pipe(upstream, pair.client)
    })
    upstream.on("error", () => {
      if (!connected) {
        openUpstream(index + 1, pair, pending)
        return
      }
      resetSocket(pair.client)
    })
    upstream.on("close", () => {
      if (connected) {
        if (!pair.client.destroyed) pair.client.destroy()
        pairs.delete(pair)
      }
    })
  }

  const server = createServer({ noDelay: true }, (client) => {
    if (isCut()) {
      client.on("error", () => {})
      resetSocket(client)
      return
    }
    const pair: Pair = { client, upstream: undefined }
    pairs.add(pair)
    const pending: Array<Buffer> = []
    client.on("data", (chunk: Buffer) => pending.push(chunk))
    client.on("error", () => resetSocket(pair.upstream))
    client.on("close", () => {
      if (pair.upstream !== undefined && !pair.upstream.destroyed) pair.upstream.destroy()
      pairs.delete(pair)
    })
    openUpstream(0, pair, pending)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port }, () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("fault proxy: no port")

  const reset = () => {
    const count = pairs.size
    for (const pair of [...pairs]) {
      resetSocket(pair.client)
      resetSocket(pair.upstream)
      pairs.delete(pair)
    }
    return count
  }

  return {
    address: `127.0.0.1:${address.port}`,
    port: address.port,
    delay: (ms) => {
      delayMs = ms
    },
    cut: async (ms) => {
      cutUntil = Date.now() + ms
      await new Promise((resolve) => setTimeout(resolve, ms))
      // Connections that lived through the blackhole have lost bytes both ways: a real path
      // would time them out; reset them so both ends notice now.
      reset()
    },
    reset,
    heal: () => {
      delayMs = 0
      cutUntil = 0
    },
    connections: () => pairs.size,
    close: async () => {
      reset()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
