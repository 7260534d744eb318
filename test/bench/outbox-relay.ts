/**
 * Outbox relay throughput and Kafka's cost per event: commits N outbox entries over K keys to a
 * Redis `outbox` stream with the event log's own commit script (`encodeCommit` + `commitLua`,
 * the format `OrderEventLog` writes), then starts a relay on the real Kafka and times it until
 * the stream is empty (every entry published, acknowledged and deleted): a backlog drained as
 * fast as the relay can. With BENCH_OUTBOX_RATE the relay runs first and the entries are
 * committed at that steady rate instead (the largest lag seen is reported). Kafka's CPU is read
 * from `/proc/<pid>/stat` (utime + stime of the `kafka.Kafka` JVM) before and after; its idle
 * rate, measured just before, is subtracted (other clients of the same Kafka still add noise).
 * The Produce requests the relay's producer sent (librdkafka statistics; librdkafka sends one
 * request per partition) are the figure no other client disturbs.
 *
 *   node test/bench/outbox-relay.ts
 *
 * Runs the relay of the working tree and, in the same run and with the same load, the relay
 * and producer settings of BENCH_OUTBOX_BASELINE (a git revision; its `OutboxRelay.ts` is
 * copied to a temporary file), and prints both and the ratio. Afterwards each topic is read
 * back with `kcat` and checked: every entry there, per key in commit order (first copies).
 *
 *   BENCH_OUTBOX_ENTRIES=20000     entries committed per run
 *   BENCH_OUTBOX_KEYS=1000         distinct keys (order ids), round-robin
 *   BENCH_OUTBOX_ROUNDS=1          runs of each variant (alternating)
 *   BENCH_OUTBOX_RATE=0            entries/s committed while the relay runs (0: drain a backlog)
 *   BENCH_OUTBOX_BASELINE=a85e17c  revision to compare with (default: the relay before batching;
 *                                  "none": current only)
 *   BENCH_OUTBOX_IDLE_MS=2000      window for Kafka's idle CPU before each run
 *   BENCH_OUTBOX_KAFKA='{"lingerMs":10}'  broker options for the current relay (tuning)
 *
 * Needs Kafka and Redis from `infra/local/stack.sh` (127.0.0.1:9092, :6379).
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { Context, Effect, Exit, Layer, References, Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import { Broker } from "../../shared/src/broker/Broker.ts"
import { type KafkaBrokerOptions, makeKafkaBroker } from "../../shared/src/broker/kafka.ts"
import { commitLua, encodeCommit, eventsChannel, outboxStreamKey } from "../../shared/src/eventlog/encoding.ts"
import { topicMessage } from "../../shared/src/orders/topicMessage.ts"
import type * as RelayModule from "../../shared/src/outbox/OutboxRelay.ts"
import { allKeyShards } from "../../shared/src/redis/keys.ts"
import { Redis } from "../../shared/src/redis/Redis.ts"
import { kafkaUrl, redisUrl, servers } from "../support/servers.ts"
import { intEnv } from "./lib/config.ts"

const entries = intEnv("BENCH_OUTBOX_ENTRIES", 20_000, 20_000, 1)
const keys = intEnv("BENCH_OUTBOX_KEYS", 1_000, 1_000, 1)
const rounds = intEnv("BENCH_OUTBOX_ROUNDS", 1, 1, 1)
const idleMs = intEnv("BENCH_OUTBOX_IDLE_MS", 2_000, 2_000, 0)
const rate = intEnv("BENCH_OUTBOX_RATE", 0, 0, 0)
const baselineRev = process.env.BENCH_OUTBOX_BASELINE ?? "a85e17c"
const kafkaOverrides = JSON.parse(process.env.BENCH_OUTBOX_KAFKA ?? "{}") as Partial<KafkaBrokerOptions>

const say = (line: string) => process.stdout.write(`${line}\n`)
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const bootstrap = `${servers.kafka.host}:${servers.kafka.port}`
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

// ---------------------------------------------------------------------------------------------
// Kafka's CPU

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100

const kafkaPid = (): number => {
  const out = execFileSync("pgrep", ["-f", "kafka.Kafka"], { encoding: "utf8" }).trim().split("\n")
  const pid = Number(out[0])
  if (!Number.isInteger(pid)) throw new Error("no kafka.Kafka process (start it with infra/local/stack.sh up)")
  return pid
}

/** utime + stime of `pid`, in seconds. */
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

// ---------------------------------------------------------------------------------------------
// The two relays

interface Variant {
  readonly name: string
  readonly module: typeof RelayModule
  /** Producer settings of that revision (the broker is built with them). */
  readonly kafka: Partial<KafkaBrokerOptions>
}

