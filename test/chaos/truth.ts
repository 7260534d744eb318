/**
 * What really happened, read independently once the faults have stopped:
 *
 * - the processor's order log: `LastSeq` of `GET /api/v1/orders/{id}` (every event it committed);
 * - the requestor's buyer-facing log: a fresh `WatchOrder` from seq 0 (event ids and details);
 * - every message of the eight topics with the run's order keys, read by `kcat` as a consumer of
 *   its own (no consumer group, from the run's start time to the end of each partition).
 */
import { spawn } from "node:child_process"
import { Topics } from "@dcent/shared/broker/topics"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { createChannel, createClient } from "nice-grpc"
import { type SeenEvent, seenFromProto, sleep } from "../support/e2e.ts"

/** Every event of the order in the requestor's log, from seq 1 (bounded: stops after `idleMs` without events). */
export const readOrderLog = async (address: string, orderReqId: string, idleMs = 1_500): Promise<Array<SeenEvent>> => {
  const events: Array<SeenEvent> = []
  const channel = createChannel(address)
  const client = createClient(OrderWatchServiceDefinition, channel)
  const controller = new AbortController()
  let timer = setTimeout(() => controller.abort(), idleMs * 4)
  try {
    for await (const response of client.watchOrder({ orderReqId, fromSeq: 0 }, { signal: controller.signal })) {
      if (response.event !== undefined) events.push(seenFromProto(response.event))
      clearTimeout(timer)
      timer = setTimeout(() => controller.abort(), idleMs)
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error
  } finally {
    clearTimeout(timer)
    channel.close()
  }
  return events
}

/** The processor's `LastSeq` for the order (retried: a replica may be restarting). */
export const processorLastSeq = async (urls: ReadonlyArray<string>, orderReqId: string): Promise<number> => {
  let last = ""
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const response = await fetch(`${urls[attempt % urls.length]}/api/v1/orders/${orderReqId}`, {
        signal: AbortSignal.timeout(5_000),
      })
      if (response.status === 200) return Number(((await response.json()) as { LastSeq: number }).LastSeq)
      last = `${response.status}: ${await response.text()}`
      if (response.status === 404) return 0
    } catch (error) {
      last = String(error)
    }
    await sleep(500)
  }
  throw new Error(`processor order ${orderReqId}: ${last}`)
}

/** `dcent_outbox_pending_entries` of a service (its outbox streams, shared by its replicas). */
const outboxPending = async (url: string): Promise<number> => {
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })
  const text = await response.text()
  const line = text.split("\n").find((row) => row.startsWith("dcent_outbox_pending_entries"))
  if (response.status !== 200 || line === undefined) throw new Error(`${url}/metrics: ${response.status}`)
  return Number(line.slice(line.lastIndexOf(" ") + 1))
}

/**
 * Waits until the outboxes of the services at `urls` are empty (everything committed was
 * published and acknowledged) or `timeoutMs` passed, so the topics are read once the relays are
 * done. The bound is above the relays' claim period (5 s: a relay reads its own pending entries
 * again) and below their claim idle time (30 s): an entry left with a relay that never saw it
 * still counts as missing.
 */
export const outboxesEmptied = async (
  urls: ReadonlyArray<string>,
  timeoutMs = 15_000,
): Promise<{ readonly afterMs: number; readonly left: Record<string, number> }> => {
  const started = Date.now()
  let left: Record<string, number> = {}
  while (true) {
    left = {}
    for (const url of urls) {
      left[url] = await outboxPending(url).catch(() => Number.NaN)
    }
    const afterMs = Date.now() - started
    if (Object.values(left).every((pending) => pending === 0) || afterMs >= timeoutMs) return { afterMs, left }
    await sleep(250)
  }
}

export interface TopicMessage {
  readonly topic: string
  readonly key: string
  readonly eventId: string
  readonly headerEventId: string
  readonly timestampMs: number
}

interface KcatLine {
  readonly topic: string
  readonly key: string | null
  readonly ts?: number
  readonly headers?: ReadonlyArray<string> | null
  readonly payload: string | null
}

/** Every message of `topic` since `sinceMs` whose key is in `keys` (`kcat -C -e -J`). */
export const readTopic = (
  broker: string,
  topic: string,
  keys: ReadonlySet<string>,
  sinceMs: number,
): Promise<Array<TopicMessage>> =>
  new Promise((resolve, reject) => {
    const child = spawn("kcat", ["-b", broker, "-C", "-t", topic, "-o", `s@${sinceMs}`, "-e", "-J", "-q"], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    const messages: Array<TopicMessage> = []
    let buffer = ""
    let stderr = ""
    const take = (line: string) => {
      if (line.trim() === "") return
      const parsed = JSON.parse(line) as KcatLine
      if (parsed.key === null || !keys.has(parsed.key)) return
      const flat = parsed.headers ?? []
      let headerEventId = ""
      for (let index = 0; index + 1 < flat.length; index += 2) {
        if (flat[index] === "event-id") headerEventId = String(flat[index + 1])
      }
      let eventId = ""
      try {
        eventId = String((JSON.parse(parsed.payload ?? "{}") as { EventID?: string }).EventID ?? "")
      } catch {}
      messages.push({ topic: parsed.topic, key: parsed.key, eventId, headerEventId, timestampMs: parsed.ts ?? 0 })
    }
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk
      let at = buffer.indexOf("\n")
      while (at >= 0) {
        take(buffer.slice(0, at))
        buffer = buffer.slice(at + 1)
        at = buffer.indexOf("\n")
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      take(buffer)
      if (code !== 0) reject(new Error(`kcat ${topic} exited ${code}: ${stderr.trim()}`))
      else resolve(messages)
    })
  })

export const allTopics: ReadonlyArray<string> = Object.values(Topics)

export const readAllTopics = async (broker: string, keys: ReadonlySet<string>, sinceMs: number) =>
  (await Promise.all(allTopics.map((topic) => readTopic(broker, topic, keys, sinceMs)))).flat()
