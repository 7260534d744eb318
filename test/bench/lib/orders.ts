/**
 * Making live orders the way a buyer app does: sellers in the processor's directory (one
 * industry of the run's own, all near the orders, so that each order selects all of them), then
 * one `POST /api/v1/initiate` per order with its details inline, through the requestor(s).
 * Refusals that say "retry" (429/503) are retried after their `Retry-After`.
 */
import type { HttpClient } from "./generator.ts"
import { ticker } from "./report.ts"
import { deliveryDate } from "./workload.ts"

const origin = { Lat: 52.52, Lng: 13.405 }

export const industryOf = (runId: string) => `Bench ${runId}`

export const sellerIds = (runId: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${runId}-S${index + 1}`)

/** Registers the sellers (one request; replicas share the directory). */
/** The buyer of every order of run `runId`. */
export const buyerOf = (runId: string) => `${runId}-BUYER`

export const registerSellers = async (
  http: HttpClient,
  runId: string,
  count: number,
  authorization?: string,
): Promise<Array<string>> => {
  const ids = sellerIds(runId, count)
  const body = ids.map((SellerID, index) => ({
    SellerID,
    Name: `Bench seller ${index + 1}`,
    Industries: [industryOf(runId)],
    Location: { Lat: origin.Lat + 0.01 * (index + 1), Lng: origin.Lng },
    Active: true,
  }))
  const answer = await http.send("POST", "/api/v1/sellers", JSON.stringify(body), authorization)
  if (answer.status !== 201 && answer.status !== 200)
    throw new Error(`registering the sellers answered ${answer.label}`)
  return ids
}

export interface OpenedOrders {
  readonly seconds: number
  /** Per order: initiated (202, or 200 when live already). */
  readonly ok: Uint8Array
  readonly initiated: number
  /** Orders whose initiate was not answered 2xx after the retries, or not sent before the deadline. */
  readonly failed: number
  readonly retries: number
  readonly answers: Readonly<Record<string, number>>
}

/** Initiates every order, `concurrency` at a time, until `deadlineMs`; progress every `progressMs`. */
export const initiateOrders = async (
  http: HttpClient,
  runId: string,
  orderIds: ReadonlyArray<string>,
  options: {
    readonly concurrency: number
    readonly label: string
    readonly progressMs: number
    readonly deadlineMs: number
    /** The buyer's bearer token, when the services authenticate. */
    readonly authorization?: string | undefined
  },
): Promise<OpenedOrders> => {
  const { concurrency, label, progressMs } = options
  const started = performance.now()
  const deadline = started + options.deadlineMs
  const answers = new Map<string, number>()
  const ok = new Uint8Array(orderIds.length)
  let next = 0
  let done = 0
  let retries = 0
  const stop = ticker(progressMs, () => `${label}: initiated ${done}/${orderIds.length} orders`)
  const initiate = async (orderId: string) => {
    const body = JSON.stringify({
      OrderReqId: orderId,
      SessionID: `${orderId}-SESSION`,
      "Notification type": "Email",
      BuyerID: buyerOf(runId),
      Industry: industryOf(runId),
      Location: origin,
      Products: ["Bench widget"],
      DeliveryDate: deliveryDate,
    })
    for (let attempt = 1; ; attempt += 1) {
      const answer = await http.send("POST", "/api/v1/initiate", body, options.authorization)
      answers.set(answer.label, (answers.get(answer.label) ?? 0) + 1)
      if (answer.status === 202 || answer.status === 200) return true
      const retryable = answer.status === 429 || answer.status === 503 || answer.status === 0
      if (!retryable || attempt >= 5) return false
      retries += 1
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt))
    }
  }
  const worker = async () => {
    while (next < orderIds.length && performance.now() < deadline) {
      const index = next
      next += 1
      if (await initiate(orderIds[index] as string)) ok[index] = 1
      done += 1
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, orderIds.length) }, worker))
  stop()
  const initiated = ok.reduce((sum, flag) => sum + flag, 0)
  return {
    seconds: (performance.now() - started) / 1000,
    ok,
    initiated,
    failed: orderIds.length - initiated,
    retries,
    answers: Object.fromEntries(answers),
  }
}
