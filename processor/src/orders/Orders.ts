/**
 * The order lifecycle over Redis: every command reads the order's state and the log's last seq
 * (one round trip), asks the pure `decide`, and commits the resulting events, the new state, the
 * timer changes and the topic messages in ONE `OrderEventLog.appendAt` (one Lua script: all or
 * nothing).
 *
 * One concurrency control: the commit is a compare-and-set — it applies only if the log still
 * ends at the seq that was read and the state key still holds the value that was read (its
 * SHA-1). A conflict (another replica changed the order in between) changes nothing; the command
 * is read and decided again (`RetryPolicies.commitConflict`), and answers 503 only when conflicts
 * keep coming. Within one process, commands of one order queue (`serialiseByKey`) instead of
 * conflicting, so conflicts only happen between replicas. No Redis lock, no lock round trips.
 *
 * `open` additionally enqueues the order's dispatch job (idempotent by OrderReqID) when the order
 * is new or was never dispatched; `resume` does the same for an order paused before its dispatch.
 */
import { createHash } from "node:crypto"
import { ArchiveStore } from "@dcent/shared/archive/ArchiveStore"
import { serialiseByKey } from "@dcent/shared/concurrency/serialiseByKey"
import { PriorityQueue } from "@dcent/shared/coordination/PriorityQueue"
import { seqOfStreamId } from "@dcent/shared/eventlog/encoding"
import type { OutboxEntry, StateWrite } from "@dcent/shared/eventlog/types"
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import { OrderEventLog, orderEventsKey } from "@dcent/shared/orders/OrderEventLog"
import { Outbox } from "@dcent/shared/outbox/Outbox"
import { pipelineValues } from "@dcent/shared/redis/pipeline"
import { Redis } from "@dcent/shared/redis/Redis"
import { backoff, RetryPolicies } from "@dcent/shared/resilience/schedules"
import { currentTraceCarrier, noStackTrace } from "@dcent/shared/telemetry/traceContext"
import { Clock, Context, Data, Effect, Layer, Option, Result, Schema } from "effect"
import { ProcessorConfig } from "../config.ts"
import { decide } from "./decide.ts"
import type { Command, Decision, Replies } from "./decision.ts"
import { type CommandError, type Unavailable, unavailable, unavailableOrDefect, WrongState } from "./errors.ts"
import {
  changedProposals,
  encodeOrderHead,
  Keys,
  type OrderDetails,
  type OrderState,
  OrderStateJson,
  ownProposals,
  type Proposal,
  ProposalJson,
  withProposals,
} from "./model.ts"
import { outboxEntries } from "./outbox.ts"
import { RecentStates } from "./recentStates.ts"
import { retentionWrites } from "./retention.ts"

/** The dispatch queue (shared by every replica). */
export const dispatchQueue = "dispatch"

export interface DispatchJobPayload {
  readonly orderReqId: string
  /** W3C trace context of the request that queued the job: the dispatch continues its trace. */
  readonly traceContext?: Readonly<Record<string, string>>
}

export interface CommandResult<R> {
  readonly reply: R
  readonly records: ReadonlyArray<OrderEventRecord>
}

export interface OrdersShape {
  /** The order's state in Redis, `None` when unknown there. */
  readonly get: (orderReqId: string) => Effect.Effect<Option.Option<OrderState>, Unavailable>
  /** `get`, else the archived state of an order that left Redis (for reads: the same document). */
  readonly find: (orderReqId: string) => Effect.Effect<Option.Option<OrderState>, Unavailable>
  /** Runs one command: read, decide, commit atomically (compare-and-set, re-decided on a conflict). */
  readonly run: <C extends Command>(
    orderReqId: string,
    command: C,
  ) => Effect.Effect<CommandResult<Replies[C["_tag"]]>, CommandError>
  /** Opens the order (idempotent) and makes sure its dispatch job is queued while it needs one. */
  readonly open: (details: OrderDetails) => Effect.Effect<Replies["Open"], CommandError>
  /** Queues the order's dispatch job (idempotent while queued or running). */
  readonly enqueueDispatch: (state: OrderState) => Effect.Effect<boolean, Unavailable>
  /** Writes topic messages through the outbox without an event (e.g. `PRP_FAILURES`). */
  readonly publish: (orderReqId: string, entries: ReadonlyArray<OutboxEntry>) => Effect.Effect<void, Unavailable>
}

