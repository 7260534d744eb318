/**
 * Clients for the requestor's integration tests: the requestor as a real process wired to a
 * fake processor, JSON over HTTP, SSE and WatchOrder readers, the topics on the real Kafka, and
 * the requestor's Redis seen from outside.
 */
import { randomUUID } from "node:crypto"
import { Broker, type BrokerMessage } from "@dcent/shared/broker/Broker"
import { BrokerKafka } from "@dcent/shared/broker/kafka"
import { Topics } from "@dcent/shared/broker/topics"
import { shardKeys } from "@dcent/shared/coordination/ShardLeases"
import type { OrderEvent } from "@dcent/shared/generated/dcent/orders/v1/order"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { eventStatusFromProto } from "@dcent/shared/orders/events"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import { createChannel, createClient } from "nice-grpc"
import {
  allLiveOrdersKeys,
  eventsKey,
  liveOrdersKeyFor,
  orderKey,
  requestorPrefix,
} from "../../../test/support/redisKeys.ts"
import { kafkaUrl, servers } from "../../../test/support/servers.ts"
import { type RunningRequestor, startRequestor } from "../../../test/support/services.ts"
import { streamShardSet } from "../../src/processor-streams/StreamHolder.ts"

/** The Redis database of the requestor integration tests (keeps their `live-orders` apart). */
export const testRedisDb = 11
export const testRedisUrl = `redis://${servers.redis.host}:${servers.redis.port}/${testRedisDb}`

export const uniqueId = (label: string) => `T-${label}-${randomUUID().slice(0, 8)}`

export type TestRequestor = RunningRequestor

/** A requestor wired to `processorAddress`, its public gRPC on a free port (`grpcAddress`). */
export const startTestRequestor = (
  processorAddress: string,
  env: Readonly<Record<string, string>> = {},
  name = "requestor",
): Promise<TestRequestor> =>
  startRequestor({
    name,
    env: {
      BROKER_URL: kafkaUrl,
      REDIS_URL: testRedisUrl,
      PROCESSOR_GRPC_URL: processorAddress,
      SSE_HEARTBEAT_SECONDS: "1",
      ...env,
    },
  })

// --- HTTP -----------------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type AnyBody = any

export interface JsonResponse<T = AnyBody> {
  readonly status: number
  readonly headers: Headers
  readonly body: T
}

export const request = async (
  method: string,
  url: string,
  body?: unknown,
  init: { readonly raw?: string; readonly headers?: Record<string, string> } = {},
): Promise<JsonResponse<AnyBody>> => {
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...init.headers },
    ...(init.raw !== undefined ? { body: init.raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed }
}

export const post = (url: string, body?: unknown) => request("POST", url, body)
export const put = (url: string, body?: unknown) => request("PUT", url, body)
export const get = (url: string) => request("GET", url)

/** Polls `probe` until `accept` holds; returns the last value. */
export const eventually = async <A>(
  probe: () => Promise<A>,
  accept: (value: A) => boolean,
  { timeoutMs = 15_000, what = "condition" }: { readonly timeoutMs?: number; readonly what?: string } = {},
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await probe()
  }
  return last
}

// --- SSE ------------------------------------------------------------------------------------------

export interface SseEvent {
  readonly id?: string
  readonly event?: string
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON
  readonly data: any
}

export interface SseResult {
  readonly status: number
  readonly contentType: string | null
  readonly events: ReadonlyArray<SseEvent>
  readonly comments: ReadonlyArray<string>
  /** True when the server ended the response (as opposed to us stopping after `count` events). */
  readonly ended: boolean
}

/**
 * Reads `GET {url}` as server-sent events until the server ends the response, `count` events
 * arrived, or `timeoutMs` passed.
 */
export const readSse = async (
  url: string,
  options: { readonly count?: number; readonly timeoutMs?: number; readonly headers?: Record<string, string> } = {},
): Promise<SseResult> => {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000)
  const events: Array<SseEvent> = []
  const comments: Array<string> = []
  let ended = false
  const response = await fetch(url, {
    headers: { accept: "text/event-stream", ...options.headers },
    signal: controller.signal,
  })
  try {
    if (response.status !== 200 || response.body === null) {
      return {
        status: response.status,
        contentType: response.headers.get("content-type"),
        events,
        comments,
        ended: true,
      }
    }
    const decoder = new TextDecoder()
    let buffer = ""
    const reader = response.body.getReader()
    try {
      while (options.count === undefined || events.length < options.count) {
        const { value, done } = await reader.read()
        if (done) {
          ended = true
          break
        }
        buffer += decoder.decode(value, { stream: true })
        let at = buffer.indexOf("\n\n")
        while (at >= 0) {
          const block = buffer.slice(0, at)
          buffer = buffer.slice(at + 2)
          at = buffer.indexOf("\n\n")
          const fields: Record<string, string> = {}
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) comments.push(line.slice(1).trim())
            else if (line.includes(":")) {
              const colon = line.indexOf(":")
              fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "")
            }
          }
          if (fields.data !== undefined) {
            events.push({
              ...(fields.id === undefined ? {} : { id: fields.id }),
              ...(fields.event === undefined ? {} : { event: fields.event }),
              data: JSON.parse(fields.data),
            })
          }
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error
    } finally {
      reader.cancel().catch(() => {})
    }
    return { status: response.status, contentType: response.headers.get("content-type"), events, comments, ended }
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}

