/**
 * Size limits on what one request may carry, the same on both services, REST and gRPC (a request
 * past one is a 400 / INVALID_ARGUMENT naming the field). The OpenAPI documents state them.
 */
export const orderLimits = {
  /** Characters of a follow-up message's text. */
  messageText: 10_000,
  /** URLs attached to one follow-up. */
  urls: 20,
  /** Characters of one URL. */
  urlLength: 2048,
  /** ProposalIDs in one follow-up's `Audience`. */
  audience: 100,
  /** Products of one order. */
  products: 200,
  /** Characters of the reason given when pausing an order. */
  pauseReason: 500,
} as const
