/**
 * The services' Redis keys as the tests look them up from outside (with the service's prefix),
 * built by the services' own key builders: order keys carry their shard's hash tag and the
 * cross-order sets are split by shard (`shared/src/redis/keys.ts`).
 */
import { liveOrdersKey, liveOrdersKeyOf, retentionKey, retentionKeyOf } from "../../shared/src/archive/Archiver.ts"
import { orderEventsKey, outboxStreamKey } from "../../shared/src/eventlog/encoding.ts"
import { deadLetterStreamKey } from "../../shared/src/outbox/OutboxRelay.ts"
import { allKeyShards, keyShardOf, orderTag } from "../../shared/src/redis/keys.ts"

export const processorPrefix = "dcent:processor:"
export const requestorPrefix = "dcent:requestor:"

/** Every shard's `live-orders` set under `prefix` (to clear them all). */
export const allLiveOrdersKeys = (prefix: string): Array<string> =>
  allKeyShards.map((shard) => `${prefix}${liveOrdersKey(shard)}`)
/** Every shard's `retention` zset under `prefix`. */
export const allRetentionKeys = (prefix: string): Array<string> =>
  allKeyShards.map((shard) => `${prefix}${retentionKey(shard)}`)
/** The `live-orders` set the order is in. */
export const liveOrdersKeyFor = (prefix: string, orderReqId: string): string =>
  `${prefix}${liveOrdersKeyOf(orderReqId)}`
/** The `retention` zset the order is in. */
export const retentionKeyFor = (prefix: string, orderReqId: string): string => `${prefix}${retentionKeyOf(orderReqId)}`
/** The order's hash (requestor) or state string (processor). */
export const orderKey = (prefix: string, orderReqId: string): string =>
  `${prefix}order:${orderTag(orderReqId)}:${orderReqId}`
/** A `SCAN MATCH` pattern for every key of the order (`order:{shard-N}:<id>*`). */
export const orderKeysPattern = (prefix: string, orderReqId: string): string => `${orderKey(prefix, orderReqId)}*`
export const eventsKey = (prefix: string, orderReqId: string): string => `${prefix}${orderEventsKey(orderReqId)}`
/** The outbox stream the order's entries go to, and its dead-letter stream. */
export const outboxKeyFor = (prefix: string, orderReqId: string): string =>
  `${prefix}${outboxStreamKey(keyShardOf(orderReqId))}`
export const deadLetterKeyFor = (prefix: string, orderReqId: string): string =>
  `${prefix}${deadLetterStreamKey(outboxStreamKey(keyShardOf(orderReqId)))}`