// --- WatchOrder -------------------------------------------------------------------------------------

export interface WatchResult {
  readonly events: ReadonlyArray<{
    readonly seq: number
    readonly status: string | undefined
    readonly event: OrderEvent
  }>
  readonly ended: boolean
  readonly error?: unknown
}

/** Reads `WatchOrder` until the server ends it, `count` events arrived, or `timeoutMs` passed. */
export const watchOrder = async (
  address: string,
  orderReqId: string,
  fromSeq: number,
  options: { readonly count?: number; readonly timeoutMs?: number } = {},
): Promise<WatchResult> => {
  const channel = createChannel(address)
  const client = createClient(OrderWatchServiceDefinition, channel)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000)
  const events: Array<WatchResult["events"][number]> = []
  try {
    for await (const response of client.watchOrder({ orderReqId, fromSeq }, { signal: controller.signal })) {
      const event = response.event as OrderEvent
      events.push({ seq: event.seq, status: eventStatusFromProto(event.streamingResponseStatus), event })
      if (options.count !== undefined && events.length >= options.count) return { events, ended: false }
    }
    return { events, ended: true }
  } catch (error) {
    if (controller.signal.aborted) return { events, ended: false }
    return { events, ended: false, error }
  } finally {
    clearTimeout(timer)
    controller.abort()
    channel.close()
  }
}

// --- topics -----------------------------------------------------------------------------------------

export interface TopicMessage {
  readonly topic: string
  readonly key: string
  readonly headers: Record<string, string>
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON
  readonly payload: any
}

export interface TopicWatcher {
  /** Messages whose key starts with `keyPrefix`. */
  readonly messages: (topic: string, key: string) => ReadonlyArray<TopicMessage>
  readonly close: () => Promise<void>
}

/** Consumes the requestor's four topics from the beginning (fresh group), keeping this run's keys. */
export const watchTopics = async (keyPrefix: string): Promise<TopicWatcher> => {
  const received: Array<TopicMessage> = []
  const decoder = new TextDecoder()
  const scope = Effect.runSync(Scope.make())
  const broker = Layer.buildWithScope(
    BrokerKafka.layer({ servers: [`${servers.kafka.host}:${servers.kafka.port}`], url: kafkaUrl }),
    scope,
  )
  const group = `requestor-test-${randomUUID().slice(0, 8)}`
  await Effect.runPromise(
    Effect.gen(function* () {
      const context = yield* broker
      const kafka = Context.get(context, Broker)
      for (const topic of [
        Topics.BuyerAcknowledgements,
        Topics.BuyerNotify,
        Topics.BuyerFollowUp,
        Topics.RequestFailures,
      ]) {
        const subscription = yield* kafka
          .subscribe({
            subject: `${topic}.>`,
            group,
            fromBeginning: true,
            handler: (message: BrokerMessage) =>
              Effect.sync(() => {
                if (!message.key.startsWith(keyPrefix)) return
                received.push({
                  topic: message.topic,
                  key: message.key,
                  headers: { ...message.headers },
                  payload: JSON.parse(decoder.decode(message.payload)),
                })
              }),
          })
          .pipe(Scope.provide(scope))
        yield* subscription.ready
      }
    }) as Effect.Effect<void, unknown>,
  )
  return {
    messages: (topic, key) => received.filter((message) => message.topic === topic && message.key === key),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

// --- Redis ------------------------------------------------------------------------------------------

/** The requestor's Redis database, without prefix (keys are `dcent:requestor:...`). */
export const testRedis = async () => {
  const client = new IORedis(testRedisUrl, { lazyConnect: true })
  await client.connect()
  return client
}

/**
 * Takes orders of crashed earlier runs (submitted more than an hour ago) out of `live-orders`, so
 * a new requestor does not resume them; runs going on concurrently keep theirs.
 */
export const dropStaleLiveOrders = async () => {
  const client = await testRedis()
  try {
    // Stream shards a killed requestor of an earlier run still holds would keep their orders
    // unheld until the lease expires.
    await client.del(...Object.values(shardKeys(streamShardSet)).map((key) => `dcent:requestor:${key}`))
    const cutoff = new Date(Date.now() - 60 * 60 * 1000).toISOString()
    const live = (await Promise.all(allLiveOrdersKeys(requestorPrefix).map((key) => client.smembers(key)))).flat()
    for (const id of live) {
      const submittedAt = await client.hget(orderKey(requestorPrefix, id), "submittedAt")
      if (submittedAt === null || submittedAt < cutoff) await cleanOrders([id])
    }
  } finally {
    client.disconnect()
  }
}

/** Removes the test orders' keys, `live-orders` entries and follow-up records. */
export const cleanOrders = async (ids: ReadonlyArray<string>) => {
  const client = await testRedis()
  try {
    for (const id of ids) {
      await client.del(orderKey(requestorPrefix, id), eventsKey(requestorPrefix, id))
      await client.srem(liveOrdersKeyFor(requestorPrefix, id), id)
    }
    const orders = new Set(ids)
    let cursor = "0"
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", "dcent:requestor:followup:*", "COUNT", 1000)
      cursor = next
      for (const key of keys) {
        const value = await client.get(key)
        const orderReqId = value === null ? undefined : (JSON.parse(value) as { orderReqId?: string }).orderReqId
        if (orderReqId !== undefined && orders.has(orderReqId)) await client.del(key)
      }
    } while (cursor !== "0")
  } finally {
    client.disconnect()
  }
}
