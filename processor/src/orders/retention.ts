/**
 * The processor's side of retention (`@dcent/shared/archive/Archiver`): what of an order goes to
 * the archive and how it leaves Redis.
 *
 * Archived (side `processor`): the order state as one document, from its head `order:{id}` and
 * its proposals `order:{id}:proposals` (the order, its proposals with their seller follow-ups and
 * queued buyer follow-ups, the buyer follow-ups, the selected
 * sellers, the stored replies of idempotent requests), the order event log `order:{id}:events`,
 * and the Google Chat results of its dispatch `order:{id}:gchat`. Removed together with its
 * `retention` and `live-orders` members, only if the state and the log did not change since read.
 *
 * An order ends when it is finalised (at `finalisedAt`) or paused by expiry (at `updatedAt`);
 * the commit that ends it adds it to `retention`, a resume takes it out (`retentionWrites`).
 */
import { createHash } from "node:crypto"
import {
  liveOrdersKeyOf,
  type RetentionSource,
  removeIfUnchanged,
  retentionKeyOf,
  type SourceSnapshot,
} from "@dcent/shared/archive/Archiver"
import { redisScript } from "@dcent/shared/coordination/redisScript"
import type { StateWrite } from "@dcent/shared/eventlog/types"
import { orderEventsKey } from "@dcent/shared/orders/OrderEventLog"
import { pipelineValues } from "@dcent/shared/redis/pipeline"
import { Redis } from "@dcent/shared/redis/Redis"
import { Effect, Schema } from "effect"
import { encodeOrderState, Keys, type OrderState, OrderStateJson, ProposalJson, withProposals } from "./model.ts"

/** When the order ended, in ms; `undefined` while it has not (submitted, paused by the buyer). */
export const endedAtOf = (state: OrderState): number | undefined => {
  if (state.status === "FINALISED") return Date.parse(state.finalisedAt ?? state.updatedAt)
  if (state.status === "PAUSED" && state.pausedReason === "expired") return Date.parse(state.updatedAt)
  return undefined
}

/**
 * The `retention` / `live-orders` writes of a commit that takes the order from `previous` to
 * `next` (none when neither its status nor its end changed).
 */
export const retentionWrites = (
  orderReqId: string,
  previous: OrderState | undefined,
  next: OrderState,
): ReadonlyArray<StateWrite> => {
  const endedAt = endedAtOf(next)
  const wasEnded = previous === undefined ? undefined : endedAtOf(previous)
  const live = next.status !== "FINALISED"
  const wasLive = previous !== undefined && previous.status !== "FINALISED"
  const writes: Array<StateWrite> = []
  if (live !== wasLive)
    writes.push({ op: live ? "sadd" : "srem", key: liveOrdersKeyOf(orderReqId), member: orderReqId })
  if (endedAt !== wasEnded) {
    writes.push(
      endedAt === undefined
        ? { op: "zrem", key: retentionKeyOf(orderReqId), member: orderReqId }
        : { op: "zadd", key: retentionKeyOf(orderReqId), score: endedAt, member: orderReqId },
    )
  }
  return writes
}

export interface ProcessorSnapshot extends SourceSnapshot {
  readonly stateSha1: string
  /** The stream id of the log's last entry (`0-0` when empty). */
  readonly lastId: string
}

const removeScript = redisScript(
  "processor-archive-remove",
  `local raw = redis.call('GET', KEYS[1])
if not raw or redis.sha1hex(raw) ~= ARGV[1] then return 0 end
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last = '0-0'
if top[1] then last = top[1][1] end
if last ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[5], ARGV[3])
redis.call('SREM', KEYS[6], ARGV[3])
return 1`,
)

const decodeState = Schema.decodeUnknownSync(OrderStateJson)
const decodeProposal = Schema.decodeUnknownSync(ProposalJson)

export const processorRetention = Effect.gen(function* () {
  const redis = yield* Redis
  const read = (orderReqId: string) =>
    redis.useIdempotent("GET+XRANGE+HGETALL", async (client): Promise<ProcessorSnapshot | undefined> => {
      const [raw, entries, chatResults, proposals] = (await pipelineValues(
        client
          .pipeline()
          .get(Keys.order(orderReqId))
          .xrange(orderEventsKey(orderReqId), "-", "+")
          .hgetall(Keys.chatResults(orderReqId))
          .hgetall(Keys.proposals(orderReqId)),
      )) as [string | null, Array<[string, Array<string>]>, Record<string, string>, Record<string, string>]
      if (raw === null) return undefined
      const state = withProposals(
        decodeState(raw),
        Object.values(proposals).map((json) => decodeProposal(json)),
      )
      const endedAt = endedAtOf(state)
      return {
        ended: endedAt !== undefined,
        stateSha1: createHash("sha1").update(raw).digest("hex"),
        lastId: entries.at(-1)?.[0] ?? "0-0",
        entry: {
          orderReqId,
          buyerId: state.details.buyerId,
          status: state.status,
          endedAt: new Date(endedAt ?? Date.parse(state.updatedAt)).toISOString(),
          record: encodeOrderState(state),
          extra: JSON.stringify({ chatResults }),
          // The log's entries hold one field, `e`: the record's JSON.
          events: entries.map(([, fields]) => fields[1] as string),
        },
      }
    })
  const remove = (orderReqId: string, snapshot: ProcessorSnapshot) =>
    removeIfUnchanged(
      redis,
      removeScript,
      orderReqId,
      [Keys.order(orderReqId), orderEventsKey(orderReqId), Keys.chatResults(orderReqId), Keys.proposals(orderReqId)],
      [snapshot.stateSha1, snapshot.lastId],
    )
  return { side: "processor", read, remove } satisfies RetentionSource<ProcessorSnapshot>
})
