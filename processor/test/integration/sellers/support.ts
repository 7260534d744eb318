/**
 * Real-Redis helpers for the seller tests: every test gets its own key prefix
 * (`test:sellers:<random>:`), deleted afterwards.
 */
import { randomUUID } from "node:crypto"
import { Redis } from "@dcent/shared/redis/Redis"
import { Effect, Layer, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { redisUrl } from "../../../../test/support/servers.ts"

export const testPrefix = (label: string) => `test:${label}:${randomUUID().slice(0, 12)}:`

/** A `Redis` service on the real server, connected when the layer is built. */
export const redisLayer = (keyPrefix: string): Layer.Layer<Redis> =>
  Layer.effect(
    Redis,
    Effect.gen(function* () {
      const redis = yield* Redis.make(new URL(redisUrl), { keyPrefix })
      yield* redis.ping.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }))
      return redis
    }),
  ).pipe(Layer.orDie)

/** A client without prefix, for looking at the keys from outside. */
export const rawClient = async () => {
  const client = new IORedis(redisUrl, { lazyConnect: true })
  await client.connect()
  return client
}

/** Deletes every key under `keyPrefix`. */
export const deleteKeys = async (keyPrefix: string) => {
  const client = await rawClient()
  try {
    let cursor = "0"
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== "0")
  } finally {
    client.disconnect()
  }
}

/** A request the fake server received. */
export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly body: string
}

export type FakeReply =
  | { readonly status: number; readonly json?: unknown; readonly delayMs?: number }
  /** Never answer (the client must time out). */
  | "hang"

export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly requests: Array<ReceivedRequest>
  /** Most requests that were open at the same time. */
  readonly maxInFlight: () => number
  /** Decides the answer to each request (by default 200 `{}`). */
  reply: (request: ReceivedRequest, index: number) => FakeReply
  readonly close: () => Promise<void>
}

/** A real HTTP server on 127.0.0.1 and a free port, answering as `reply` says. */
export const startFakeServer = async (reply?: FakeServer["reply"]): Promise<FakeServer> => {
  const { createServer } = await import("node:http")
  let inFlight = 0
  let maxInFlight = 0
  const timers = new Set<NodeJS.Timeout>()
  const fake: FakeServer = {
    origin: "",
    requests: [],
    maxInFlight: () => maxInFlight,
    reply: reply ?? (() => ({ status: 200, json: {} })),
    close: async () => {
      for (const timer of timers) clearTimeout(timer)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const request: ReceivedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      }
      const index = fake.requests.length
      fake.requests.push(request)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      res.on("close", () => {
        inFlight--
      })
      const answer = fake.reply(request, index)
      if (answer === "hang") return
      const send = () => {
        res.writeHead(answer.status, { "content-type": "application/json" })
        res.end(JSON.stringify(answer.json ?? {}))
      }
      if (answer.delayMs === undefined) send()
      else {
        const timer = setTimeout(() => {
          timers.delete(timer)
          send()
        }, answer.delayMs)
        timers.add(timer)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("fake server has no port")
  return Object.assign(fake, { origin: `http://127.0.0.1:${address.port}` })
}