/**
 * The baseline's `OutboxRelay.ts` in a temporary file under `shared/.cache/` (git-ignored; there
 * packages resolve as from `shared/src`), its relative imports pointed at this tree.
 */
const loadBaseline = async (rev: string, dir: string): Promise<typeof RelayModule> => {
  const source = execFileSync("git", ["show", `${rev}:shared/src/outbox/OutboxRelay.ts`], {
    cwd: root,
    encoding: "utf8",
  })
  const srcUrl = pathToFileURL(join(root, "shared/src/")).href
  const rewritten = source.replace(/from "\.\.\/([^"]+)"/g, (_, path: string) => `from "${srcUrl}${path}"`)
  const file = join(dir, `OutboxRelay.${rev.replace(/[^A-Za-z0-9]/g, "_")}.ts`)
  writeFileSync(file, rewritten)
  return (await import(pathToFileURL(file).href)) as typeof RelayModule
}

// ---------------------------------------------------------------------------------------------
// One run

interface Result {
  readonly variant: string
  readonly seconds: number
  readonly kafkaCpu: number
  readonly kafkaIdleRate: number
  readonly nodeCpu: number
  /** Largest `lag` seen (age of the oldest unpublished entry), ms. */
  readonly maxLagMs: number
  /** Produce requests the relay's producer sent (librdkafka statistics). */
  readonly requests: number
  readonly topic: string
}

/**
 * Commits the entries (one outbox entry per commit, as an event with one topic message): in
 * chunks of 500 as fast as Redis takes them, or `perSecond` spread over 10 ms ticks.
 */
const commitEntries = async (prefix: string, topic: string, perSecond = 0) => {
  const client = new IORedis(redisUrl, { keyPrefix: prefix })
  try {
    const channel = eventsChannel(prefix)
    const chunk = perSecond > 0 ? Math.max(1, Math.round(perSecond / 100)) : 500
    const started = performance.now()
    for (let start = 0; start < entries; start += chunk) {
      if (perSecond > 0) {
        const due = started + (start / perSecond) * 1_000
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
      }
      const commits: Array<Promise<unknown>> = []
      for (let i = start; i < Math.min(entries, start + chunk); i++) {
        const key = `ORD-B${i % keys}`
        const seq = Math.floor(i / keys) + 1
        const message = topicMessage({
          topic,
          key: "ORD_UPDATES",
          orderReqId: key,
          sessionId: `S-${key}`,
          eventId: `${runId}:${key}:${seq}`,
          seq,
          message: `proposal ${seq} for ${key}`,
          timestamp: new Date().toISOString(),
          fields: { Status: "NewProposal", ProposalID: `P-${seq}`, SellerID: `SELLER-${i % 37}` },
          details: { Price: String(100 + (i % 50)), Currency: "EUR", DeliveryDays: "3" },
          headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
        })
        const encoded = encodeCommit({
          expectedLastSeq: -1,
          channel,
          logId: key,
          events: [],
          outbox: [message],
          writes: [],
        })
        if (encoded._tag !== "Encoded") throw new Error(encoded.problem)
        commits.push(client.eval(commitLua, encoded.keys.length, ...encoded.keys, ...encoded.args))
      }
      await Promise.all(commits)
    }
    // The outbox is split by order shard: every shard's stream.
    const lengths = await Promise.all(allKeyShards.map((shard) => client.xlen(outboxStreamKey(shard))))
    return lengths.reduce((sum, length) => sum + length, 0)
  } finally {
    client.disconnect()
  }
}

const deletePrefix = async (prefix: string) => {
  const client = new IORedis(redisUrl)
  try {
    let cursor = "0"
    do {
      const [next, found] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      cursor = next
      if (found.length > 0) await client.del(...found)
    } while (cursor !== "0")
  } finally {
    client.disconnect()
  }
}

