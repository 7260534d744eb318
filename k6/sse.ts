/**
 * SSE scenario: each iteration initiates an order, holds its event stream
 * (`GET /api/v1/orders/{id}/events`, opened with `http.asyncRequest`) while driving the order to
 * its end, and checks that the stream delivered every seq once, in order, ending after
 * `OrderFinalised`.
 *
 *   k6 run -e REQUESTOR_URL=http://127.0.0.1:8000 -e PROCESSOR_URL=http://127.0.0.1:8001 -e VUS=200 k6/sse.ts
 */
import { check } from "k6"
import http from "k6/http"
import { Counter } from "k6/metrics"
import type { Options } from "k6/options"
import { config, params } from "./lib/config.ts"
import { driveToFinalise, gapFree, initiate, nextOrderId, registerSellers } from "./lib/lifecycle.ts"

const gaps = new Counter("sse_streams_with_gaps")

export const options: Options = {
  scenarios: { sse: { executor: "constant-vus", vus: config.vus, duration: config.duration, gracefulStop: "60s" } },
  thresholds: {
    sse_streams_with_gaps: ["count==0"],
    checks: ["rate>0.99"],
    "http_req_duration{name:POST /api/v1/initiate}": [`p(95)<${config.p95Ms}`],
  },
}

export const setup = (): void => registerSellers()

export default async (): Promise<void> => {
  const orderReqId = nextOrderId("SSE")
  if (!initiate(orderReqId)) return
  const stream = http.asyncRequest(
    "GET",
    `${config.requestorUrl}/api/v1/orders/${orderReqId}/events?from_seq=0`,
    null,
    params("GET /api/v1/orders/{id}/events", {
      headers: { Accept: "text/event-stream" },
      timeout: `${config.waitSeconds * 4}s`,
    }),
  )
  driveToFinalise(orderReqId)
  const answer = await stream
  const body = typeof answer.body === "string" ? answer.body : ""
  const seqs = [...body.matchAll(/^id: ?(\d+)$/gm)].map((match) => Number(match[1]))
  const ordered = gapFree(seqs)
  if (!ordered) gaps.add(1)
  check(answer, {
    "SSE 200": (r) => r.status === 200,
    "SSE seqs gap-free": () => ordered && seqs.length > 0,
    "SSE ends with OrderFinalised": () => /event: ?OrderFinalised/.test(body),
  })
}
