import { connect } from "node:net"
import { portIsFree } from "@dcent/shared/http/acceptors"
import { Effect } from "effect"

/**
 * Ports handed to test servers come from below the kernel's ephemeral range (Linux 32768–60999,
 * macOS 49152–65535): a port taken by binding port 0 and released again was sometimes reused by
 * an outgoing connection (the other `make test` lane's clients) before the service bound it
 * (`EADDRINUSE`). Each lane of `scripts/test.sh` has its own half, so the two never hand out the
 * same port; within a lane the files run one after the other, and a port is handed out again
 * only after the cursor went round the whole range.
 */
const laneRanges: Record<string, readonly [number, number]> = {
  "own-infra": [20_000, 26_383],
  "shared-infra": [26_384, 32_767],
}
const [low, high] = laneRanges[process.env.DCENT_TEST_LANE ?? ""] ?? [20_000, 32_767]
/** A random start, so two runs of one lane on a machine rarely walk the same ports. */
let cursor = low + Math.floor(Math.random() * (high - low + 1))

/** Whether `port` can be bound on `host` right now (the services' own check, released again at once). */
const bindable = (host: string, port: number): Promise<boolean> =>
  Effect.runPromise(portIsFree(host, port)).then(
    () => true,
    () => false,
  )

/** A TCP port of this lane's range that was free a moment ago. */
export const freePort = async (host = "127.0.0.1"): Promise<number> => {
  for (let tried = 0; tried <= high - low; tried++) {
    const port = cursor
    cursor = cursor >= high ? low : cursor + 1
    if (await bindable(host, port)) return port
  }
  throw new Error(`no free port between ${low} and ${high}`)
}

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
