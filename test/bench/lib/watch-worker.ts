/**
 * A watcher process of the load generator (forked by `watchers.ts`): holds many `WatchOrder`
 * streams (nice-grpc, several per HTTP/2 connection) and SSE connections (undici), checks each
 * watcher's seqs (no repeat, no step back, no gap), timestamps every event it receives and
 * reports them in batches. Several of these share the holding of tens of thousands of streams,
 * which one Node process on a small machine cannot do alone.
 *
 * A watcher whose stream fails resumes after its last seq, like a buyer app (1–2 s later).
 */
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { eventStatusFromProto } from "@dcent/shared/orders/events"
import { type Channel, ClientError, createChannel, createClient, Metadata, Status } from "nice-grpc"
import { Agent, request } from "undici"
import { nowMs, opIdOf } from "./ops.ts"
import type { ChannelIntegrity, FromWorker, OpenMessage, ToWorker, WorkerStats } from "./watch-protocol.ts"

const controller = new AbortController()
let closing = false
const integrity: Array<ChannelIntegrity> = [
  { duplicates: 0, regressions: 0, gaps: 0 },
  { duplicates: 0, regressions: 0, gaps: 0 },
]
const errors = new Map<string, number>()
const stats = { started: 0, firstEvents: 0, connected: 0, reconnects: 0 }
let deliveries: Array<number> = []
let firsts: Array<number> = []
let lastSeq = new Int32Array(0)
let running: Array<Promise<void>> = []

const send = (message: FromWorker) =>
  new Promise<void>((resolve) => {
    if (process.send === undefined) resolve()
    else process.send(message, undefined, {}, () => resolve())
  })

const countError = (label: string) => errors.set(label, (errors.get(label) ?? 0) + 1)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const snapshot = (): WorkerStats => ({ ...stats })

/** One event seen by watcher `w` on `channel`. */
const deliver = (w: number, channel: number, seq: number, status: string, price: string | undefined) => {
  if (closing) return // after the summary: not reported anywhere
  const at = nowMs()
  const last = lastSeq[w] as number
  const check = integrity[channel] as ChannelIntegrity
  const opId = opIdOf(status, price)
  if (last === 0) {
    firsts.push(channel, at)
    stats.firstEvents += 1
  }
  if (seq === last) {
    // A submission's event seen twice is counted by the bench against the submission.
    if (opId < 0) check.duplicates += 1
  } else if (seq < last) check.regressions += 1
  else {
    if (seq > last + 1) check.gaps += 1
    lastSeq[w] = seq
  }
  if (opId >= 0) deliveries.push(opId, channel, at)
}

/** A gRPC status name, an undici / system error code (`UND_ERR_SOCKET`, `ECONNRESET`), or the error's name. */
const describe = (error: unknown) => {
  if (error instanceof ClientError) return Status[error.code] ?? String(error.code)
  const code = (error as { code?: unknown }).code
  if (typeof code === "string") return code
  return error instanceof Error ? error.name : String(error)
}

// --- gRPC ----------------------------------------------------------------------------------------------

const channels = new Map<string, Channel>()
const channelFor = (address: string, group: number) => {
  const key = `${address}#${group}`
  let channel = channels.get(key)
  if (channel === undefined) {
    // Its own connection: channels with the same options would otherwise share one subchannel.
    channel = createChannel(address, undefined, { "grpc.use_local_subchannel_pool": 1 })
    channels.set(key, channel)
  }
  return channel
}

const watchGrpc = async (w: number, orderReqId: string, channel: Channel, authorization: string | undefined) => {
  const client = createClient(OrderWatchServiceDefinition, channel)
  const metadata = authorization === undefined ? undefined : Metadata({ authorization })
  while (!closing) {
    let connected = false
    try {
      const stream = client.watchOrder(
        { orderReqId, fromSeq: lastSeq[w] as number },
        { signal: controller.signal, ...(metadata === undefined ? {} : { metadata }) },
      )
      for await (const response of stream) {
        if (!connected) {
          connected = true
          stats.connected += 1
        }
        const event = response.event
        if (event === undefined) continue
        deliver(w, 0, Number(event.seq), eventStatusFromProto(event.streamingResponseStatus) ?? "", event.details.Price)
      }
      return // the order ended (OrderFinalised)
    } catch (error) {
      if (closing) return
      countError(`WatchOrder ${describe(error)}`)
    } finally {
      if (connected) stats.connected -= 1
    }
    stats.reconnects += 1
    await sleep(1_000 + Math.random() * 1_000)
  }
}

