/**
 * Canonical JSON (object keys sorted at every depth) and the fingerprints built on it: two
 * requests that differ only in the key order of their JSON are the same request.
 */
import { createHash } from "node:crypto"
import type { FollowUpCommand, OrderDetails } from "./domain.ts"

/** `value` as JSON with every object's keys in sorted order. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : inner,
  )

/** Same details, whatever the key order of the JSON they came in (a repeated register is `unchanged`). */
export const sameDetails = (a: OrderDetails, b: OrderDetails): boolean => canonicalJson(a) === canonicalJson(b)

/** What identifies a follow-up request apart from its TransactionUUID (a reused UUID with other content is a conflict). */
export const followUpFingerprint = (command: FollowUpCommand): string =>
  createHash("sha256")
    .update(canonicalJson({ orderReqId: command.orderReqId, audience: command.audience, message: command.message }))
    .digest("hex")