/** The order changed between a command's read and its commit (nothing was written). */
class CommitConflict extends Data.TaggedError("CommitConflict")<{ readonly orderReqId: string }> {
  override get message() {
    return `order ${this.orderReqId} changed between its read and its commit`
  }
}

const decodeState = Schema.decodeUnknownEffect(OrderStateJson)
const decodeProposal = Schema.decodeUnknownEffect(ProposalJson)

const sha1 = (value: string) => createHash("sha1").update(value).digest("hex")

/** What a command reads before deciding: the stored head (raw, for the guard), the proposals and the log's end. */
interface Snapshot {
  readonly raw: string | null
  readonly proposals: Record<string, string>
  readonly logSeq: number
}

/**
 * The writes that carry a decision's state and timer changes, and its `retention` / `live-orders`
 * membership when its status changed from `previous` (see `./retention.ts`).
 */
export const decisionWrites = (
  orderReqId: string,
  decision: Decision<unknown>,
  previous?: OrderState,
): ReadonlyArray<StateWrite> => [
  ...(decision.state === undefined
    ? []
    : [
        { op: "set" as const, key: Keys.order(orderReqId), value: encodeOrderHead(decision.state) },
        ...proposalWrites(orderReqId, previous, decision.state),
        ...retentionWrites(orderReqId, previous, decision.state),
      ]),
  ...decision.timers.set.map((timer) => ({
    op: "zadd" as const,
    key: Keys.timersOf(orderReqId),
    score: timer.dueAt,
    member: timer.member,
  })),
  ...decision.timers.clear.map((member) => ({ op: "zrem" as const, key: Keys.timersOf(orderReqId), member })),
  ...sellerIndexWrites(orderReqId, decision),
]

/** Only the proposals the decision changed (see `encodeOrderHead`). */
const proposalWrites = (orderReqId: string, previous: OrderState | undefined, next: OrderState) => {
  const { set, removed } = changedProposals(previous, next)
  const key = Keys.proposals(orderReqId)
  return [
    ...set.map((proposal) => ({
      op: "hset" as const,
      key,
      field: proposal.proposalId,
      value: JSON.stringify(proposal),
    })),
    ...removed.map((field) => ({ op: "hdel" as const, key, field })),
  ]
}

/**
 * The sellers' index of their live orders (`GET /api/v1/sellers/:SellerID/orders`): an order
 * enters it with its SellersSelected event and leaves it when it is finalised.
 */
const sellerIndexWrites = (orderReqId: string, decision: Decision<unknown>): ReadonlyArray<StateWrite> => {
  const sellers = decision.state?.selectedSellers ?? []
  return decision.events.flatMap(
    (event): ReadonlyArray<StateWrite> =>
      event.status === "SellersSelected"
        ? sellers.map((seller) => ({
            op: "zadd" as const,
            key: Keys.sellerOrdersOf(seller.SellerID, orderReqId),
            score: Date.parse(event.occurredAt) || 0,
            member: orderReqId,
          }))
        : event.status === "OrderFinalised"
          ? sellers.map((seller) => ({
              op: "zrem" as const,
              key: Keys.sellerOrdersOf(seller.SellerID, orderReqId),
              member: orderReqId,
            }))
          : [],
  )
}