const runOnce = async (variant: Variant, round: number, pid: number): Promise<Result> => {
  const topic = `bench_outbox_${runId}_${variant.name}_${round}`
  const prefix = `bench:outbox:${runId}:${variant.name}:${round}:`
  const scope = Effect.runSync(Scope.make())
  try {
    const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
    // librdkafka's statistics: Produce requests sent (cumulative), a count no other Kafka client disturbs.
    let produceRequests = 0
    const statsCb = (event: { readonly message: string }) => {
      const stats = JSON.parse(event.message) as { brokers?: Record<string, { req?: Record<string, number> }> }
      produceRequests = Object.values(stats.brokers ?? {}).reduce((sum, b) => sum + (b.req?.Produce ?? 0), 0)
    }
    const producerConfig = {
      ...variant.kafka.producerConfig,
      "statistics.interval.ms": 100,
      stats_cb: statsCb,
    } as unknown as KafkaBrokerOptions["producerConfig"]
    const broker = await Effect.runPromise(
      quiet(
        makeKafkaBroker({
          servers: [bootstrap],
          url: kafkaUrl,
          clientId: `bench-${variant.name}`,
          ...variant.kafka,
          producerConfig,
        }),
      ).pipe(Scope.provide(scope)),
    )
    await Effect.runPromise(broker.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1 }]))
    const redis = await Effect.runPromise(
      quiet(Redis.make(new URL(redisUrl), { keyPrefix: prefix })).pipe(Scope.provide(scope)),
    )
    if (rate === 0) {
      const committed = await commitEntries(prefix, topic)
      if (committed !== entries) throw new Error(`committed ${committed} entries, expected ${entries}`)
    }

    await sleep(300)
    const idleStart = cpuSeconds(pid)
    await sleep(idleMs)
    const kafkaIdleRate = idleMs > 0 ? (cpuSeconds(pid) - idleStart) / (idleMs / 1_000) : 0

    const relayLayer = variant.module.OutboxRelay.layer({ consumerName: `bench-${variant.name}` }).pipe(
      Layer.provide(Layer.mergeAll(Layer.succeed(Broker, broker), Layer.succeed(Redis, redis))),
    )
    const kafkaBefore = cpuSeconds(pid)
    const requestsBefore = produceRequests
    const nodeBefore = process.cpuUsage()
    const started = performance.now()
    const context = await Effect.runPromise(
      quiet(Layer.buildWithScope(relayLayer, scope) as Effect.Effect<Context.Context<RelayModule.OutboxRelay>>),
    )
    const relay = Context.get(context, variant.module.OutboxRelay)
    const committing = rate > 0 ? commitEntries(prefix, topic, rate) : Promise.resolve(entries)
    let committed = rate === 0
    void committing.then(() => {
      committed = true
    })
    let lastShown = started
    let maxLagMs = 0
    while (true) {
      const left = await Effect.runPromise(relay.backlog)
      maxLagMs = Math.max(maxLagMs, await Effect.runPromise(relay.lag))
      if (left === 0 && committed) break
      if (process.stdout.isTTY && performance.now() - lastShown > 1_000) {
        lastShown = performance.now()
        process.stdout.write(`  ${variant.name}: ${entries - left}/${entries} published\x1b[K\r`)
      }
      await sleep(5)
    }
    const seconds = (performance.now() - started) / 1_000
    await committing
    const kafkaCpu = cpuSeconds(pid) - kafkaBefore
    await sleep(250) // the next statistics
    const requests = produceRequests - requestsBefore
    const node = process.cpuUsage(nodeBefore)
    const stats = await Effect.runPromise(relay.stats)
    if (stats.published < entries) throw new Error(`${variant.name}: relay counted ${stats.published} published`)
    return {
      variant: variant.name,
      seconds,
      kafkaCpu,
      kafkaIdleRate,
      nodeCpu: (node.user + node.system) / 1e6,
      maxLagMs,
      requests,
      topic,
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await deletePrefix(prefix)
  }
}

/** Reads `topic` back: every entry present, per key in commit order (by first copy). */
const verify = (topic: string) => {
  const out = execFileSync("kcat", ["-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%k\t%s\n"], {
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  })
  const lastSeq = new Map<string, number>()
  const seen = new Set<string>()
  let messages = 0
  let duplicates = 0
  let outOfOrder = 0
  for (const line of out.split("\n")) {
    if (line === "") continue
    messages++
    const tab = line.indexOf("\t")
    const key = line.slice(0, tab)
    const seq = (JSON.parse(line.slice(tab + 1)) as { Seq: number }).Seq
    if (seen.has(`${key}:${seq}`)) {
      duplicates++
      continue
    }
    seen.add(`${key}:${seq}`)
    if (seq !== (lastSeq.get(key) ?? 0) + 1) outOfOrder++
    lastSeq.set(key, seq)
  }
  return { messages, missing: entries - seen.size, duplicates, outOfOrder }
}

const deleteTopics = async (topics: ReadonlyArray<string>) => {
  const admin = new KafkaJS.Kafka({ "bootstrap.servers": bootstrap, log_level: 0 }).admin()
  await admin.connect()
  try {
    await admin.deleteTopics({ topics: [...topics], timeout: 20_000 })
  } catch {
    // best effort
  } finally {
    await admin.disconnect()
  }
}

