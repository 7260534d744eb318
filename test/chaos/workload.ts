/**
 * The steady workload: `lanes` buyers, each walking one order after another through its life,
 * spread over both requestors and both processors:
 *
 *   register + initiate (requestor r) → SellersSelected → proposal P1 (processor A/B) → proposal
 *   P2 (the other processor) → P1 updated → buyer follow-up to P2 (the other requestor) → seller
 *   follow-up on P1 → finalise with P1 the winner (requestor r) → OrderFinalised
 *
 * Nine events per order. Every request is retried (another replica first) while it fails with a
 * network error, 5xx or 429 — with the same ids and TransactionUUIDs, so a retry of something
 * that was committed is answered as a duplicate and commits nothing new. Every 2xx answer that
 * names a seq is an *acknowledged event*: recorded with the seq, what it must be, and when the
 * request was sent. Each order has its own `OrderObserver` (started before initiate).
 */
import { randomUUID } from "node:crypto"
import { sleep } from "../support/e2e.ts"
import type { Cluster } from "./cluster.ts"
import { type ObserverOptions, OrderObserver } from "./observer.ts"

export interface Acknowledged {
  readonly orderReqId: string
  readonly seq: number
  readonly status: string
  readonly proposalId: string
  /** Epoch ms the acknowledged request (that attempt) was sent / answered. */
  readonly sentAt: number
  readonly answeredAt: number
  readonly operation: string
}

export interface WorkloadError {
  readonly orderReqId: string
  readonly operation: string
  readonly problem: string
  readonly at: number
}

export interface OrderRun {
  readonly orderReqId: string
  readonly observer: OrderObserver
  readonly startedAt: number
  /** When initiate was acknowledged (a BUYER_ACKNOWLEDGEMENTS message is due). */
  initiatedAt?: number
  /** Set when the order's whole script ran (finalise acknowledged). */
  completedAt?: number
  /** Why the script gave up on it, if it did. */
  stuck?: string
}

export interface Workload {
  readonly orders: Array<OrderRun>
  readonly acknowledged: Array<Acknowledged>
  readonly errors: Array<WorkloadError>
  /** Requests that failed and were retried. */
  retries: number
  /** Each failed attempt (the first 5000): what failed, when, how. */
  readonly failedAttempts: Array<WorkloadError>
  /** Stops starting orders; resolves when every lane has finished its current order (bounded). */
  readonly stop: (timeoutMs: number) => Promise<void>
}

