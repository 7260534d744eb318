/**
 * End-to-end support: both services as real processes wired to each other, JSON over HTTP, live
 * WatchOrder (gRPC) and SSE readers that keep every event they receive, the topics read back by
 * an independent consumer (`kcat`, a child process), and each service's Redis database seen from
 * outside. Nothing here imports vitest, so the benchmark scripts use it too.
 */
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { shardKeys } from "@dcent/shared/coordination/ShardLeases"
import type { OrderEvent } from "@dcent/shared/generated/dcent/orders/v1/order"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { eventStatusFromProto } from "@dcent/shared/orders/events"
import { Redis as IORedis } from "ioredis"
import { type Channel, createChannel, createClient } from "nice-grpc"
import { streamShardSet } from "../../requestor/src/processor-streams/StreamHolder.ts"
import { freePorts } from "./ports.ts"
import { waitForHttp } from "./processes.ts"
import { kafkaUrl, servers } from "./servers.ts"
import {
  type ClientTls,
  type RunningProcessor,
  type RunningRequestor,
  startProcessor,
  startRequestor,
} from "./services.ts"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** `E2E-3f9c1a2b` style ids: unique per run, valid order/proposal/seller ids everywhere. */
export const uniqueId = (prefix = "E2E") => `${prefix}-${randomUUID().replaceAll("-", "").slice(0, 10)}`

/** `redis://127.0.0.1:6379/<db>`: one database per service proves they share no keys. */
export const redisDbUrl = (db: number) => `redis://${servers.redis.host}:${servers.redis.port}/${db}`

// --- the stack ------------------------------------------------------------------------------------

/** A requestor whose `grpcAddress` is its public WatchOrder server (`REQUESTOR_GRPC_PORT`). */
export type { RunningRequestor } from "./services.ts"

export interface StackOptions {
  /** Redis database of the processor (its keys are `dcent:processor:*`). */
  readonly processorDb: number
  /** Redis database of the requestor (its keys are `dcent:requestor:*`). */
  readonly requestorDb: number
  readonly processorEnv?: Readonly<Record<string, string>>
  readonly requestorEnv?: Readonly<Record<string, string>>
  /** Both services serve TLS (their env sets `TLS_*`): how the test reaches them. */
  readonly tls?: ClientTls
}

export interface Stack {
  readonly processor: RunningProcessor
  readonly requestor: RunningRequestor
  readonly options: StackOptions
}

const processorEnv = (options: StackOptions) => ({
  BROKER_URL: kafkaUrl,
  REDIS_URL: redisDbUrl(options.processorDb),
  LOG_LEVEL: "warning",
  ...options.processorEnv,
})

/**
 * Starts a processor and waits until it is ready (topics created, Redis reachable). `ports`
 * pins its REST and gRPC ports (a restart on the same ports); by default both are free ports.
 */
export const startReadyProcessor = async (
  options: StackOptions,
  ports: { readonly httpPort?: number; readonly grpcPort?: number } = {},
  name = "processor",
): Promise<RunningProcessor> => {
  const [freeHttp, freeGrpc] = (await freePorts(2)) as [number, number]
  // `startProcessor` waits for `/healthz` and for gRPC SERVING (they start side by side).
  const processor = await startProcessor({
    name,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    env: {
      ...processorEnv(options),
      PROCESSOR_HTTP_PORT: String(ports.httpPort ?? freeHttp),
      GRPC_SERVER_PORT: String(ports.grpcPort ?? freeGrpc),
    },
  })
  await waitForHttp(`${processor.httpUrl}/readyz`, {
    process: processor,
    status: 200,
    timeoutMs: 45_000,
    ...(options.tls === undefined ? {} : { ca: options.tls.ca }),
  })
  return processor
}

/**
 * A processor, then a requestor whose `PROCESSOR_GRPC_URL` is that processor's gRPC port and
 * whose public gRPC server (`REQUESTOR_GRPC_PORT`) is on a free port; both ready.
 */
