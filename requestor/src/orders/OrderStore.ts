/**
 * The requestor's order records in its Redis (keys under `dcent:requestor:`):
 *
 * - `order:{id}`         hash: `details` (JSON), `status`, `registeredAt`, `submittedAt`,
 *                        `updatedAt`, `sessionId`, `notificationType`
 * - `live-orders`        set of the orders a stream holder follows (SUBMITTED or PAUSED)
 * - `followup:{txn}`     the answer to a buyer follow-up, by TransactionUUID (7 days)
 * - `order:{id}:events`  the buyer-facing event log (owned by `OrderEventLog`)
 * - `retention`          sorted set of the orders that ended (finalised, or paused by expiry), by
 *                        when (ms): archived and removed after `ORDER_RETENTION_SECONDS`
 *                        (`./retention.ts`)
 *
 * `get` answers from Redis, else from the archive (an order that ended and left Redis: the same
 * record, marked `archived`); `getLive` from Redis only.
 *
 * Reads go straight to Redis; every write is a `StateWrite` committed through
 * `OrderEventLog.append/record`, atomically with the outbox entries of the same change.
 */

import { liveOrdersKey, liveOrdersKeyOf, retentionKeyOf } from "@dcent/shared/archive/Archiver"
import { ArchiveStore } from "@dcent/shared/archive/ArchiveStore"
import type { ArchiveUnavailable } from "@dcent/shared/archive/errors"
import { Location, NotificationType, OrderStatus, Priority } from "@dcent/shared/orders/domain"
import type { StateWrite } from "@dcent/shared/orders/OrderEventLog"
import type { RedisError, RedisUnavailable } from "@dcent/shared/redis/errors"
import { allKeyShards, orderTag } from "@dcent/shared/redis/keys"
import { isTransientRedisFailure, Redis } from "@dcent/shared/redis/Redis"
import { Context, Effect, Layer, Schema } from "effect"
import type { OrderDetails, StoredOrder } from "./domain.ts"
import { StorageUnavailable } from "./errors.ts"

export const Keys = {
  /** The order's hash, tagged with its shard (`@dcent/shared/redis/keys`) like all it commits. */
  order: (orderReqId: string) => `order:${orderTag(orderReqId)}:${orderReqId}`,
  /** The live orders of an order's shard (`live-orders:{shard-N}`, shared with the archive). */
  liveOrdersOf: liveOrdersKeyOf,
  /** A follow-up's answer, kept for repeats of its TransactionUUID; in its order's shard. */
  followUp: (orderReqId: string, transactionUuid: string) => `followup:${orderTag(orderReqId)}:${transactionUuid}`,
} as const

/** How long a follow-up's answer is kept for repeats of its TransactionUUID. */
export const followUpRetentionMs = 7 * 24 * 60 * 60 * 1000

const OrderDetailsSchema = Schema.Struct({
  orderReqId: Schema.String,
  buyerId: Schema.String,
  industry: Schema.String,
  location: Location,
  products: Schema.Array(
    Schema.Struct({
      productId: Schema.optional(Schema.String),
      name: Schema.String,
      quantity: Schema.Number,
      unit: Schema.optional(Schema.String),
      attributes: Schema.Record(Schema.String, Schema.String),
    }),
  ),
  deliveryDate: Schema.String,
  priority: Priority,
  notificationType: Schema.optional(NotificationType),
  sessionId: Schema.optional(Schema.String),
})

const decodeDetails = Schema.decodeUnknownEffect(Schema.fromJsonString(OrderDetailsSchema))
const decodeStatus = Schema.decodeUnknownEffect(OrderStatus)
const decodeNotificationType = Schema.decodeUnknownEffect(NotificationType)

/** A follow-up answered before, kept for repeats of its TransactionUUID. */
export const StoredFollowUp = Schema.Struct({
  /** Identifies the request body, to tell a repeat from a reuse of the key for something else. */
  fingerprint: Schema.String,
  orderReqId: Schema.String,
  followUpId: Schema.String,
  seq: Schema.Number,
  results: Schema.optionalKey(
    Schema.Array(
      Schema.Struct({
        proposalId: Schema.String,
        outcome: Schema.Literals(["DELIVERED", "EDIT_LOCK"]),
        seq: Schema.Number,
      }),
    ),
  ),
})
export type StoredFollowUp = typeof StoredFollowUp.Type

