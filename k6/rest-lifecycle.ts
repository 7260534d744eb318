/**
 * REST scenario (the write path, like `make bench-write`): each iteration is one order's whole
 * life — initiate, the sellers' proposals and their updates, a buyer follow-up, the sellers'
 * answers, finalise — at `VUS` virtual users for `DURATION`.
 *
 *   k6 run -e REQUESTOR_URL=http://127.0.0.1:8000 -e PROCESSOR_URL=http://127.0.0.1:8001 \
 *          -e VUS=1000 -e DURATION=5m k6/rest-lifecycle.ts
 */
import type { Options } from "k6/options"
import { config } from "./lib/config.ts"
import { driveToFinalise, initiate, nextOrderId, registerSellers } from "./lib/lifecycle.ts"

export const options: Options = {
  scenarios: {
    lifecycle: { executor: "constant-vus", vus: config.vus, duration: config.duration, gracefulStop: "30s" },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    http_req_duration: [`p(95)<${config.p95Ms}`],
    "http_req_duration{name:POST /api/v1/proposal-submissions}": [`p(99)<${config.p95Ms * 2}`],
    checks: ["rate>0.99"],
  },
}

export const setup = (): void => registerSellers()

export default (): void => {
  const orderReqId = nextOrderId("REST")
  if (initiate(orderReqId)) driveToFinalise(orderReqId)
}
