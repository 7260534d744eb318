/**
 * Reads back the messages of one key on some topics (the operator's "an order's messages"): for
 * each topic, only the key's partition (murmur2, as the producers partition), from
 * max(low watermark, high − `maxPerPartition`) up to the high watermark at the time of the call,
 * with a consumer that is assigned those positions directly (no group join, nothing committed).
 */
import { randomUUID } from "node:crypto"
import { KafkaJS, RdKafka } from "@confluentinc/kafka-javascript"
import { Effect } from "effect"
import type { BrokerMessage, KeyReadOptions } from "./Broker.ts"
import { BrokerError, type BrokerUnavailable } from "./errors.ts"
import { classify, commonConfig, fromKafkaHeaders, type ResolvedKafkaOptions } from "./kafka-client.ts"

/** Kafka's `Utils.murmur2` (what librdkafka's `murmur2_random` partitioner uses for non-null keys). */
export const murmur2 = (data: Uint8Array): number => {
  const m = 0x5bd1e995
  const length = data.length
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data[i]! & 0xff) | ((data[i + 1]! & 0xff) << 8) | ((data[i + 2]! & 0xff) << 16) | ((data[i + 3]! & 0xff) << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const rest = length & 3
  if (rest === 3) h ^= (data[whole + 2]! & 0xff) << 16
  if (rest >= 2) h ^= (data[whole + 1]! & 0xff) << 8
  if (rest >= 1) {
    h ^= data[whole]! & 0xff
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

export const partitionOfKey = (key: string, partitions: number) =>
  (murmur2(new TextEncoder().encode(key)) & 0x7fffffff) % partitions

interface Range {
  readonly topic: string
  readonly partition: number
  readonly from: number
  /** Exclusive. */
  readonly to: number
}

export const makeKafkaKeyReader =
  (admin: KafkaJS.Admin, options: ResolvedKafkaOptions) =>
  (
    topics: ReadonlyArray<string>,
    key: string,
    { maxPerPartition = 50_000, timeoutMs = 10_000 }: KeyReadOptions = {},
  ): Effect.Effect<ReadonlyArray<BrokerMessage>, BrokerError | BrokerUnavailable> =>
    Effect.gen(function* () {
      const ranges = yield* Effect.tryPromise({
        try: () =>
          Promise.all(
            topics.map(async (topic): Promise<Range | undefined> => {
              const offsets = await admin.fetchTopicOffsets(topic, {
                timeout: options.requestTimeoutMs,
                isolationLevel: KafkaJS.IsolationLevel.READ_UNCOMMITTED,
              })
              const partition = partitionOfKey(key, offsets.length)
              const end = offsets.find((entry) => entry.partition === partition)
              if (end === undefined) return undefined
              const to = Number(end.high)
              const from = Math.max(Number(end.low), to - maxPerPartition)
              return from < to ? { topic, partition, from, to } : undefined
            }),
          ),
        catch: classify(options.url, "readKey"),
      })
      const wanted = ranges.filter((range): range is Range => range !== undefined)
      if (wanted.length === 0) return []
      return yield* Effect.callback<ReadonlyArray<BrokerMessage>, BrokerError>((resume) => {
        const consumer = new RdKafka.KafkaConsumer(
          {
            // The connection settings every client of this broker uses (servers, timeouts, security).
            ...(commonConfig(options) as RdKafka.ConsumerGlobalConfig),
            "client.id": `${options.clientId}-key-reader`,
            "group.id": `dcent-key-reader-${randomUUID()}`,
            "enable.auto.commit": false,
            "enable.partition.eof": true,
            ...options.consumerConfig,
          },
          { "auto.offset.reset": "earliest" },
        )
        const found: Array<BrokerMessage> = []
        const open = new Map(wanted.map((range) => [`${range.topic}/${range.partition}`, range]))
        const ended = new Set<string>()
        let done = false
        const finish = (error?: string) => {
          if (done) return
          done = true
          clearTimeout(timer)
          consumer.disconnect(() => undefined)
          if (error === undefined) resume(Effect.succeed(found))
          else resume(Effect.fail(new BrokerError({ operation: "readKey", reason: error })))
        }
        const timer = setTimeout(() => finish(`not read within ${timeoutMs} ms`), timeoutMs)
        const take = (message: RdKafka.Message) => {
          const range = open.get(`${message.topic}/${message.partition}`)
          if (range === undefined) return
          if (message.offset < range.to && message.key?.toString("utf8") === key) {
            found.push({
              subject: `${message.topic}.${key}`,
              topic: message.topic,
              key,
              headers: fromKafkaHeaders(Object.assign({}, ...(message.headers ?? [])) as KafkaJS.IHeaders),
              payload: message.value ?? new Uint8Array(0),
              position: `${message.partition}:${message.offset}:${message.timestamp ?? ""}`,
              redelivered: false,
            })
          }
          if (message.offset + 1 >= range.to) open.delete(`${message.topic}/${message.partition}`)
        }
        const poll = () => {
          if (done) return
          if (open.size === 0) return finish()
          consumer.consume(500, (error, messages) => {
            if (done) return
            if (error) return finish(error.message)
            for (const message of messages) take(message)
            // The end reported by the fetcher may come before the batch holding the last messages.
            if (messages.length === 0 && [...open.keys()].every((range) => ended.has(range))) return finish()
            setImmediate(poll)
          })
        }
        consumer.on("partition.eof", (eof) => {
          const range = open.get(`${eof.topic}/${eof.partition}`)
          if (range !== undefined && eof.offset >= range.to) ended.add(`${eof.topic}/${eof.partition}`)
        })
        consumer.connect({ timeout: options.connectTimeoutMs }, (error) => {
          if (error) return finish(error.message)
          consumer.assign(
            wanted.map((range) => ({ topic: range.topic, partition: range.partition, offset: range.from })),
          )
          poll()
        })
        return Effect.sync(() => finish("interrupted"))
      })
    }).pipe(Effect.withSpan("Broker.readKey", { attributes: { "messaging.system": "kafka", key } }))