const decodeFollowUp = Schema.decodeUnknownEffect(Schema.fromJsonString(StoredFollowUp))

export interface OrderStoreShape {
  /**
   * The stored order (from Redis, else from the archive), or `undefined`. A record that cannot be
   * read is a defect (never client input).
   */
  readonly get: (orderReqId: string) => Effect.Effect<StoredOrder | undefined, StorageUnavailable>
  /** The order in Redis only (the stream holder: an archived order is not followed). */
  readonly getLive: (orderReqId: string) => Effect.Effect<StoredOrder | undefined, StorageUnavailable>
  /** The buyer-facing events after `afterSeq` of an archived order (JSON texts, oldest first). */
  readonly archivedEvents: (
    orderReqId: string,
    afterSeq: number,
  ) => Effect.Effect<ReadonlyArray<string>, StorageUnavailable>
  /** The ids in `live-orders`. */
  readonly liveOrders: Effect.Effect<ReadonlyArray<string>, StorageUnavailable>
  readonly getFollowUp: (
    orderReqId: string,
    transactionUuid: string,
  ) => Effect.Effect<StoredFollowUp | undefined, StorageUnavailable>
}

const unavailable = (error: RedisUnavailable | RedisError) =>
  isTransientRedisFailure(error)
    ? Effect.fail(new StorageUnavailable({ storage: "redis", problem: error.message, cause: error }))
    : Effect.die(error)

export class OrderStore extends Context.Service<OrderStore, OrderStoreShape>()("dcent/requestor/OrderStore") {
  static readonly make = Effect.gen(function* () {
    const redis = yield* Redis
    const archive = yield* ArchiveStore

    const fromHash = Effect.fn("OrderStore.fromHash")(function* (hash: Record<string, string>) {
      if (hash.details === undefined || hash.status === undefined) return undefined
      const details = yield* decodeDetails(hash.details).pipe(Effect.orDie)
      const status = yield* decodeStatus(hash.status).pipe(Effect.orDie)
      const notificationType =
        hash.notificationType === undefined || hash.notificationType === ""
          ? undefined
          : yield* decodeNotificationType(hash.notificationType).pipe(Effect.orDie)
      const stored: StoredOrder = {
        details: details as OrderDetails,
        status,
        ...(hash.sessionId === undefined || hash.sessionId === "" ? {} : { sessionId: hash.sessionId }),
        ...(notificationType === undefined ? {} : { notificationType }),
        registeredAt: hash.registeredAt ?? hash.updatedAt ?? new Date(0).toISOString(),
        ...(hash.submittedAt === undefined ? {} : { submittedAt: hash.submittedAt }),
        updatedAt: hash.updatedAt ?? hash.registeredAt ?? new Date(0).toISOString(),
      }
      return stored
    })

    const getLive = Effect.fn("OrderStore.getLive")(function* (orderReqId: string) {
      const hash = yield* redis
        .useIdempotent("HGETALL", (client) => client.hgetall(Keys.order(orderReqId)))
        .pipe(Effect.catch(unavailable))
      return yield* fromHash(hash)
    })

    const archiveUnavailable = (error: ArchiveUnavailable) =>
      new StorageUnavailable({ storage: "archive", problem: error.reason, cause: error })

    const get = Effect.fn("OrderStore.get")(function* (orderReqId: string) {
      const live = yield* getLive(orderReqId)
      if (live !== undefined || !archive.enabled) return live
      const archived = yield* archive.load("requestor", orderReqId).pipe(Effect.mapError(archiveUnavailable))
      if (archived === undefined) return undefined
      const order = yield* fromHash(JSON.parse(archived.record) as Record<string, string>)
      return order === undefined ? undefined : { ...order, archived: true as const }
    })

    const archivedEvents = (orderReqId: string, afterSeq: number) =>
      archive.events("requestor", orderReqId, afterSeq).pipe(Effect.mapError(archiveUnavailable))

    const liveOrders = Effect.forEach(
      allKeyShards,
      (shard) => redis.useIdempotent("SMEMBERS", (client) => client.smembers(liveOrdersKey(shard))),
      { concurrency: "unbounded" },
    ).pipe(
      Effect.catch(unavailable),
      Effect.map((ids) => ids.flat().sort()),
    )

    const getFollowUp = Effect.fn("OrderStore.getFollowUp")(function* (orderReqId: string, transactionUuid: string) {
      const raw = yield* redis
        .useIdempotent("GET", (client) => client.get(Keys.followUp(orderReqId, transactionUuid)))
        .pipe(Effect.catch(unavailable))
      if (raw === null) return undefined
      return yield* decodeFollowUp(raw).pipe(Effect.orDie)
    })

    return OrderStore.of({ get, getLive, archivedEvents, liveOrders, getFollowUp })
  })

