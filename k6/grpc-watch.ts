/**
 * gRPC scenario (like `make bench-fan-out`): each iteration initiates an order, holds a
 * `WatchOrder` stream on the requestor's public gRPC server (services found through server
 * reflection), drives the order to its end over REST and checks the stream's `seq`s are
 * gap-free up to `OrderFinalised`.
 *
 *   k6 run -e REQUESTOR_URL=http://127.0.0.1:8000 -e PROCESSOR_URL=http://127.0.0.1:8001 \
 *          -e REQUESTOR_GRPC=127.0.0.1:50052 -e VUS=500 k6/grpc-watch.ts
 */
import { check } from "k6"
import { Counter } from "k6/metrics"
import grpc from "k6/net/grpc"
import type { Options } from "k6/options"
import { setTimeout } from "k6/timers"
import { config } from "./lib/config.ts"
import { driveToFinalise, gapFree, initiate, nextOrderId, registerSellers } from "./lib/lifecycle.ts"

const gaps = new Counter("watch_streams_with_gaps")
const client = new grpc.Client()
/** One connection per VU, opened on its first iteration (k6 connects only inside the VU code). */
let connected = false

export const options: Options = {
  scenarios: { watch: { executor: "constant-vus", vus: config.vus, duration: config.duration, gracefulStop: "60s" } },
  thresholds: { watch_streams_with_gaps: ["count==0"], checks: ["rate>0.99"] },
}

export const setup = (): void => registerSellers()

interface WatchOrderResponse {
  readonly event?: { readonly seq?: string | number; readonly streamingResponseStatus?: string }
}

export default async (): Promise<void> => {
  if (!connected) {
    client.connect(config.requestorGrpc, { plaintext: true, reflect: true, timeout: "10s" })
    connected = true
  }
  const orderReqId = nextOrderId("GRPC")
  if (!initiate(orderReqId)) return
  const seqs: Array<number> = []
  let finalised = false
  const metadata = config.token === "" ? {} : { authorization: `Bearer ${config.token}` }
  const ended = new Promise<void>((resolve) => {
    const stream = new grpc.Stream(client, "dcent.orders.v1.OrderWatchService/WatchOrder", { metadata })
    stream.on("data", (message) => {
      const event = (message as WatchOrderResponse).event
      seqs.push(Number(event?.seq ?? 0))
      if (event?.streamingResponseStatus?.endsWith("ORDER_FINALISED")) {
        finalised = true
        resolve()
      }
    })
    stream.on("error", () => resolve())
    stream.on("end", () => resolve())
    // Server streaming: one request, then the client's half-close; the events keep coming.
    stream.write({ orderReqId, fromSeq: 0 })
    stream.end()
    setTimeout(resolve, config.waitSeconds * 4 * 1000)
  })
  driveToFinalise(orderReqId)
  await ended
  const ordered = gapFree(seqs)
  if (!ordered) gaps.add(1)
  check(null, {
    "WatchOrder seqs gap-free": () => ordered && seqs.length > 0,
    "WatchOrder reaches OrderFinalised": () => finalised,
  })
}