export interface WorkloadOptions {
  readonly runId: string
  readonly lanes: number
  readonly industry: string
  readonly origin: { readonly Lat: number; readonly Lng: number }
  /** Pause between the steps of an order (ms). */
  readonly stepPauseMs: number
  /** How long one request is retried before the order is given up (ms). */
  readonly requestDeadlineMs: number
  readonly observer?: ObserverOptions
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field
type Body = any

const REQUEST_TIMEOUT_MS = 10_000

export const startWorkload = (cluster: Cluster, options: WorkloadOptions): Workload => {
  const orders: Array<OrderRun> = []
  const acknowledged: Array<Acknowledged> = []
  const errors: Array<WorkloadError> = []
  let stopping = false
  let orderCount = 0
  const workload: Workload = {
    orders,
    acknowledged,
    errors,
    retries: 0,
    failedAttempts: [],
    stop: async () => {},
  }

  const requestorUrls = () => cluster.requestors.map((slot) => slot.httpUrl)
  const processorUrls = () => cluster.processors.map((slot) => slot.httpUrl)
  const watchAddresses = () => cluster.requestors.map((slot) => slot.grpcAddress)

  class GiveUp extends Error {}

  /**
   * One request, retried on `urls()` starting at `first` until it answers one of `ok` (or, after
   * a failed attempt, one of `okOnRetry`: the first attempt may have been committed). Records
   * the seqs the answer acknowledges (`seqsOf`).
   */
  const call = async (
    orderReqId: string,
    operation: string,
    urls: () => ReadonlyArray<string>,
    first: number,
    method: string,
    path: string,
    body: unknown,
    ok: ReadonlyArray<number>,
    expected?: (answer: Body) => ReadonlyArray<{ seq: number; status: string; proposalId: string }>,
    okOnRetry: ReadonlyArray<number> = [],
  ): Promise<Body> => {
    const deadline = Date.now() + options.requestDeadlineMs
    let attempt = 0
    let last = ""
    while (Date.now() < deadline) {
      const list = urls()
      const url = `${list[(first + attempt) % list.length]}${path}`
      const sentAt = Date.now()
      try {
        const response = await fetch(url, {
          method,
          headers: body === undefined ? {} : { "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
        const text = await response.text()
        let answer: Body = text
        try {
          answer = text === "" ? undefined : JSON.parse(text)
        } catch {}
        if (ok.includes(response.status) || (attempt > 0 && okOnRetry.includes(response.status))) {
          const answeredAt = Date.now()
          if (ok.includes(response.status)) {
            for (const event of expected?.(answer) ?? []) {
              if (event.seq > 0) acknowledged.push({ orderReqId, operation, sentAt, answeredAt, ...event })
            }
          }
          return answer
        }
        last = `${response.status}: ${text.slice(0, 300)}`
        if (response.status < 500 && response.status !== 429 && response.status !== 404) {
          errors.push({ orderReqId, operation, problem: last, at: Date.now() })
          throw new GiveUp(`${operation}: ${last}`)
        }
      } catch (error) {
        if (error instanceof GiveUp) throw error
        last =
          error instanceof Error
            ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ""}`
            : String(error)
      }
      attempt += 1
      workload.retries += 1
      if (workload.failedAttempts.length < 5_000) {
        workload.failedAttempts.push({ orderReqId, operation, problem: last, at: Date.now() })
      }
      await sleep(Math.min(1_000, 100 * attempt))
    }
    errors.push({ orderReqId, operation, problem: `gave up after ${attempt} attempts; last ${last}`, at: Date.now() })
    throw new GiveUp(`${operation}: gave up (${last})`)
  }

  const waitForEvent = async (observer: OrderObserver, status: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const event = observer.events.find((seen) => seen.status === status)
      if (event !== undefined) return event
      await sleep(100)
    }
    throw new GiveUp(`no ${status} on the stream within ${timeoutMs} ms`)
  }

  const runOrder = async (lane: number) => {
    const index = orderCount++
    const orderReqId = `${options.runId}-O${index}`
    const r = index % 2
    const p = (index + lane) % 2
    const startedAt = Date.now()
    let run: OrderRun | undefined
    const pause = () => sleep(options.stepPauseMs)
    const proposalOf = (answer: Body) => [
      {
        seq: Number(answer?.Seq ?? 0),
        status: answer?.Outcome === "updated" ? "ProposalUpdate" : "NewProposal",
        proposalId: String(answer?.Proposal?.ProposalID ?? ""),
      },
    ]
    try {
      await call(
        orderReqId,
        "register",
        requestorUrls,
        r,
        "POST",
        "/api/v1/orders",
        {
          OrderReqID: orderReqId,
          BuyerID: `${options.runId}-BUYER-${lane}`,
          Industry: options.industry,
          Location: options.origin,
          Products: [{ ProductID: "SS-304", Name: "Stainless steel sheet", Quantity: 10 + index, Unit: "sheet" }],
          DeliveryDate: "2027-01-20",
          Priority: ["HIGH", "MEDIUM", "LOW"][index % 3],
        },
        [200, 201],
        undefined,
        [409],
      )
      // Watching starts once the order exists, before initiate: the observer sees every event.
      const observer = new OrderObserver(orderReqId, watchAddresses, r, options.observer)
      run = { orderReqId, observer, startedAt }
      orders.push(run)
      await call(
        orderReqId,
        "initiate",
        requestorUrls,
        r,
        "POST",
        "/api/v1/initiate",
        {
          OrderReqId: orderReqId,
          SessionID: `${orderReqId}-S`,
          "Notification type": "Email",
        },
        [200, 202],
      )
      run.initiatedAt = Date.now()
      const selected = await waitForEvent(run.observer, "SellersSelected", options.requestDeadlineMs)
      const sellers = (JSON.parse(selected.details.Sellers ?? "[]") as Array<{ SellerID: string }>).map(
        (seller) => seller.SellerID,
      )
      if (sellers.length < 2) throw new GiveUp(`only ${sellers.length} sellers selected`)
      const [s1, s2] = sellers as [string, string]
      const p1 = `${orderReqId}-P1`
      const p2 = `${orderReqId}-P2`
      const submit = (seller: string, proposalId: string, price: number, via: number, operation: string) =>
        call(
          orderReqId,
          operation,
          processorUrls,
          via,
          "POST",
          "/api/v1/proposal-submissions",
          {
            OrderReqID: orderReqId,
            Seller: seller,
            ProposalDictObj: {
              ProposalID: proposalId,
              Price: price,
              DeliveryDate: "2027-01-15T00:00:00Z",
              Currency: "INR",
            },
          },
          [200, 201],
          proposalOf,
        )
      await pause()
      await submit(s1, p1, 1000 + index, p, "proposal")
      await pause()
      await submit(s2, p2, 1100 + index, 1 - p, "proposal")
      await pause()
      await submit(s1, p1, 900 + index, 1 - p, "update")
      await pause()
      await call(
        orderReqId,
        "buyer-followup",
        requestorUrls,
        1 - r,
        "POST",
        "/api/v1/followup",
        {
          OrderReqID: orderReqId,
          TransactionUUID: randomUUID(),
          Audience: [p2],
          Message: { content: { URLs: [], MessageType: "text", Message: "Two lots possible?" } },
        },
        [200, 201, 202],
        (answer) =>
          ((answer?.Results ?? []) as Array<Body>).map((result) => ({
            seq: Number(result.Seq ?? 0),
            status: "BuyerFollowUp",
            proposalId: String(result.ProposalID),
          })),
      )
      await pause()
      await call(
        orderReqId,
        "seller-followup",
        processorUrls,
        p,
        "POST",
        "/api/v1/followup",
        {
          OrderReqID: orderReqId,
          ProposalID: p1,
          TransactionUUID: randomUUID(),
          Message: { content: { URLs: [], MessageType: "text", Message: "Yes, 60% then 40%." } },
        },
        [200, 201],
        (answer) => [{ seq: Number(answer?.Seq ?? 0), status: "SellerFollowUp", proposalId: p1 }],
      )
      await pause()
      await call(
        orderReqId,
        "finalise",
        requestorUrls,
        r,
        "PUT",
        `/api/v1/finalize/${orderReqId}`,
        {
          ProposalID: p1,
          TransactionUUID: randomUUID(),
        },
        [200, 202],
        (answer) => [{ seq: Number(answer?.Seq ?? 0), status: "OrderFinalised", proposalId: "" }],
        [409],
      )
      run.completedAt = Date.now()
      await waitForEvent(run.observer, "OrderFinalised", options.requestDeadlineMs)
    } catch (error) {
      // An order that could not even be registered has no events to account for.
      if (run !== undefined) run.stuck = error instanceof Error ? error.message : String(error)
    }
  }

  const lanes = Array.from({ length: options.lanes }, async (_, lane) => {
    await sleep(lane * 300)
    while (!stopping) await runOrder(lane)
  })

  return Object.assign(workload, {
    stop: async (timeoutMs: number) => {
      stopping = true
      await Promise.race([Promise.all(lanes), sleep(timeoutMs)])
    },
  })
}