export const makeOrders = () =>
  Effect.gen(function* () {
    const redis = yield* Redis
    const archive = yield* ArchiveStore
    const eventLog = yield* OrderEventLog
    const outbox = yield* Outbox
    const queue = yield* PriorityQueue
    const config = yield* ProcessorConfig
    const orderExpiryMs = config.orderExpiryMinutes * 60_000
    const serialise = serialiseByKey()
    const recentStates = new RecentStates(2_000)
    const conflictRetries = backoff(RetryPolicies.commitConflict)

    /** A whole state (head and proposals in one JSON, as archived), or a head with its stored proposals. */
    const decodeStored = (orderReqId: string, raw: string | null, proposals: Record<string, string> = {}) =>
      raw === null
        ? Effect.succeed(Option.none<OrderState>())
        : Effect.all([decodeState(raw), Effect.forEach(Object.values(proposals), (json) => decodeProposal(json))]).pipe(
            Effect.map(([head, stored]: readonly [OrderState, ReadonlyArray<Proposal>]) =>
              Option.some(withProposals(head, stored)),
            ),
            Effect.mapError(unavailable("order state", orderReqId)),
          )

    const get = Effect.fn("Orders.get")(function* (orderReqId: string) {
      const [raw, proposals] = yield* redis
        .useIdempotent("GET+HGETALL", async (client) => {
          const [raw, proposals] = await pipelineValues(
            client.pipeline().get(Keys.order(orderReqId)).hgetall(Keys.proposals(orderReqId)),
          )
          return [
            (raw as string | null | undefined) ?? null,
            (proposals as Record<string, string> | undefined) ?? {},
          ] as const
        })
        .pipe(Effect.mapError(unavailable("redis")))
      return yield* decodeStored(orderReqId, raw, proposals)
    })

    const isArchived = (orderReqId: string) =>
      archive.enabled
        ? archive.load("processor", orderReqId).pipe(
            Effect.map((archived) => archived !== undefined),
            Effect.mapError(unavailable("archive")),
          )
        : Effect.succeed(false)

    const find = Effect.fn("Orders.find")(function* (orderReqId: string) {
      const live = yield* get(orderReqId)
      if (Option.isSome(live) || !archive.enabled) return live
      const archived = yield* archive.load("processor", orderReqId).pipe(Effect.mapError(unavailable("archive")))
      return yield* decodeStored(orderReqId, archived?.record ?? null)
    })

    /** The state and the log's last seq in one round trip (a pipeline: two reads, no lock). */
    const snapshot = (orderReqId: string) =>
      redis
        .useIdempotent("GET+HGETALL+XREVRANGE", async (client): Promise<Snapshot> => {
          const [raw, proposals, newest] = await pipelineValues(
            client
              .pipeline()
              .get(Keys.order(orderReqId))
              .hgetall(Keys.proposals(orderReqId))
              .xrevrange(orderEventsKey(orderReqId), "+", "-", "COUNT", 1),
          )
          const top = (newest as ReadonlyArray<[string, unknown]> | undefined)?.[0]
          const logSeq = top === undefined ? 0 : seqOfStreamId(top[0])
          if (logSeq === undefined) throw new Error(`unexpected stream id ${top?.[0]}`)
          return {
            raw: (raw as string | null | undefined) ?? null,
            proposals: (proposals as Record<string, string> | undefined) ?? {},
            logSeq,
          }
        })
        .pipe(Effect.mapError(unavailable("redis")))

    /**
     * What this process committed last, when it has it (taken out of the cache: the command owns
     * it until it commits, see `ownProposals`); else the snapshot read from Redis.
     */
    const current = (orderReqId: string) =>
      Effect.suspend(() => {
        const recent = recentStates.take(orderReqId)
        if (recent !== undefined) {
          return Effect.succeed({
            raw: recent.raw,
            sha1: recent.sha1,
            state: recent.state,
            logSeq: recent.logSeq,
            remembered: true,
          })
        }
        return snapshot(orderReqId).pipe(
          Effect.flatMap(({ raw, proposals, logSeq }) =>
            decodeStored(orderReqId, raw, proposals).pipe(
              Effect.map((stored) => ({
                raw,
                sha1: raw === null ? "" : sha1(raw),
                state: Option.getOrUndefined(stored),
                logSeq,
                remembered: false,
              })),
            ),
          ),
        )
      })

    /** Read, decide, commit once; `CommitConflict` when the order changed in between. */
    const step = <C extends Command>(
      orderReqId: string,
      command: C,
    ): Effect.Effect<CommandResult<Replies[C["_tag"]]>, CommandError | CommitConflict> =>
      Effect.gen(function* () {
        const read = yield* current(orderReqId)
        const { raw, logSeq } = read
        // Not in Redis: new, or ended and archived (then it can no longer change, nor open again).
        if (raw === null && (yield* isArchived(orderReqId))) {
          return yield* new WrongState({
            orderReqId,
            reason: "order_archived",
            description: `order ${orderReqId} has ended and was archived; it can no longer change`,
          })
        }
        let state = read.state
        // No one else holds this state now: the decision may set proposals in place.
        if (state !== undefined) ownProposals(state)
        if (state !== undefined && state.lastSeq !== logSeq) {
          // Should not happen (state and events are committed together); trust the log.
          yield* Effect.logWarning("order state and event log disagree on the last seq; using the log").pipe(
            Effect.annotateLogs({ orderReqId, stateSeq: state.lastSeq, logSeq }),
          )
          state = { ...state, lastSeq: logSeq }
        }
        const now = new Date(yield* Clock.currentTimeMillis)
        const decided = decide(state, command, { now, newId: () => crypto.randomUUID(), orderExpiryMs }, orderReqId)
        const writes = Result.isSuccess(decided) ? decisionWrites(orderReqId, decided.success, state) : []
        // A refusal or an answer without a commit is not checked by the compare-and-set: decided on a
        // remembered state, it is decided again on the state read from Redis.
        if (
          read.remembered &&
          (Result.isFailure(decided) || (decided.success.events.length === 0 && writes.length === 0))
        ) {
          recentStates.forget(orderReqId)
          return yield* step(orderReqId, command)
        }
        const decision = yield* Effect.fromResult(decided)
        if (decision.events.length === 0 && writes.length === 0) {
          return { reply: decision.reply as Replies[C["_tag"]], records: [] }
        }
        const details = (decision.state ?? state)?.details
        const outcome = yield* eventLog
          .appendAt(orderReqId, logSeq, decision.events, {
            writes,
            outbox: (records) => (details === undefined ? [] : outboxEntries(details, decision.outbox, records)),
            guards: [{ key: Keys.order(orderReqId), sha1: read.sha1 }],
          })
          .pipe(
            // An outcome we do not know (Redis failed mid-way): what we remember may be stale.
            Effect.tapError(() => Effect.sync(() => recentStates.forget(orderReqId))),
            Effect.catch(unavailableOrDefect),
          )
        if (outcome._tag === "Conflict") {
          recentStates.forget(orderReqId)
          return yield* new CommitConflict({ orderReqId })
        }
        const records = outcome.records
        const written = writes.find((write) => write.op === "set" && write.key === Keys.order(orderReqId))
        const newState = decision.state ?? state
        if (written?.op === "set" && decision.state !== undefined) {
          recentStates.set(orderReqId, {
            raw: written.value,
            sha1: sha1(written.value),
            state: decision.state,
            logSeq: logSeq + records.length,
          })
        } else if (raw !== null && newState !== undefined && records.length === 0) {
          recentStates.set(orderReqId, { raw, sha1: read.sha1, state: newState, logSeq: logSeq + records.length })
        } else {
          recentStates.forget(orderReqId)
        }
        const first = records[0]
        if (first !== undefined && state !== undefined && first.seq !== state.lastSeq + 1) {
          yield* Effect.logError("order events got unexpected seqs").pipe(
            Effect.annotateLogs({ orderReqId, expected: state.lastSeq + 1, got: first.seq }),
          )
        }
        return { reply: decision.reply as Replies[C["_tag"]], records }
      })

    const run = <C extends Command>(orderReqId: string, command: C) =>
      serialise(
        orderReqId,
        step(orderReqId, command).pipe(
          Effect.retry({ schedule: conflictRetries, while: (error) => error._tag === "CommitConflict" }),
        ),
      ).pipe(
        Effect.catchTag("CommitConflict", (conflict) => Effect.fail(unavailable("order", orderReqId)(conflict))),
        Effect.withSpan("Orders.run", { attributes: { orderReqId, command: command._tag } }, noStackTrace),
      )

    const enqueueDispatch = Effect.fn("Orders.enqueueDispatch")(function* (state: OrderState) {
      const payload: DispatchJobPayload = {
        orderReqId: state.details.orderReqId,
        traceContext: yield* currentTraceCarrier,
      }
      return yield* queue
        .enqueue(dispatchQueue, {
          id: state.details.orderReqId,
          priority: state.details.priority,
          payload: JSON.stringify(payload),
        })
        .pipe(Effect.catch(unavailableOrDefect))
    })

    const open = Effect.fn("Orders.open")(function* (details: OrderDetails) {
      yield* Effect.annotateCurrentSpan({ orderReqId: details.orderReqId })
      const { reply } = yield* run(details.orderReqId, { _tag: "Open", details })
      if (reply.needsDispatch) {
        const queued = yield* enqueueDispatch(reply.state)
        if (reply.created) {
          yield* Effect.logInfo("order opened").pipe(
            Effect.annotateLogs({ orderReqId: details.orderReqId, priority: details.priority, queued }),
          )
        }
      }
      return reply
    })

    const publish = Effect.fn("Orders.publish")(function* (orderReqId: string, entries: ReadonlyArray<OutboxEntry>) {
      if (entries.length === 0) return
      yield* outbox.add(orderReqId === "" ? "-" : orderReqId, entries).pipe(Effect.catch(unavailableOrDefect))
    })

    return { get, find, run, open, enqueueDispatch, publish } satisfies OrdersShape
  })

export class Orders extends Context.Service<Orders, OrdersShape>()("dcent/processor/Orders") {
  static readonly layer = Layer.effect(Orders, makeOrders())
}
