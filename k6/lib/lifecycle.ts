/** One order's life through the REST APIs, as a buyer app and its sellers drive it. */
import { check, sleep } from "k6"
import exec from "k6/execution"
import http from "k6/http"
import {
  buyerFollowUpBody,
  finaliseBody,
  initiateBody,
  proposalBody,
  sellerFollowUpBody,
  sellerIdOf,
  sellersBody,
} from "./bodies.ts"
import { config, params } from "./config.ts"

const json = JSON.stringify

/** Registers the run's sellers on the processor (the scripts' `setup`). */
export const registerSellers = (): void => {
  const answer = http.post(
    `${config.processorUrl}/api/v1/sellers`,
    json(sellersBody(config.runId, config.sellers)),
    params("POST /api/v1/sellers"),
  )
  if (answer.status !== 200 && answer.status !== 201) {
    throw new Error(`registering the sellers answered ${answer.status}: ${answer.body}`)
  }
}

/** An order id unique to this run, VU and iteration. */
export const nextOrderId = (prefix: string): string =>
  `${config.runId}-${prefix}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`

export const initiate = (orderReqId: string): boolean =>
  check(
    http.post(
      `${config.requestorUrl}/api/v1/initiate`,
      json(initiateBody(config.runId, orderReqId)),
      params("POST /api/v1/initiate"),
    ),
    { "initiate 202": (answer) => answer.status === 202 },
  )

/** Waits (bounded) until the processor has selected the order's sellers: proposals are refused before. */
export const awaitSellers = (orderReqId: string): Array<string> => {
  const deadline = Date.now() + config.waitSeconds * 1000
  while (Date.now() < deadline) {
    const answer = http.get(`${config.processorUrl}/api/v1/orders/${orderReqId}`, params("GET /api/v1/orders/{id}"))
    if (answer.status === 200) {
      const selected = (answer.json("SelectedSellers") as Array<{ SellerID: string }> | null) ?? []
      if (selected.length > 0) return selected.map((seller) => seller.SellerID)
    }
    sleep(0.2)
  }
  check(null, { "sellers selected in time": () => false })
  return []
}

/** Proposals, their updates, a buyer follow-up, the sellers' answers and the finalise. */
export const driveToFinalise = (orderReqId: string): void => {
  const selected = awaitSellers(orderReqId)
  const ours = Array.from({ length: config.sellers }, (_, index) => sellerIdOf(config.runId, index))
  const sellers = selected.filter((id) => ours.includes(id)).slice(0, config.proposals)
  if (sellers.length === 0) return
  const proposalIds = sellers.map((_, index) => `${orderReqId}-P${index + 1}`)
  for (let round = 0; round <= config.updates; round += 1) {
    sellers.forEach((sellerId, index) => {
      const answer = http.post(
        `${config.processorUrl}/api/v1/proposal-submissions`,
        json(proposalBody(orderReqId, sellerId, proposalIds[index] as string, 1000 + 10 * round + index)),
        params("POST /api/v1/proposal-submissions"),
      )
      check(answer, { "proposal 201/200": (r) => r.status === (round === 0 ? 201 : 200) })
    })
  }
  check(
    http.post(
      `${config.requestorUrl}/api/v1/followup`,
      json(buyerFollowUpBody(orderReqId, proposalIds, `${orderReqId}-BFU`)),
      params("POST /api/v1/followup (buyer)"),
    ),
    { "buyer follow-up 2xx": (r) => r.status >= 200 && r.status < 300 },
  )
  sellers.forEach((sellerId, index) => {
    check(
      http.post(
        `${config.processorUrl}/api/v1/followup`,
        json(sellerFollowUpBody(orderReqId, sellerId, proposalIds[index] as string, `${orderReqId}-SFU${index + 1}`)),
        params("POST /api/v1/followup (seller)"),
      ),
      { "seller follow-up 201": (r) => r.status === 201 },
    )
  })
  check(
    http.put(
      `${config.requestorUrl}/api/v1/finalize/${orderReqId}`,
      json(finaliseBody(proposalIds[0] as string, `${orderReqId}-FIN`)),
      params("PUT /api/v1/finalize/{id}"),
    ),
    { "finalise 2xx": (r) => r.status >= 200 && r.status < 300 },
  )
}

/** Seqs 1, 2, 3 … without a gap or a repeat. */
export const gapFree = (seqs: ReadonlyArray<number>): boolean => seqs.every((seq, index) => seq === index + 1)