export const startStack = async (options: StackOptions): Promise<Stack> => {
  // Stream shards a killed requestor of an earlier run still holds would keep their orders
  // unheld until the lease expires. Only on the shared Redis: a requestor given a Redis of the
  // test's own (`requestorEnv.REDIS_URL`) must not clear the shards of whichever test runs
  // beside it on database `requestorDb` (make test runs two lanes at once).
  const requestorRedisUrl = options.requestorEnv?.REDIS_URL ?? redisDbUrl(options.requestorDb)
  if (requestorRedisUrl === redisDbUrl(options.requestorDb)) {
    await withRedis(options.requestorDb, (redis) =>
      redis.del(...Object.values(shardKeys(streamShardSet)).map((key) => `dcent:requestor:${key}`)),
    )
  }
  const processor = await startReadyProcessor(options)
  // `startRequestor` puts its public gRPC server on a free port and waits for it (SERVING).
  const requestor = await startRequestor({
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(options.requestorDb),
      PROCESSOR_GRPC_URL: processor.grpcAddress,
      LOG_LEVEL: "warning",
      ...options.requestorEnv,
    },
  })
  await waitForHttp(`${requestor.httpUrl}/readyz`, {
    process: requestor,
    status: 200,
    timeoutMs: 45_000,
    ...(options.tls === undefined ? {} : { ca: options.tls.ca }),
  })
  return { processor, requestor, options }
}

/** Stops both (SIGTERM, then SIGKILL after 10 s); never throws. */
export const stopStack = async (stack: Partial<Stack> | undefined) => {
  await Promise.allSettled([stack?.requestor?.stop(), stack?.processor?.stop()])
}

// --- HTTP -----------------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
export type AnyBody = any

export interface JsonResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: AnyBody
  readonly text: string
}

/** One JSON request; the body is parsed when it is JSON. */
export const http = async (method: string, url: string, body?: unknown): Promise<JsonResponse> => {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed, text }
}

/** `METHOD url → status: body`, for assertion messages. */
export const describeResponse = (response: JsonResponse) => `${response.status}: ${response.text.slice(0, 2000)}`

