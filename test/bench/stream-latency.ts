/**
 * Stream latency: how long from a seller's `POST /api/v1/proposal-submissions` (processor REST)
 * until a buyer app on the requestor's public `WatchOrder` stream receives the matching
 * `NewProposal` event. The path measured: processor REST → compare-and-set commit to the Redis event log →
 * `ProcessOrderStream` (gRPC) → requestor records the event → `WatchOrder` (gRPC) → client.
 *
 *   node test/bench/stream-latency.ts          # or: make bench-latency
 *
 * Starts a processor and a requestor as real processes on free ports (Redis databases
 * BENCH_PROCESSOR_DB=9 / BENCH_REQUESTOR_DB=10, Kafka from infra/local/stack.sh), unless
 * REQUESTOR_URL, PROCESSOR_URL and REQUESTOR_GRPC (host:port of WatchOrder) name running ones.
 *
 *   BENCH_COUNT=100        proposals measured
 *   BENCH_CONCURRENCY=1    submissions in flight at once (1: strictly one after another)
 *   BENCH_WARMUP=5         proposals submitted first and not measured
 *
 * Prints count, p50, p95, p99 and max in milliseconds (plus the HTTP answer time for context).
 */
import {
  http,
  type SeenEvent,
  type Stack,
  startStack,
  stopStack,
  uniqueId,
  watchOrder,
  withRedis,
} from "../support/e2e.ts"
import { acceptsTcp } from "../support/ports.ts"
import { allLiveOrdersKeys, requestorPrefix } from "../support/redisKeys.ts"
import { servers } from "../support/servers.ts"
import { intEnv } from "./lib/config.ts"
import { type Summary, summarize } from "./lib/stats.ts"

const count = intEnv("BENCH_COUNT", 100, 100, 1)
const concurrency = intEnv("BENCH_CONCURRENCY", 1, 1, 1)
const warmup = intEnv("BENCH_WARMUP", 5, 5, 0)
const processorDb = intEnv("BENCH_PROCESSOR_DB", 9, 9, 0)
const requestorDb = intEnv("BENCH_REQUESTOR_DB", 10, 10, 0)

const say = (line: string) => process.stdout.write(`${line}\n`)

/** The summary of `values` (there is at least one: `BENCH_COUNT` >= 1). */
const summary = (values: ReadonlyArray<number>) => summarize(values) as Summary

const ms = (value: number) => value.toFixed(2).padStart(8)

