/** The scripts' settings, from k6's `-e NAME=value` / environment (`__ENV`). */
import type { Params } from "k6/http"

const text = (name: string, fallback: string): string => __ENV[name] ?? fallback

const number = (name: string, fallback: number): number => {
  const raw = __ENV[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw}: expected a non-negative number`)
  return value
}

export const config = {
  /** Requestor REST base URL. */
  requestorUrl: text("REQUESTOR_URL", "http://127.0.0.1:8000"),
  /** Processor REST base URL. */
  processorUrl: text("PROCESSOR_URL", "http://127.0.0.1:8001"),
  /** Requestor public gRPC `host:port` (WatchOrder). */
  requestorGrpc: text("REQUESTOR_GRPC", "127.0.0.1:50052"),
  /** Sent as `Authorization: Bearer <TOKEN>` when set (for a gateway in front of the services). */
  token: text("TOKEN", ""),
  /** Distinguishes this run's sellers and orders from earlier runs'. */
  runId: text("RUN_ID", `k6${Date.now().toString(36)}`),
  vus: number("VUS", 50),
  duration: text("DURATION", "1m"),
  /** Sellers registered in setup; each order gets a proposal from `PROPOSALS` of them. */
  sellers: number("SELLERS", 5),
  proposals: number("PROPOSALS", 3),
  /** Price changes per proposal after the first submission (ProposalUpdate events). */
  updates: number("UPDATES", 1),
  /** p(95) bound of the REST answers, in ms (threshold). */
  p95Ms: number("P95_MS", 500),
  /** How long a script waits for an order's sellers to be selected, or its stream to end, in s. */
  waitSeconds: number("WAIT_SECONDS", 30),
}

/** Request parameters: JSON, the token, and a `name` tag grouping URLs with ids. */
export const params = (name: string, extra: Params = {}): Params => ({
  ...extra,
  headers: {
    "Content-Type": "application/json",
    ...(config.token === "" ? {} : { Authorization: `Bearer ${config.token}` }),
    ...(extra.headers ?? {}),
  },
  tags: { name, ...(extra.tags ?? {}) },
})
