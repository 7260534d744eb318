/**
 * More than one listening socket per HTTP server, so a busy service still accepts connections
 * at the rate they arrive.
 *
 * Since libuv 1.45 (Node 20+), a listening socket accepts ONE connection per event-loop
 * iteration (libuv/libuv#3696; nodejs/node#57364). A service under load runs iterations of tens of
 * milliseconds, so it accepted ~30 connections/s: in `make bench-overload` the 2,048 clients that
 * connected at the start of the overload waited up to 24 s in the kernel's accept queue (`ss -ltn`
 * Recv-Q 1,400), their first request unseen by admission control, then answered 201 in
 * milliseconds — the generator's admitted p99 of 5–24 s. With `count` sockets bound to the same
 * address (`SO_REUSEPORT`, the kernel spreads connections over them) each iteration accepts up to
 * `count` connections; every socket hands its connections to the one HTTP server.
 *
 * `SO_REUSEPORT` would also let a second service started on the same port share it silently, so
 * a port given explicitly is first bound alone (`portIsFree`): in use, the service fails to start
 * with `EADDRINUSE` as before.
 */
import { createServer, type Server as NetServer } from "node:net"
import { Effect } from "effect"

/** Only Linux spreads connections over the sockets of one port; elsewhere the server listens once. */
export const reusePortSupported = process.platform === "linux"

/** Listening sockets a server gets for `configured` (`HTTP_ACCEPTORS`) on this platform. */
export const acceptorCount = (configured: number): number => (reusePortSupported ? Math.max(1, configured) : 1)

/** Fails with the listen error (`EADDRINUSE`, ...) when `host:port` cannot be bound by this process alone; port 0 always can. */
export const portIsFree = (host: string, port: number): Effect.Effect<void, Error> =>
  port === 0
    ? Effect.void
    : Effect.callback<void, Error>((resume) => {
        const probe = createServer()
        probe.once("error", (error) => resume(Effect.fail(error)))
        probe.listen({ host, port, exclusive: true }, () => probe.close(() => resume(Effect.void)))
      })

/**
 * Once `server` listens (with `reusePort`), binds `count - 1` more sockets to its address, each
 * handing its connections to `server` (`connection` is how Node's HTTP and TLS servers take a
 * socket). `server.close()` closes them too and calls back when all are closed. Resolves with the
 * number of sockets listening once each extra one is bound or gave up.
 */
export const addAcceptors = (server: NetServer, count: number, backlog: number): Promise<number> => {
  if (count <= 1) return Promise.resolve(1)
  const acceptors: Array<NetServer> = []
  let closed = false
  const bound = new Promise<number>((resolve) =>
    server.once("listening", () => {
      const address = server.address()
      if (address === null || typeof address === "string") return resolve(1)
      const joined = Array.from({ length: count - 1 }, () => {
        const acceptor = createServer({ noDelay: true }, (socket) => server.emit("connection", socket))
        acceptors.push(acceptor)
        return new Promise<boolean>((joinedOrNot) => {
          // A socket that cannot join leaves the others serving; the first socket always serves.
          acceptor.once("error", () => joinedOrNot(false))
          acceptor.listen({ host: address.address, port: address.port, backlog, reusePort: true }, () =>
            joinedOrNot(true),
          )
        })
      })
      void Promise.all(joined).then((results) => {
        if (closed) for (const acceptor of acceptors) if (acceptor.listening) acceptor.close()
        resolve(1 + results.filter(Boolean).length)
      })
    }),
  )
  const close = server.close.bind(server)
  server.close = ((callback?: (error?: Error) => void) => {
    closed = true
    const acceptorsClosed = acceptors.map(
      (acceptor) => new Promise<void>((resolve) => (acceptor.listening ? acceptor.close(() => resolve()) : resolve())),
    )
    close((error?: Error) => {
      void Promise.all(acceptorsClosed).then(() => callback?.(error))
    })
    return server
  }) as NetServer["close"]
  return bound
}