const main = async () => {
  const external =
    process.env.REQUESTOR_URL !== undefined &&
    process.env.PROCESSOR_URL !== undefined &&
    process.env.REQUESTOR_GRPC !== undefined
  let stack: Stack | undefined
  let requestorUrl: string
  let processorUrl: string
  let watchAddress: string
  if (external) {
    requestorUrl = process.env.REQUESTOR_URL as string
    processorUrl = process.env.PROCESSOR_URL as string
    watchAddress = process.env.REQUESTOR_GRPC as string
    say(`using running services: requestor ${requestorUrl} (WatchOrder ${watchAddress}), processor ${processorUrl}`)
  } else {
    for (const [name, { host, port }] of Object.entries({ kafka: servers.kafka, redis: servers.redis })) {
      if (!(await acceptsTcp(host, port, 2_000))) {
        say(
          `${name} is not reachable at ${host}:${port}; start it with \`bash infra/local/stack.sh up\` (or make infra-up)`,
        )
        process.exit(1)
      }
    }
    say(`starting a processor (Redis db ${processorDb}) and a requestor (Redis db ${requestorDb}) ...`)
    await withRedis(requestorDb, (redis) => redis.del(...allLiveOrdersKeys(requestorPrefix)))
    stack = await startStack({ processorDb, requestorDb })
    requestorUrl = stack.requestor.httpUrl
    processorUrl = stack.processor.httpUrl
    watchAddress = stack.requestor.grpcAddress
  }

  const run = uniqueId("BENCH")
  const orderId = `${run}-ORD`
  const industry = `Bench ${run}`
  const seller = `${run}-SELLER`
  const origin = { Lat: 52.52, Lng: 13.405 }
  let watch: ReturnType<typeof watchOrder> | undefined
  try {
    const sellers = await http("POST", `${processorUrl}/api/v1/sellers`, {
      SellerID: seller,
      Name: "Bench seller",
      Industries: [industry],
      Location: { Lat: origin.Lat + 0.01, Lng: origin.Lng },
      Active: true,
    })
    if (sellers.status !== 201) throw new Error(`registering the seller answered ${sellers.status}: ${sellers.text}`)
    const order = await http("POST", `${requestorUrl}/api/v1/orders`, {
      OrderReqID: orderId,
      BuyerID: `${run}-BUYER`,
      Industry: industry,
      Location: origin,
      Products: ["Benchmark widget"],
      DeliveryDate: "2026-12-31",
    })
    if (order.status !== 201) throw new Error(`registering the order answered ${order.status}: ${order.text}`)
    watch = watchOrder(watchAddress, orderId)
    const initiated = await http("POST", `${requestorUrl}/api/v1/initiate`, {
      OrderReqId: orderId,
      SessionID: `${run}-SESSION`,
      "Notification type": "Email",
    })
    if (initiated.status !== 202) throw new Error(`initiate answered ${initiated.status}: ${initiated.text}`)
    const reader = watch
    await reader.waitFor((event) => event.status === "SellersSelected", "SellersSelected", 30_000)

    const submitOne = async (index: number) => {
      const proposalId = `${run}-P${index}`
      const arrived = reader.waitFor(
        (event: SeenEvent) => event.status === "NewProposal" && event.proposalId === proposalId,
        `NewProposal ${proposalId}`,
        30_000,
      )
      arrived.catch(() => {}) // awaited below; this only keeps a failed submit from an unhandled rejection
      const started = performance.now()
      const response = await http("POST", `${processorUrl}/api/v1/proposal-submissions`, {
        OrderReqID: orderId,
        Seller: seller,
        ProposalDictObj: { ProposalID: proposalId, Price: 1000 + index, DeliveryDate: "2026-12-31" },
      })
      const answered = performance.now()
      if (response.status !== 201)
        throw new Error(`proposal ${proposalId} answered ${response.status}: ${response.text}`)
      const event = await arrived
      return { stream: event.receivedAt - started, http: answered - started }
    }

    const runBatch = async (first: number, total: number) => {
      const results: Array<{ stream: number; http: number }> = []
      let next = first
      const worker = async () => {
        while (next < first + total) {
          const index = next
          next += 1
          results.push(await submitOne(index))
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker))
      return results
    }

    if (warmup > 0) await runBatch(1, warmup)
    say(`submitting ${count} proposals, ${concurrency} at a time (after ${warmup} warm-up) ...`)
    const wall = performance.now()
    const results = await runBatch(warmup + 1, count)
    const elapsed = performance.now() - wall

    // Every event once, in order, no gap.
    const seqs = reader.events.map((event) => event.seq)
    const gapFree = seqs.every((seq, index) => seq === index + 1)

    const stream = summary(results.map((result) => result.stream))
    const answer = summary(results.map((result) => result.http))
    say("")
    say("submit → NewProposal on WatchOrder (ms)")
    say(`  count ${stream.count}`)
    say(`  p50   ${ms(stream.p50)}`)
    say(`  p95   ${ms(stream.p95)}`)
    say(`  p99   ${ms(stream.p99)}`)
    say(`  max   ${ms(stream.max)}`)
    say(`  (min ${stream.min.toFixed(2)}, mean ${stream.mean.toFixed(2)})`)
    say("submit → HTTP answer (ms, for context)")
    say(
      `  p50 ${answer.p50.toFixed(2)}, p95 ${answer.p95.toFixed(2)}, p99 ${answer.p99.toFixed(2)}, max ${answer.max.toFixed(2)}`,
    )
    say(
      `throughput ${((count / elapsed) * 1000).toFixed(1)} proposals/s; stream seq 1..${seqs.at(-1)} ${gapFree ? "gap-free" : "WITH GAPS OR DUPLICATES"}`,
    )
    if (!gapFree) process.exitCode = 1

    const finalised = await http("PUT", `${requestorUrl}/api/v1/finalize/${orderId}`)
    if (finalised.status !== 200) say(`(finalising the bench order answered ${finalised.status})`)
  } finally {
    watch?.close()
    await stopStack(stack)
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `stream-latency failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  process.exit(1)
})