/** Polls `probe` until `accept` holds; returns the accepted value or throws with the last one. */
export const eventually = async <A>(
  probe: () => Promise<A>,
  accept: (value: A) => boolean,
  { timeoutMs = 20_000, intervalMs = 150, what = "condition" } = {},
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!accept(last)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`)
    }
    await sleep(intervalMs)
    last = await probe()
  }
  return last
}

// --- order events (WatchOrder and SSE) ----------------------------------------------------------------

/** One order event as a client saw it, in one shape for gRPC and SSE. */
export interface SeenEvent {
  readonly seq: number
  readonly status: string
  readonly eventId: string
  readonly proposalId: string
  readonly followUpId: string
  readonly message: string
  readonly occurredAt: string
  readonly details: Readonly<Record<string, string>>
  /** Milliseconds (`performance.now()`) when the client received it. */
  readonly receivedAt: number
}

export interface EventReader {
  /** Every event received so far, in arrival order. */
  readonly events: ReadonlyArray<SeenEvent>
  /** Resolves with the first event (already received or future) matching `predicate`. */
  readonly waitFor: (predicate: (event: SeenEvent) => boolean, what: string, timeoutMs?: number) => Promise<SeenEvent>
  /** Resolves when the server ends the stream (`error` set when it failed instead). */
  readonly ended: Promise<{ readonly clean: boolean; readonly error?: unknown }>
  readonly hasEnded: () => boolean
  /** Cancels the stream (client side). */
  readonly close: () => void
}

const makeReader = (
  run: (deliver: (event: SeenEvent) => void, signal: AbortSignal) => Promise<void>,
  name: string,
): EventReader => {
  const events: Array<SeenEvent> = []
  const waiters = new Set<{ predicate: (event: SeenEvent) => boolean; resolve: (event: SeenEvent) => void }>()
  const controller = new AbortController()
  let done = false
  const deliver = (event: SeenEvent) => {
    events.push(event)
    for (const waiter of [...waiters]) {
      if (waiter.predicate(event)) {
        waiters.delete(waiter)
        waiter.resolve(event)
      }
    }
  }
  const ended = run(deliver, controller.signal).then(
    () => ({ clean: true }),
    (error: unknown) => (controller.signal.aborted ? { clean: false } : { clean: false, error }),
  )
  void ended.then(() => {
    done = true
  })
  const waitFor = (predicate: (event: SeenEvent) => boolean, what: string, timeoutMs = 20_000) => {
    const seen = events.find(predicate)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<SeenEvent>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (event: SeenEvent) => {
          clearTimeout(timer)
          resolve(event)
        },
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        const seen = events.map((event) => `${event.seq}:${event.status}`).join(", ")
        reject(new Error(`${name}: no ${what} within ${timeoutMs} ms (seen: ${seen}; ended: ${done})`))
      }, timeoutMs)
      waiters.add(waiter)
    })
  }
  return { events, waitFor, ended, hasEnded: () => done, close: () => controller.abort() }
}

/** The proto event as a `SeenEvent`. */
export const seenFromProto = (event: OrderEvent, receivedAt = performance.now()): SeenEvent => ({
  seq: Number(event.seq),
  status: eventStatusFromProto(event.streamingResponseStatus) ?? `UNKNOWN(${event.streamingResponseStatus})`,
  eventId: event.eventId,
  proposalId: event.proposalId,
  followUpId: event.followUpId,
  message: event.message,
  occurredAt: event.occurredAt?.toISOString() ?? "",
  details: { ...event.details },
  receivedAt,
})

/** A live `WatchOrder` call on the requestor's public gRPC server, from `fromSeq`. */
export const watchOrder = (address: string, orderReqId: string, fromSeq = 0): EventReader & { channel: Channel } => {
  const channel = createChannel(address)
  const client = createClient(OrderWatchServiceDefinition, channel)
  const reader = makeReader(async (deliver, signal) => {
    try {
      for await (const response of client.watchOrder({ orderReqId, fromSeq }, { signal })) {
        if (response.event === undefined) throw new Error("WatchOrderResponse without an event")
        deliver(seenFromProto(response.event))
      }
    } finally {
      channel.close()
    }
  }, `WatchOrder(${orderReqId})`)
  return Object.assign(reader, { channel })
}

export interface SseFrame {
  readonly id?: string
  readonly event?: string
  readonly data: string
}

/** A live SSE client on `GET {requestorUrl}/api/v1/orders/{id}/events`; also keeps the raw frames. */
export const watchSse = (
  requestorUrl: string,
  orderReqId: string,
  headers: Readonly<Record<string, string>> = {},
): EventReader & { readonly frames: ReadonlyArray<SseFrame>; readonly response: Promise<Response> } => {
  const frames: Array<SseFrame> = []
  let answer: (response: Response) => void = () => {}
  const response = new Promise<Response>((resolve) => {
    answer = resolve
  })
  const reader = makeReader(async (deliver, signal) => {
    const res = await fetch(`${requestorUrl}/api/v1/orders/${encodeURIComponent(orderReqId)}/events`, {
      headers: { accept: "text/event-stream", ...headers },
      signal,
    })
    answer(res)
    if (res.status !== 200 || res.body === null) throw new Error(`SSE answered ${res.status}: ${await res.text()}`)
    const decoder = new TextDecoder()
    let buffer = ""
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true })
      let at = buffer.indexOf("\n\n")
      while (at >= 0) {
        const block = buffer.slice(0, at)
        buffer = buffer.slice(at + 2)
        at = buffer.indexOf("\n\n")
        const fields: Record<string, string> = {}
        for (const line of block.split("\n")) {
          if (line.startsWith(":") || !line.includes(":")) continue
          const colon = line.indexOf(":")
          const name = line.slice(0, colon)
          const value = line.slice(colon + 1).replace(/^ /, "")
          fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value
        }
        if (fields.data === undefined) continue
        const frame: SseFrame = {
          ...(fields.id === undefined ? {} : { id: fields.id }),
          ...(fields.event === undefined ? {} : { event: fields.event }),
          data: fields.data,
        }
        frames.push(frame)
        // The drain's "reconnect elsewhere" signal is a frame, not an order event.
        if (frame.event === "reconnect") continue
        const data = JSON.parse(frame.data) as Record<string, unknown>
        deliver({
          seq: Number(data.Seq),
          status: String(data.Status),
          eventId: String(data.EventID ?? ""),
          proposalId: String(data.ProposalID ?? ""),
          followUpId: String(data.FollowUpID ?? ""),
          message: String(data.Message ?? ""),
          occurredAt: String(data.OccurredAt ?? ""),
          details: (data.Details ?? {}) as Record<string, string>,
          receivedAt: performance.now(),
        })
      }
    }
  }, `SSE(${orderReqId})`)
  return Object.assign(reader, { frames, response })
}

/** The parts of an event both clients must agree on (receipt time aside). */
export const comparable = (event: SeenEvent) => ({
  seq: event.seq,
  status: event.status,
  eventId: event.eventId,
  proposalId: event.proposalId,
  followUpId: event.followUpId,
  message: event.message,
  occurredAt: event.occurredAt,
  details: event.details,
})

// --- topics (kcat) ----------------------------------------------------------------------------------

export interface TopicRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string
  /** Header names and values in order (a name may repeat). */
  readonly headerList: ReadonlyArray<readonly [string, string]>
  readonly headers: Readonly<Record<string, string>>
  readonly raw: string
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON payload, checked field by field
  readonly payload: any
}

interface KcatLine {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly headers?: ReadonlyArray<string> | null
  readonly key: string | null
  readonly payload: string | null
}

/**
 * Every message of `topic` produced since `sinceMs` (epoch ms) whose key is in `keys`, read by
 * an independent consumer: `kcat -C -o s@<sinceMs> -e -J` (no consumer group), sorted by
 * partition and offset (one key lives in one partition, so per-key order is the produce order).
 */
export const readTopic = (
  topic: string,
  keys: ReadonlySet<string>,
  sinceMs: number,
  broker = `${servers.kafka.host}:${servers.kafka.port}`,
): Promise<Array<TopicRecord>> =>
  new Promise((resolve, reject) => {
    const child = spawn("kcat", ["-b", broker, "-C", "-t", topic, "-o", `s@${sinceMs}`, "-e", "-J", "-q"], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      if (code !== 0) {
        reject(new Error(`kcat ${topic} exited ${code}: ${stderr.trim()}`))
        return
      }
      const records: Array<TopicRecord> = []
      for (const line of stdout.split("\n")) {
        if (line.trim() === "") continue
        const parsed = JSON.parse(line) as KcatLine
        if (parsed.key === null || !keys.has(parsed.key)) continue
        const flat = parsed.headers ?? []
        const headerList: Array<readonly [string, string]> = []
        for (let index = 0; index + 1 < flat.length; index += 2) {
          headerList.push([flat[index] as string, flat[index + 1] as string])
        }
        let payload: unknown
        try {
          payload = JSON.parse(parsed.payload ?? "")
        } catch {
          payload = parsed.payload
        }
        records.push({
          topic: parsed.topic,
          partition: parsed.partition,
          offset: parsed.offset,
          key: parsed.key,
          headerList,
          headers: Object.fromEntries(headerList),
          raw: parsed.payload ?? "",
          payload,
        })
      }
      records.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
      resolve(records)
    })
  })

/**
 * Reads `topic` until `enough` holds for this run's messages (bounded), then once more after
 * `settleMs` so that a message arriving late (a duplicate) is seen too.
 */
export const awaitTopic = async (
  topic: string,
  keys: ReadonlySet<string>,
  sinceMs: number,
  enough: (records: ReadonlyArray<TopicRecord>) => boolean,
  { timeoutMs = 30_000, settleMs = 1_000, broker = undefined as string | undefined } = {},
): Promise<Array<TopicRecord>> => {
  const deadline = Date.now() + timeoutMs
  let records = await readTopic(topic, keys, sinceMs, broker)
  while (!enough(records) && Date.now() < deadline) {
    await sleep(500)
    records = await readTopic(topic, keys, sinceMs, broker)
  }
  if (settleMs > 0) {
    await sleep(settleMs)
    records = await readTopic(topic, keys, sinceMs, broker)
  }
  return records
}

// --- Redis ------------------------------------------------------------------------------------------

/** A plain client on one database (no key prefix). */
export const redisClient = async (db: number): Promise<IORedis> => {
  const client = new IORedis(redisDbUrl(db), { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  return client
}

/** Every key of database `db` matching `pattern` (SCAN). */
export const scanKeys = async (db: number, pattern: string): Promise<Array<string>> => {
  const client = await redisClient(db)
  try {
    const keys: Array<string> = []
    let cursor = "0"
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== "0")
    return keys.sort()
  } finally {
    client.disconnect()
  }
}

/** Runs `f` with a client on `db`, then disconnects. */
export const withRedis = async <A>(db: number, f: (client: IORedis) => Promise<A>): Promise<A> => {
  const client = await redisClient(db)
  try {
    return await f(client)
  } finally {
    client.disconnect()
  }
}

// --- geometry ---------------------------------------------------------------------------------------

/** Great-circle distance in km (Redis GEO's earth radius, 6372.797560856 km). */
export const haversineKm = (a: { Lat: number; Lng: number }, b: { Lat: number; Lng: number }): number => {
  const radians = (degrees: number) => (degrees * Math.PI) / 180
  const dLat = radians(b.Lat - a.Lat)
  const dLng = radians(b.Lng - a.Lng)
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(radians(a.Lat)) * Math.cos(radians(b.Lat)) * Math.sin(dLng / 2) ** 2
  return 2 * 6372.797560856 * Math.asin(Math.sqrt(h))
}
