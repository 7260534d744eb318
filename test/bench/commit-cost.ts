/**
 * What one proposal submission costs Redis as its order grows: a real processor on a Redis of
 * its own (the deployed configuration: AOF, fsync always), one order, N new proposals submitted
 * one at a time over REST; every `BENCH_COMMIT_STEP` submissions the bytes Redis received
 * (`INFO stats` `total_net_input_bytes`, which its AOF appends and fsyncs for writes) are read.
 * Sequential and alone on its Redis, so the figure does not depend on the machine's load.
 *
 *   node test/bench/commit-cost.ts
 *
 *   BENCH_COMMIT_PROPOSALS=300     new proposals submitted to the order
 *   BENCH_COMMIT_STEP=50           submissions per row
 *   BENCH_COMMIT_BASELINE_DIR=...  a checkout of another revision (`git worktree add DIR REV`,
 *                                  with node_modules and `npm run generate`): its processor gets
 *                                  the same load in the same run, printed beside and as a ratio
 *
 * Needs Kafka from `infra/local/stack.sh` (the processor publishes its topics).
 */
import { createChannel, createClient } from "nice-grpc"
import { OrderStreamingServiceDefinition } from "../../shared/src/generated/dcent/orders/v1/order_streaming_service.ts"
import { eventStatusFromProto } from "../../shared/src/orders/events.ts"
import { startPrivateRedis } from "../support/privateRedis.ts"
import { startProcessor } from "../support/services.ts"
import { redisStats } from "./lib/procstat.ts"

const proposals = Number(process.env.BENCH_COMMIT_PROPOSALS ?? 300)
const step = Number(process.env.BENCH_COMMIT_STEP ?? 50)
const baselineDir = process.env.BENCH_COMMIT_BASELINE_DIR

interface Row {
  /** Proposals on the order after this row's submissions. */
  readonly upTo: number
  readonly bytesPerSubmission: number
  readonly msPerSubmission: number
}

const measure = async (label: string, entry: string | undefined): Promise<ReadonlyArray<Row>> => {
  const redis = await startPrivateRedis({ deployed: true })
  const processor = await startProcessor({
    name: `processor (${label})`,
    env: { REDIS_URL: redis.url, LOG_LEVEL: "warning" },
    ...(entry === undefined ? {} : { entry }),
  })
  const channel = createChannel(processor.grpcAddress)
  const abort = new AbortController()
  try {
    const run = `CC${Date.now().toString(36)}`
    const seller = `${run}-S1`
    const order = `${run}-O1`
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${processor.httpUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      })
      const text = await response.text()
      if (response.status >= 300) throw new Error(`${path}: ${response.status} ${text}`)
    }
    await post("/api/v1/sellers", [
      { SellerID: seller, Name: "Seller", Industries: [run], Location: { Lat: 12.9766, Lng: 77.5946 } },
    ])
    // The order is open and its seller selected once SellersSelected comes down the stream.
    const stream = createClient(OrderStreamingServiceDefinition, channel).processOrderStream(
      {
        orderReqId: order,
        sessionId: `SESSION-${order}`,
        buyerId: "BUYER-1",
        notificationType: "Email",
        industry: run,
        location: { lat: 12.9716, lng: 77.5946 },
        priority: 2,
        products: [{ productId: "SKU-1", name: "LED panel", quantity: 10, unit: "pcs", attributes: {} }],
        deliveryDate: "2030-01-31",
        fromSeq: 0,
      },
      { signal: abort.signal },
    )
    const iterator = stream[Symbol.asyncIterator]()
    for (;;) {
      const next = await iterator.next()
      if (next.done === true) throw new Error("the order stream ended before SellersSelected")
      const status =
        next.value.event === undefined ? undefined : eventStatusFromProto(next.value.event.streamingResponseStatus)
      if (status === "SellersSelected") break
    }
    // Keep reading, so the stream does not hold events back.
    void (async () => {
      try {
        for (;;) if ((await iterator.next()).done === true) return
      } catch {}
    })()
    const rows: Array<Row> = []
    let before = await redisStats(redis.url)
    let startedAt = performance.now()
    for (let n = 1; n <= proposals; n++) {
      await post("/api/v1/proposal-submissions", {
        OrderReqID: order,
        Seller: seller,
        ProposalDictObj: { ProposalID: `${order}-P${n}`, Price: 100 + n, DeliveryDate: "2030-01-15", Currency: "EUR" },
      })
      if (n % step === 0 || n === proposals) {
        const after = await redisStats(redis.url)
        const now = performance.now()
        const count = n % step === 0 ? step : n % step
        rows.push({
          upTo: n,
          bytesPerSubmission: (after.inputBytes - before.inputBytes) / count,
          msPerSubmission: (now - startedAt) / count,
        })
        process.stdout.write(`[commit-cost] ${label}: ${n}/${proposals} proposals\n`)
        before = after
        startedAt = now
      }
    }
    return rows
  } finally {
    abort.abort()
    channel.close()
    await processor.stop()
    await redis.close()
  }
}

const fmt = (value: number | undefined, digits = 0) =>
  value === undefined ? "" : value.toLocaleString("en-US", { maximumFractionDigits: digits })

const current = await measure("current", undefined)
const baseline =
  baselineDir === undefined ? undefined : await measure("baseline", `${baselineDir}/processor/src/main.ts`)

console.log(`\n== commit cost: one order, ${proposals} new proposals, one at a time (private Redis, fsync always)`)
console.log(`   baseline: ${baselineDir ?? "none (BENCH_COMMIT_BASELINE_DIR)"}; ratio = current / baseline`)
console.log(
  `${"proposals on the order".padEnd(24)}${"bytes to Redis / submission".padStart(30)}${"baseline".padStart(12)}${"ratio".padStart(8)}${"ms / submission".padStart(18)}${"baseline".padStart(10)}`,
)
for (const [index, row] of current.entries()) {
  const base = baseline?.[index]
  console.log(
    `${`${(current[index - 1]?.upTo ?? 0) + 1}–${row.upTo}`.padEnd(24)}${fmt(row.bytesPerSubmission).padStart(30)}${fmt(base?.bytesPerSubmission).padStart(12)}${(base === undefined ? "" : `${(row.bytesPerSubmission / base.bytesPerSubmission).toFixed(2)}×`).padStart(8)}${fmt(row.msPerSubmission, 1).padStart(18)}${fmt(base?.msPerSubmission, 1).padStart(10)}`,
  )
}
process.exit(0)