  static readonly layer: Layer.Layer<OrderStore, never, Redis | ArchiveStore> = Layer.effect(
    OrderStore,
    OrderStore.make,
  )
}

// --- writes (committed through the event log) ---------------------------------------------------

const hset = (orderReqId: string, field: string, value: string): StateWrite => ({
  op: "hset",
  key: Keys.order(orderReqId),
  field,
  value,
})

/** Registration (or re-registration before initiate): the details, REGISTERED. */
export const registerWrites = (details: OrderDetails, now: string, registeredAt: string): ReadonlyArray<StateWrite> => [
  hset(details.orderReqId, "details", JSON.stringify(details)),
  hset(details.orderReqId, "status", "REGISTERED"),
  hset(details.orderReqId, "registeredAt", registeredAt),
  hset(details.orderReqId, "updatedAt", now),
]

/** Initiate: (the details), SUBMITTED, the session; the order becomes live. */
export const submitWrites = (input: {
  readonly details: OrderDetails
  readonly writeDetails: boolean
  readonly sessionId: string
  readonly notificationType: string
  readonly registeredAt: string
  readonly now: string
}): ReadonlyArray<StateWrite> => {
  const id = input.details.orderReqId
  return [
    ...(input.writeDetails ? [hset(id, "details", JSON.stringify(input.details))] : []),
    hset(id, "status", "SUBMITTED"),
    hset(id, "sessionId", input.sessionId),
    hset(id, "notificationType", input.notificationType),
    hset(id, "registeredAt", input.registeredAt),
    hset(id, "submittedAt", input.now),
    hset(id, "updatedAt", input.now),
    { op: "sadd", key: Keys.liveOrdersOf(id), member: id },
  ]
}

/** A recorded event that moves the order: PAUSED, SUBMITTED again, or FINALISED (no longer live). */
export const statusWrites = (
  orderReqId: string,
  status: "PAUSED" | "SUBMITTED" | "FINALISED",
  at: string,
): ReadonlyArray<StateWrite> => [
  hset(orderReqId, "status", status),
  hset(orderReqId, "updatedAt", at),
  ...(status === "FINALISED" ? [{ op: "srem", key: Keys.liveOrdersOf(orderReqId), member: orderReqId } as const] : []),
]

/**
 * The order's `retention` membership: added when it ends (finalised, or paused by expiry) with
 * when it ended, removed when it is resumed.
 */
export const retentionWrite = (orderReqId: string, endedAt: string | undefined): StateWrite =>
  endedAt === undefined
    ? { op: "zrem", key: retentionKeyOf(orderReqId), member: orderReqId }
    : { op: "zadd", key: retentionKeyOf(orderReqId), score: Date.parse(endedAt), member: orderReqId }

export const touchWrite = (orderReqId: string, at: string): StateWrite => hset(orderReqId, "updatedAt", at)

export const dropLiveWrite = (orderReqId: string): StateWrite => ({
  op: "srem",
  key: Keys.liveOrdersOf(orderReqId),
  member: orderReqId,
})

export const followUpWrite = (orderReqId: string, transactionUuid: string, stored: StoredFollowUp): StateWrite => ({
  op: "set",
  key: Keys.followUp(orderReqId, transactionUuid),
  value: JSON.stringify(stored),
  pxMs: followUpRetentionMs,
})