const main = async () => {
  const pid = kafkaPid()
  mkdirSync(join(root, "shared/.cache"), { recursive: true })
  const dir = mkdtempSync(join(root, "shared/.cache/outbox-bench-"))
  const topics: Array<string> = []
  try {
    const current: Variant = {
      name: "current",
      module: await import("../../shared/src/outbox/OutboxRelay.ts"),
      kafka: kafkaOverrides,
    }
    const variants: Array<Variant> = [current]
    if (baselineRev !== "none") {
      variants.unshift({
        name: "baseline",
        module: await loadBaseline(baselineRev, dir),
        // The producer settings before the batching relay (kafka-client.ts at a85e17c).
        kafka: { lingerMs: 5, compression: "lz4" },
      })
    }
    say(
      `outbox relay → Kafka: ${entries} entries over ${keys} keys, ` +
        `${rate > 0 ? `committed at ${rate}/s while the relay runs` : "a backlog drained"}, ${rounds} round(s); ` +
        `baseline ${baselineRev}; kafka pid ${pid}`,
    )
    const results: Array<Result & { check: ReturnType<typeof verify> }> = []
    for (let round = 0; round < rounds; round++) {
      for (const variant of variants) {
        const result = await runOnce(variant, round, pid)
        topics.push(result.topic)
        const check = verify(result.topic)
        results.push({ ...result, check })
        say(
          `  ${variant.name.padEnd(8)} round ${round + 1}: ${result.seconds.toFixed(2)} s, ` +
            `${Math.round(entries / result.seconds)} entries/s, kafka ${result.kafkaCpu.toFixed(2)} CPU s ` +
            `(idle ${result.kafkaIdleRate.toFixed(2)}/s), node ${result.nodeCpu.toFixed(2)} CPU s, ` +
            `max lag ${result.maxLagMs} ms, ${result.requests} Produce requests ` +
            `(${(entries / result.requests).toFixed(1)} entries each); ` +
            `topic: ${check.messages} messages, ${check.missing} missing, ${check.duplicates} duplicates, ` +
            `${check.outOfOrder} out of order`,
        )
      }
    }

    const summary = (name: string) => {
      const mine = results.filter((r) => r.variant === name)
      if (mine.length === 0) return undefined
      const seconds = mine.reduce((s, r) => s + r.seconds, 0)
      const kafka = mine.reduce((s, r) => s + r.kafkaCpu, 0)
      const kafkaNet = mine.reduce((s, r) => s + Math.max(0, r.kafkaCpu - r.kafkaIdleRate * r.seconds), 0)
      const node = mine.reduce((s, r) => s + r.nodeCpu, 0)
      const requests = mine.reduce((s, r) => s + r.requests, 0)
      const total = entries * mine.length
      return {
        name,
        rate: total / seconds,
        kafkaPerK: (kafka / total) * 1_000,
        kafkaNetPerK: (kafkaNet / total) * 1_000,
        nodePerK: (node / total) * 1_000,
        requestsPerK: (requests / total) * 1_000,
        bad: mine.reduce((s, r) => s + r.check.missing + r.check.outOfOrder, 0),
      }
    }
    const rows = [summary("baseline"), summary("current")].filter((row) => row !== undefined)
    say("")
    const table: Array<ReadonlyArray<string>> = [
      [
        "variant",
        "entries/s",
        "kafka CPU s/1k events",
        "minus idle",
        "Produce requests/1k events",
        "node CPU s/1k (bench)",
        "missing+out-of-order",
      ],
      ...rows.map((row) => [
        row.name,
        row.rate.toFixed(0),
        row.kafkaPerK.toFixed(4),
        row.kafkaNetPerK.toFixed(4),
        row.requestsPerK.toFixed(1),
        row.nodePerK.toFixed(4),
        String(row.bad),
      ]),
    ]
    const widths = table[0]!.map((_, column) => Math.max(...table.map((line) => line[column]!.length)))
    say("")
    for (const line of table) {
      say(
        line
          .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
          .join("   "),
      )
    }
    const [before, after] = rows
    if (before !== undefined && after !== undefined && rows.length === 2) {
      say(
        `\ncurrent / baseline: throughput ×${(after.rate / before.rate).toFixed(1)}, ` +
          `Kafka CPU per event ÷${(before.kafkaPerK / after.kafkaPerK).toFixed(1)} ` +
          `(minus idle ${after.kafkaNetPerK > 0 ? `÷${(before.kafkaNetPerK / after.kafkaNetPerK).toFixed(1)}` : "n/a"}), ` +
          `Produce requests per event ÷${(before.requestsPerK / Math.max(after.requestsPerK, 1e-9)).toFixed(1)}, ` +
          `relay CPU per event ÷${(before.nodePerK / after.nodePerK).toFixed(1)}`,
      )
    }
    if (rows.some((row) => row.bad > 0)) process.exitCode = 1
  } finally {
    rmSync(dir, { recursive: true, force: true })
    if (topics.length > 0) await deleteTopics(topics)
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `outbox-relay bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  process.exit(1)
})
