/**
 * Hash tags: the key layout that keeps every multi-key script and `MULTI` in one hash slot, so
 * the same code runs on one Redis and on a Redis Cluster (`REDIS_CLUSTER_NODES`). On one node the
 * tags change nothing but the key names. Every key builder stays in its feature's module
 * (`eventlog/encoding.ts`, `processor/src/orders/model.ts`, `requestor/src/orders/OrderStore.ts`,
 * `archive/Archiver.ts`, the coordination primitives, the seller directory); they take their tags
 * from here.
 *
 * - **Order data, by shard** `{shard-N}`, N = FNV-1a(OrderReqID) mod `keyShards`: one commit
 *   (`OrderEventLog`) writes the order's events stream and state *and* the cross-order structures
 *   the order is in (the outbox stream, the processor's timers, the retention zset, the live-order
 *   set, the sellers' order indexes, the requestor's follow-up answers). For the commit to stay one
 *   atomic script, all of them carry the order's shard tag, and each cross-order structure is
 *   split into `keyShards` keys (`outbox:{shard-N}`, `timers:{shard-N}`, `retention:{shard-N}`,
 *   `live-orders:{shard-N}`, `seller:{shard-N}:<SellerID>:orders`); their readers read every shard
 *   (the outbox relay runs one reader per shard). A commit, the hot path, is one script on one
 *   master; the load spreads over the masters by order.
 * - **Everything else, by name** `{<name>}`: each coordination structure (priority queue,
 *   semaphore, shard leases, rate-limit streams, the seller directory) lives in one slot of its
 *   own. They are small and touched per job or per claim, not per event.
 *
 * Why a fixed 16: enough tags to spread over a few masters (each `{shard-N}` hashes to its own
 * slot), few enough that reading every shard stays cheap (16 blocking reads for the relay, 16
 * `ZRANGEBYSCORE` per timer poll). Changing it moves every order's keys: it is not configurable.
 */
/** FNV-1a (32 bit) of `key`, modulo `shards`: the shard a thing belongs to, the same everywhere. */
export const shardOf = (key: string, shards: number): number => {
  let hash = 0x811c9dc5
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % shards
}

/** The number of order shards (hash tags `{shard-0}` … `{shard-15}`). Fixed: see above. */
export const keyShards = 16

/** `0 … keyShards-1`. */
export const allKeyShards: ReadonlyArray<number> = Array.from({ length: keyShards }, (_, shard) => shard)

/** The hash tag of an order shard. */
export const shardTag = (shard: number): string => `{shard-${shard}}`

/** The shard of an order's keys. */
export const keyShardOf = (orderReqId: string): number => shardOf(orderReqId, keyShards)

/** The hash tag of an order's keys (its shard's). */
export const orderTag = (orderReqId: string): string => shardTag(keyShardOf(orderReqId))

/** The hash tag of a structure kept in one slot of its own (a queue, a semaphore, ...). */
export const nameTag = (name: string): string => `{${name}}`