// --- SSE -----------------------------------------------------------------------------------------------

const agent = new Agent({ connections: null, headersTimeout: 30_000, bodyTimeout: 0, keepAliveTimeout: 60_000 })

/** Parses the complete `\n\n`-terminated frames of `buffer`; returns what remains. */
const parseFrames = (w: number, buffer: string): string => {
  let rest = buffer
  let end = rest.indexOf("\n\n")
  while (end >= 0) {
    const block = rest.slice(0, end)
    rest = rest.slice(end + 2)
    end = rest.indexOf("\n\n")
    let event = ""
    let data = ""
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim()
      else if (line.startsWith("data:")) data += line.slice(5).trim()
    }
    if (data === "" || event === "reconnect") continue
    const parsed = JSON.parse(data) as { Seq: number; Status: string; Details?: Record<string, string> }
    deliver(w, 1, Number(parsed.Seq), String(parsed.Status), parsed.Details?.Price)
  }
  return rest
}

const watchSse = async (w: number, orderReqId: string, requestorUrl: string, authorization: string | undefined) => {
  const url = `${requestorUrl}/api/v1/orders/${encodeURIComponent(orderReqId)}/events`
  while (!closing) {
    let connected = false
    try {
      const last = lastSeq[w] as number
      const { statusCode, body } = await request(url, {
        dispatcher: agent,
        headers: {
          accept: "text/event-stream",
          ...(last > 0 ? { "last-event-id": String(last) } : {}),
          ...(authorization === undefined ? {} : { authorization }),
        },
        signal: controller.signal,
      })
      if (statusCode !== 200) {
        await body.dump().catch(() => {})
        if (statusCode === 204) return // finalised, nothing after the last seq
        countError(`SSE ${statusCode}`)
      } else {
        connected = true
        stats.connected += 1
        body.setEncoding("utf8")
        let buffer = ""
        for await (const chunk of body) buffer = parseFrames(w, buffer + chunk)
        if (closing) return
        countError("SSE ended")
      }
    } catch (error) {
      if (closing) return
      countError(`SSE ${describe(error)}`)
    } finally {
      if (connected) stats.connected -= 1
    }
    stats.reconnects += 1
    await sleep(1_000 + Math.random() * 1_000)
  }
}

// --- control -------------------------------------------------------------------------------------------

/** Starts the watchers at `openRate` per second. */
const open = async (message: OpenMessage) => {
  const first = lastSeq.length
  const total = first + message.orders.length
  const grown = new Int32Array(total)
  grown.set(lastSeq)
  lastSeq = grown
  const perTick = Math.max(1, Math.round(message.openRate / 50))
  let grpcIndex = 0
  for (let index = 0; index < message.orders.length; index += 1) {
    if (closing) return
    const w = first + index
    const orderId = message.orderIds[message.orders[index] as number] as string
    const target = message.targets[index] as number
    if (message.channels[index] === 0) {
      const address = message.watchAddresses[target] as string
      const channel = channelFor(address, Math.floor(grpcIndex / message.streamsPerChannel))
      grpcIndex += 1
      running.push(watchGrpc(w, orderId, channel, message.authorization))
    } else running.push(watchSse(w, orderId, message.requestorUrls[target] as string, message.authorization))
    stats.started += 1
    if ((index + 1) % perTick === 0) await sleep(20)
  }
}

const flush = async () => {
  const batch = { deliveries, firsts }
  deliveries = []
  firsts = []
  await send({ t: "batch", ...batch, stats: snapshot() })
}

const flusher = setInterval(() => void flush(), 100)

/** Reports first (tearing down tens of thousands of streams takes a while), then closes everything and exits. */
const close = async () => {
  closing = true
  clearInterval(flusher)
  await flush()
  await send({ t: "summary", integrity, errors: Object.fromEntries(errors), stats: snapshot() })
  controller.abort()
  await Promise.race([Promise.allSettled(running), sleep(5_000)])
  running = []
  for (const channel of channels.values()) channel.close()
  await agent.destroy().catch(() => {})
  process.exit(0)
}

process.on("message", (message: ToWorker) => {
  if (message.t === "open") void open(message)
  else if (message.t === "close") void close()
})
// The bench went away: nothing left to report to.
process.on("disconnect", () => process.exit(0))
