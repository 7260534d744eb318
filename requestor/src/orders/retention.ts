/**
 * The requestor's side of retention (`@dcent/shared/archive/Archiver`): what of an order goes to
 * the archive and how it leaves Redis.
 *
 * Archived (side `requestor`): the buyer's order record `order:{id}` (the hash, as a JSON
 * object) and the buyer-facing event log `order:{id}:events`. Removed together with its
 * `retention` and `live-orders` members, only if its status, its `updatedAt` and its log did not
 * change since read. The per-TransactionUUID follow-up answers (`followup:{txn}`) are not per
 * order and keep their own 7-day expiry; the follow-ups themselves are events of both logs and
 * part of the processor's archived order.
 *
 * An order ends with `OrderFinalised`, or an `OrderPaused` of expiry not followed by a resume
 * (`recording.ts` keeps `retention` in step with the events it records).
 */
import { type RetentionSource, removeIfUnchanged, type SourceSnapshot } from "@dcent/shared/archive/Archiver"
import { redisScript } from "@dcent/shared/coordination/redisScript"
import { orderEventsKey } from "@dcent/shared/orders/OrderEventLog"
import { pipelineValues } from "@dcent/shared/redis/pipeline"
import { Redis } from "@dcent/shared/redis/Redis"
import { Effect } from "effect"
import { Keys } from "./OrderStore.ts"

export interface RequestorSnapshot extends SourceSnapshot {
  readonly status: string
  readonly updatedAt: string
  /** The stream id of the log's last entry (`0-0` when empty). */
  readonly lastId: string
}

const removeScript = redisScript(
  "requestor-archive-remove",
  `local fields = redis.call('HMGET', KEYS[1], 'status', 'updatedAt')
if fields[1] ~= ARGV[1] or fields[2] ~= ARGV[2] then return 0 end
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last = '0-0'
if top[1] then last = top[1][1] end
if last ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('SREM', KEYS[4], ARGV[4])
return 1`,
)

/** When the order ended (ISO 8601), from its events; `undefined` while it has not. */
export const endedAtOf = (
  status: string,
  events: ReadonlyArray<{
    readonly status: string
    readonly occurredAt: string
    readonly details: Record<string, string>
  }>,
) => {
  const last = events.findLast((event) => ["OrderPaused", "OrderResumed", "OrderFinalised"].includes(event.status))
  if (last === undefined) return undefined
  if (status === "FINALISED" && last.status === "OrderFinalised") return last.occurredAt
  if (status === "PAUSED" && last.status === "OrderPaused" && last.details.Reason === "expired") return last.occurredAt
  return undefined
}

export const requestorRetention = Effect.gen(function* () {
  const redis = yield* Redis
  const read = (orderReqId: string) =>
    redis.useIdempotent("HGETALL+XRANGE", async (client): Promise<RequestorSnapshot | undefined> => {
      const [hash, entries] = (await pipelineValues(
        client.pipeline().hgetall(Keys.order(orderReqId)).xrange(orderEventsKey(orderReqId), "-", "+"),
      )) as [Record<string, string>, Array<[string, Array<string>]>]
      if (hash.status === undefined) return undefined
      // The log's entries hold one field, `e`: the record's JSON.
      const events = entries.map(([, fields]) => fields[1] as string)
      const endedAt = endedAtOf(
        hash.status,
        events.map(
          (json) => JSON.parse(json) as { status: string; occurredAt: string; details: Record<string, string> },
        ),
      )
      let buyerId: string | undefined
      try {
        buyerId = (JSON.parse(hash.details ?? "{}") as { buyerId?: string }).buyerId
      } catch {
        buyerId = undefined
      }
      return {
        ended: endedAt !== undefined,
        status: hash.status,
        updatedAt: hash.updatedAt ?? "",
        lastId: entries.at(-1)?.[0] ?? "0-0",
        entry: {
          orderReqId,
          buyerId,
          status: hash.status,
          endedAt: endedAt ?? hash.updatedAt ?? new Date(0).toISOString(),
          record: JSON.stringify(hash),
          extra: "{}",
          events,
        },
      }
    })
  const remove = (orderReqId: string, snapshot: RequestorSnapshot) =>
    removeIfUnchanged(
      redis,
      removeScript,
      orderReqId,
      [Keys.order(orderReqId), orderEventsKey(orderReqId)],
      [snapshot.status, snapshot.updatedAt, snapshot.lastId],
    )
  return { side: "requestor", read, remove } satisfies RetentionSource<RequestorSnapshot>
})
