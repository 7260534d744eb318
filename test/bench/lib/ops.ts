/**
 * How an event is traced back to the submission that caused it: every submission of a run gets
 * a number (`opId`) and sends `Price = opId + 1`. The services copy the price into the event's
 * `Details.Price` (NewProposal / ProposalUpdate), into the SSE `data` and into the topic payloads,
 * so each delivery — on any channel, in any process — names its submission without a lookup of
 * ids the receiver does not know.
 */

export const priceOf = (opId: number): number => opId + 1

/** The opId of a proposal event's price, or -1 when the event is not a submission's. */
export const opIdOf = (status: string, price: string | undefined): number => {
  if ((status !== "NewProposal" && status !== "ProposalUpdate") || price === undefined) return -1
  const value = Number(price)
  return Number.isInteger(value) && value >= 1 ? value - 1 : -1
}

/** Delivery channels of the watchers (topics are named by their topic). */
export const Channels = { grpc: 0, sse: 1 } as const
export type WatchChannel = (typeof Channels)[keyof typeof Channels]
export const channelName = (channel: WatchChannel): string => (channel === Channels.grpc ? "WatchOrder" : "SSE")

/** Epoch milliseconds with sub-millisecond resolution: comparable across the bench's processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now()
