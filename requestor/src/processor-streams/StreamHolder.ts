/**
 * Holds the streams of the live orders in the shards this replica owns, and records every
 * received event once in the buyer-facing event log. Several requestor replicas share one Redis:
 * each live order's stream is held by exactly one of them at a time.
 *
 * Ownership is by shard, not by order: an order belongs to shard `shardOf(OrderReqID,
 * STREAM_SHARDS)`, and the shards are leased among the live replicas (`ShardLeases`: one claim
 * script per replica every TTL/3, fair shares, taken over when a replica dies or stops).
 *
 * Per owned shard, ONE multiplexed call to the processor (`ProcessOrderStreams`) carries the
 * streams of all its orders. A live order costs a small record in its shard's map here and a
 * member of a follow set on the processor: no fiber, Effect stream, span, lease or HTTP/2 stream
 * of its own, so 100,000 live orders cost about what ten do, at rest.
 *
 *   shard acquired ─▶ read `live-orders` once, its orders join the shard; connect the shard's call
 *   connected      ─▶ each order: read it + its last recorded seq ─▶ `open` (from_seq = that seq)
 *   opened         ─▶ its events: OrderEventLog.record each (+ BUYER_NOTIFY / BUYER_FOLLOWUP,
 *                     status writes, atomically), in seq order, until OrderFinalised
 *   refused / a read failed ─▶ that order alone opens again after a backoff
 *   a seq gap      ─▶ that order alone opens again from its last recorded seq
 *   the call broke (processor gone, a Redis failure while recording) ─▶ reconnect after a
 *                     backoff, every order opens again from its last recorded seq
 *   shard lost     ─▶ its call is cancelled at once; the new owner opens its orders again
 *   order initiated ─▶ here, when its shard is ours; else announced on `<prefix>stream-orders`,
 *                     and the owner of its shard takes it
 *
 * An open always resumes from the last *recorded* seq, and the log is shared in Redis, so a
 * break or a hand-over to another replica loses nothing, and a redelivered event is a
 * "duplicate" (recorded once) — even in the short overlap a paused, expired holder could cause.
 * Events of an order that is (re)opening are ignored until its `opened` answer, which the
 * processor sends before the events of that open. Opens run at most `openConcurrency` at a time
 * (their reads), so taking 100,000 orders over is a steady ramp, not a storm.
 *
 * A missed announcement (the subscriber was reconnecting) is caught by the re-read of the owned
 * shards after every resubscription and by a slow safety re-read (`resyncInterval`, default 60 s).
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { shardLeases, shardOf } from "@dcent/shared/coordination/ShardLeases"
import type { OrderEvent } from "@dcent/shared/generated/dcent/orders/v1/order"
import type {
  OrderStreamOpened,
  OrderStreamRefused,
  OrderStreamsRequest,
  OrderStreamsResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { DisconnectReasons, StreamKinds } from "@dcent/shared/metrics/catalogue"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { type StreamTracker, streamTracker } from "@dcent/shared/metrics/streams"
import { isTerminalStatus, orderEventFromProto } from "@dcent/shared/orders/events"
import { OrderEventLog, type SeqGap } from "@dcent/shared/orders/OrderEventLog"
import { openSpanAttributes, openSpanName } from "@dcent/shared/orders/streams"
import { Redis } from "@dcent/shared/redis/Redis"
import { subscribeToChannel } from "@dcent/shared/redis/subscriber"
import { backoff, RetryPolicies } from "@dcent/shared/resilience/schedules"
import { warnWhenSlow } from "@dcent/shared/telemetry/slow"
import { currentTraceCarrier } from "@dcent/shared/telemetry/traceContext"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  FiberMap,
  FiberSet,
  Layer,
  Queue,
  Random,
  Schedule,
  Schema,
  Semaphore,
  Stream,
} from "effect"
import { RequestorConfig } from "../config.ts"
import { isLive } from "../orders/domain.ts"
import { dropLiveWrite, OrderStore } from "../orders/OrderStore.ts"
import { ProcessorClient } from "../processor/ProcessorClient.ts"
import { StreamOrigins, withReceiveSpan } from "./eventSpans.ts"
import { commitFor, sessionOf, streamRequestFor } from "./recording.ts"

export interface StreamHolderShape {
  /**
   * Makes sure the order's stream is held (idempotent): taken here when its shard is ours,
   * else announced to the replica that owns the shard.
   */
  readonly ensure: (orderReqId: string) => Effect.Effect<void>
  /** Whether this replica holds the order's stream (its shard is ours and the order is in it). */
  readonly isHolding: (orderReqId: string) => Effect.Effect<boolean>
  /** How many order streams this replica holds. */
  readonly size: Effect.Effect<number>
  /** The shards this replica owns. */
  readonly shards: Effect.Effect<ReadonlySet<number>>
  /** This replica's owner token in the shard leases (`requestor@host:httpPort/random`). */
  readonly owner: string
}

/** The shard set (see `@dcent/shared/coordination/ShardLeases`) of the order streams. */
export const streamShardSet = "order-streams"

/** The shard an order's stream belongs to. */
export const streamShardOf = (orderReqId: string, shards: number) => shardOf(orderReqId, shards)

/** Pub/sub channel (ioredis does not prefix channels) announcing orders whose stream must be held. */
export const streamOrdersChannel = (keyPrefix: string) => `${keyPrefix}stream-orders`

export interface StreamHolderOptions {
  /** First reconnect delay (default `RetryPolicies.streamReconnect`, 200 ms); doubles per failed attempt, ±20 % jitter. */
  readonly retryBase?: Duration.Input
  /** Longest reconnect delay (default 5 s). */
  readonly retryCap?: Duration.Input
  /** Safety re-read of `live-orders` for the owned shards (default 60 s). */
  readonly resyncInterval?: Duration.Input
  /** Shard lease TTL (default 6 s). */
  readonly leaseTtl?: Duration.Input
  /** How often the shards are claimed (default a third of `leaseTtl`); shorter leaves more slack. */
  readonly claimEvery?: Duration.Input
  /** Number of shards (default 64); the same on every replica. */
  readonly shards?: number
  /** Orders opening at once, over all shards (default 64). */
  readonly openConcurrency?: number
  /** Owner token in the leases (default `requestor@<host>/<random>`); unique per process. */
  readonly owner?: string
  /** Each shard claim's lateness in ms (a metric). */
  readonly onClaimLag?: (lagMs: number) => void
  /** Counts the order streams held (a metric). */
  readonly streams?: StreamTracker
}

/**
 * Where one order of a held shard is: `idle` (no call is connected: the next one opens it),
 * `opening` (its open is being prepared or was sent, or is retried after a refusal: its events are
 * ignored until `opened`), `open` (its events are recorded).
 */
type Phase = "idle" | "opening" | "open"

/** One live order of a held shard: what recording its events needs, and its phase. */
interface Member {
  phase: Phase
  /** The order's session (`sessionOf`), carried by its topic messages; known once opened. */
  sessionId: string
  /** While an `open` is on its way: completed by its `opened`, failed by its `refused`. */
  answer: Deferred.Deferred<void, OpenRefused> | undefined
}

/** A shard this replica owns: its orders and, while a call is connected, its commands and tasks. */
interface HeldShard {
  readonly members: Map<string, Member>
  commands: Queue.Queue<OrderStreamsRequest> | undefined
  /** Runs an order's open on the connected call (interrupted when the call ends). */
  run: (<A, E>(effect: Effect.Effect<A, E>) => unknown) | undefined
}

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

/** The processor refused an order's `open` (that order alone is opened again after a backoff). */
class OpenRefused extends Schema.TaggedError<OpenRefused>()("OpenRefused", {
  orderReqId: Schema.String,
  /** The processor's machine-readable code (`order_not_found`, ...) and its message. */
  errorCode: Schema.String,
  description: Schema.String,
}) {
  override get message() {
    return `the processor refused the open: ${this.errorCode} ${this.description}`
  }
}

/** Why a shard's call ended: the processor ended it (no `cause`), or it failed (`cause`). */
const callEndReason = (cause: unknown): string =>
  cause === undefined ? "the processor ended the call" : messageOf(cause)

/** How long an order's `open` may wait for its answer before a warning says so. */
const unansweredOpenWarning = Duration.seconds(10)

/** A call that broke before any answer: retried with growing delays. */
class NoProgress extends Schema.TaggedError<NoProgress>()("NoProgress", {
  shard: Schema.Number,
  /** The call's failure (the gRPC error, or the whole cause); absent when the processor ended it. */
  cause: Schema.optionalKey(Schema.Defect()),
}) {
  override get message() {
    return callEndReason(this.cause)
  }
}

export class StreamHolder extends Context.Service<StreamHolder, StreamHolderShape>()("dcent/requestor/StreamHolder") {
  static readonly make = Effect.fn("StreamHolder.make")(function* (options: StreamHolderOptions = {}) {
    const eventLog = yield* OrderEventLog
    const store = yield* OrderStore
    const processor = yield* ProcessorClient
    const redis = yield* Redis
    const calls = yield* FiberMap.make<number>()
    const retryPolicy = {
      ...RetryPolicies.streamReconnect,
      ...(options.retryBase === undefined ? {} : { base: options.retryBase }),
      ...(options.retryCap === undefined ? {} : { max: options.retryCap }),
    }
    const retrySchedule = backoff(retryPolicy)
    const leaseTtlMs = Math.max(
      3,
      Math.round(Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "6 seconds"))),
    )
    const resyncInterval = options.resyncInterval ?? "60 seconds"
    const shardCount = Math.max(1, Math.floor(options.shards ?? 64))
    const opening = yield* Semaphore.make(Math.max(1, Math.floor(options.openConcurrency ?? 64)))
    const owner = options.owner ?? `requestor@${hostname()}/${randomUUID().slice(0, 8)}`
    /** The shards held here, with their orders. */
    const held = new Map<number, HeldShard>()
    /** The span that asked for an order's stream (e.g. `POST /api/v1/initiate`): its next open joins that trace. */
    const origins = new StreamOrigins()

    // The calls run with the layer's context (not the caller's: an HTTP request ends, its order's
    // stream must not).
    const runCall = yield* FiberMap.runtime(calls)<never>()

    const send = (shard: HeldShard, command: OrderStreamsRequest) => {
      if (shard.commands !== undefined) Queue.offerUnsafe(shard.commands, command)
    }

    const streams = options.streams
    const forget = (shard: HeldShard, orderReqId: string, member: Member) => {
      if (shard.members.get(orderReqId) !== member) return
      shard.members.delete(orderReqId)
      streams?.closed(DisconnectReasons.Completed)
    }

    /**
     * One open of the order: read it and its last recorded seq, send `open` on the shard's call,
     * wait for the processor's answer. Fails when a read fails or the processor refuses.
     */
    const openOnce = (shard: HeldShard, orderReqId: string, member: Member) =>
      Effect.gen(function* () {
        const [order, fromSeq] = yield* opening.withPermits(1)(
          Effect.all([store.getLive(orderReqId), eventLog.lastSeq(orderReqId)], { concurrency: 2 }),
        )
        if (shard.members.get(orderReqId) !== member) return
        if (order === undefined || !isLive(order.status)) {
          forget(shard, orderReqId, member)
          yield* Effect.logInfo("order not live; stream holder stops").pipe(
            Effect.annotateLogs({
              reason: order === undefined ? "the order is unknown" : `the order is ${order.status}`,
            }),
          )
          // Keep `live-orders` honest (best effort).
          yield* eventLog.commitWrites(orderReqId, [dropLiveWrite(orderReqId)]).pipe(Effect.ignore)
          return
        }
        member.sessionId = sessionOf(order)
        const answer = yield* Deferred.make<void, OpenRefused>()
        member.answer = answer
        member.phase = "opening"
        const origin = origins.take(orderReqId)
        const sendOpen = Effect.map(currentTraceCarrier, (traceContext) =>
          send(shard, { open: streamRequestFor(order, fromSeq), close: undefined, traceContext }),
        )
        yield* origin === undefined
          ? Effect.sync(() =>
              send(shard, { open: streamRequestFor(order, fromSeq), close: undefined, traceContext: {} }),
            )
          : sendOpen.pipe(
              Effect.withSpan(openSpanName, {
                parent: origin,
                kind: "client",
                attributes: { ...openSpanAttributes, "dcent.order_req_id": orderReqId },
              }),
            )
        yield* Effect.logDebug("opening order stream").pipe(Effect.annotateLogs({ fromSeq }))
        yield* Deferred.await(answer).pipe(
          warnWhenSlow(
            unansweredOpenWarning,
            Effect.logWarning("order stream open unanswered; still waiting").pipe(
              Effect.annotateLogs({ fromSeq, after: Duration.format(unansweredOpenWarning) }),
            ),
          ),
        )
      })

    /**
     * Opens the order on the shard's connected call, again after each failure (backoff) for as
     * long as it is in the shard; ends with the call (whose successor opens it anew).
     */
    const openOrder = (shard: HeldShard, orderReqId: string, member: Member) => {
      if (shard.run === undefined) {
        member.phase = "idle"
        return
      }
      member.phase = "opening"
      let failures = 0
      shard.run(
        openOnce(shard, orderReqId, member).pipe(
          Effect.tapError((error) =>
            Effect.suspend(() => {
              failures += 1
              const log = failures === 1 || failures % 20 === 0 ? Effect.logWarning : Effect.logDebug
              return log("order stream unavailable; opening it again").pipe(
                Effect.annotateLogs({ attempt: failures, reason: error.message }),
              )
            }),
          ),
          Effect.retry({ schedule: retrySchedule, while: () => shard.members.get(orderReqId) === member }),
          Effect.ignore,
          Effect.annotateLogs({ orderReqId, replica: owner }),
        ),
      )
    }

    const onOpened = (shard: HeldShard, opened: OrderStreamOpened) =>
      Effect.sync(() => {
        const member = shard.members.get(opened.orderReqId)
        if (member === undefined || member.phase !== "opening" || member.answer === undefined) return
        member.phase = "open"
        Deferred.doneUnsafe(member.answer, Effect.void)
        member.answer = undefined
      })

    const onRefused = (shard: HeldShard, refused: OrderStreamRefused) =>
      Effect.sync(() => {
        const member = shard.members.get(refused.orderReqId)
        if (member === undefined || member.phase !== "opening" || member.answer === undefined) return
        // Still `opening`: its events stay ignored until the retried open is answered.
        const error = new OpenRefused({
          orderReqId: refused.orderReqId,
          errorCode: refused.errorCode,
          description: refused.message,
        })
        Deferred.doneUnsafe(member.answer, Effect.fail(error))
        member.answer = undefined
      })

    /** Records one event of an open order; a Redis failure fails the call (everything reopens). */
    const onEvent = (shard: HeldShard, event: OrderEvent) =>
      Effect.gen(function* () {
        const member = shard.members.get(event.orderReqId)
        if (member === undefined || member.phase !== "open") return false
        const record = yield* orderEventFromProto(event)
        const result = yield* eventLog.record(record, commitFor(member.sessionId, record)).pipe(
          withReceiveSpan(record),
          Effect.catchTag("SeqGap", (gap: SeqGap) =>
            Effect.as(
              Effect.sync(() => {
                // Events went missing on the way: open the order again from its last recorded seq.
                if (shard.members.get(record.orderReqId) === member) openOrder(shard, record.orderReqId, member)
              }),
              `gap: expected seq ${gap.expected}` as const,
            ),
          ),
        )
        yield* Effect.logDebug("order event").pipe(
          Effect.annotateLogs({ orderReqId: record.orderReqId, seq: record.seq, status: record.status, result }),
        )
        if (isTerminalStatus(record.status) && (result === "recorded" || result === "duplicate")) {
          forget(shard, record.orderReqId, member)
          yield* Effect.logInfo("order finalised; stream closed").pipe(
            Effect.annotateLogs({ orderReqId: record.orderReqId }),
          )
        }
        return true
      })

    const onResponse = (shard: HeldShard, response: OrderStreamsResponse) => {
      if (response.event !== undefined) return onEvent(shard, response.event)
      if (response.opened !== undefined) return Effect.as(onOpened(shard, response.opened), true)
      if (response.refused !== undefined) return Effect.as(onRefused(shard, response.refused), true)
      return Effect.succeed(false)
    }

    /** One call of a shard: connect, open every order, record until it breaks. */
    const connection = (shardNumber: number, shard: HeldShard) =>
      Effect.gen(function* () {
        const commands = yield* Effect.acquireRelease(Queue.unbounded<OrderStreamsRequest>(), (queue) =>
          Effect.sync(() => {
            if (shard.commands === queue) {
              shard.commands = undefined
              shard.run = undefined
            }
            for (const member of shard.members.values()) {
              member.phase = "idle"
              member.answer = undefined
            }
          }).pipe(Effect.andThen(Queue.shutdown(queue))),
        )
        // The opens of this call (released first: interrupted when the call ends).
        const opens = yield* FiberSet.make()
        const run = yield* FiberSet.runtime(opens)<never>()
        let answered = false
        yield* Effect.sync(() => {
          shard.commands = commands
          shard.run = run
          for (const [orderReqId, member] of shard.members) openOrder(shard, orderReqId, member)
        })
        yield* Effect.logDebug("order streams connected").pipe(
          Effect.annotateLogs({ shard: shardNumber, orders: shard.members.size }),
        )
        const outcome = yield* processor.orderStreams(Stream.toAsyncIterable(Stream.fromQueue(commands))).pipe(
          Stream.runForEach((response) =>
            Effect.tap(onResponse(shard, response), (handled) =>
              Effect.sync(() => {
                if (handled) answered = true
              }),
            ),
          ),
          Effect.exit,
        )
        const failure =
          outcome._tag === "Success"
            ? undefined
            : outcome.cause.reasons[0]?._tag === "Fail"
              ? outcome.cause.reasons[0].error
              : outcome.cause
        return { answered, failure }
      }).pipe(Effect.scoped)

    /** Holds the shard's call while the shard is ours, reconnecting every break. */
    const holdShard = (shardNumber: number, shard: HeldShard) =>
      Effect.gen(function* () {
        let failures = 0
        const attempt = connection(shardNumber, shard).pipe(
          Effect.flatMap((end) =>
            end.answered
              ? Effect.succeed(end)
              : Effect.fail(
                  new NoProgress({ shard: shardNumber, ...(end.failure === undefined ? {} : { cause: end.failure }) }),
                ),
          ),
          Effect.tapError((error) =>
            Effect.suspend(() => {
              failures += 1
              const log = failures === 1 || failures % 20 === 0 ? Effect.logWarning : Effect.logDebug
              return log("order streams unavailable; reconnecting").pipe(
                Effect.annotateLogs({ attempt: failures, reason: error.message }),
              )
            }),
          ),
          Effect.retry(retrySchedule),
        )
        while (true) {
          const end = yield* attempt
          failures = 0
          yield* Effect.logInfo("order streams broke; reopening every order from its last recorded seq").pipe(
            Effect.annotateLogs({ reason: callEndReason(end.failure), orders: shard.members.size }),
          )
          // After progress: reconnect at the first delay again (jittered).
          yield* Effect.sleep(
            Duration.times(Duration.fromInputUnsafe(retryPolicy.base), yield* Random.nextBetween(0.8, 1.2)),
          )
        }
      }).pipe(Effect.annotateLogs({ shard: shardNumber, replica: owner }))

    // --- the owned shards and their orders -----------------------------------------------------

    let leases: { readonly holds: (shard: number) => boolean } | undefined

    /** The shard's record when this replica holds it. */
    const heldShardOf = (orderReqId: string): HeldShard | undefined => {
      const shard = streamShardOf(orderReqId, shardCount)
      return leases?.holds(shard) === true ? held.get(shard) : undefined
    }

    /** The order joins its held shard (and opens at once when the shard's call is up). */
    const take = (orderReqId: string) => {
      const shard = heldShardOf(orderReqId)
      if (shard === undefined || shard.members.has(orderReqId)) return
      const member: Member = { phase: "idle", sessionId: "", answer: undefined }
      shard.members.set(orderReqId, member)
      streams?.opened()
      openOrder(shard, orderReqId, member)
    }

    const holdShards = (shards: ReadonlyArray<number>) =>
      Effect.sync(() => {
        for (const shardNumber of shards) {
          if (held.has(shardNumber)) continue
          const shard: HeldShard = { members: new Map(), commands: undefined, run: undefined }
          held.set(shardNumber, shard)
          runCall(shardNumber, holdShard(shardNumber, shard), { onlyIfMissing: true })
        }
      })

    /** The live orders of `shards` join them (one read of `live-orders`). */
    const takeShardOrders = (shards: ReadonlySet<number>) =>
      store.liveOrders.pipe(
        Effect.tap((ids) =>
          Effect.sync(() => {
            for (const id of ids) if (shards.has(streamShardOf(id, shardCount))) take(id)
          }),
        ),
        Effect.retry(retrySchedule),
        Effect.withSpan("StreamHolder.takeShardOrders", { attributes: { shards: shards.size } }),
      )

    /** Cancels the calls of `shards` at once and forgets their orders. */
    const dropShards = (shards: ReadonlyArray<number>) =>
      Effect.forEach(
        shards,
        (shardNumber) =>
          Effect.suspend(() => {
            const members = held.get(shardNumber)?.members
            for (let left = members?.size ?? 0; left > 0; left--) streams?.closed(DisconnectReasons.Shutdown)
            members?.clear()
            held.delete(shardNumber)
            return FiberMap.remove(calls, shardNumber)
          }),
        { discard: true },
      )

    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const layerScope = yield* Effect.scope

    // Orders initiated on a replica that does not own their shard reach the owner here.
    yield* subscribeToChannel(redis, {
      channel: streamOrdersChannel(redis.keyPrefix),
      onMessage: (orderReqId) => take(orderReqId),
      // Announcements may have been missed while the subscriber reconnected.
      onSubscribed: () => {
        if (leases !== undefined) runFork(resync.pipe(Effect.ignore))
      },
    })

    const shardLeaseSet = yield* shardLeases(redis, {
      name: streamShardSet,
      shards: shardCount,
      owner,
      ttlMs: leaseTtlMs,
      ...(options.claimEvery === undefined
        ? {}
        : { renewEveryMs: Duration.toMillis(Duration.fromInputUnsafe(options.claimEvery)) }),
      ...(options.onClaimLag === undefined ? {} : { onClaimLag: options.onClaimLag }),
      onChange: (change) =>
        Effect.gen(function* () {
          if (change.lost.length > 0) {
            yield* dropShards(change.lost)
            yield* Effect.logWarning("stream shards lost; their streams stopped, another replica takes over").pipe(
              Effect.annotateLogs({ shards: change.lost.length, reason: change.reason ?? "" }),
            )
          }
          if (change.acquired.length > 0) {
            yield* Effect.logInfo("stream shards acquired; holding their live orders' streams").pipe(
              Effect.annotateLogs({ shards: change.acquired.length }),
            )
            yield* holdShards(change.acquired)
            // Off the claim loop: reading live-orders must not delay the next claim.
            yield* takeShardOrders(new Set(change.acquired)).pipe(Effect.ignore, Effect.forkIn(layerScope))
          }
        }),
    })
    leases = shardLeaseSet

    const resync = Effect.gen(function* () {
      const owned = yield* shardLeaseSet.owned
      if (owned.size > 0) yield* takeShardOrders(owned)
    })
    yield* resync.pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(resyncInterval)),
      Effect.delay(resyncInterval),
      Effect.forkScoped,
    )

    const announce = (orderReqId: string) =>
      redis
        .use("PUBLISH", (client) => client.publish(streamOrdersChannel(redis.keyPrefix), orderReqId))
        .pipe(Effect.timeout("1 second"), Effect.ignore)

    const ensure = (orderReqId: string) =>
      origins
        .remember(orderReqId)
        .pipe(
          Effect.andThen(
            Effect.suspend(() =>
              heldShardOf(orderReqId) !== undefined ? Effect.sync(() => take(orderReqId)) : announce(orderReqId),
            ),
          ),
        )

    yield* Effect.logInfo("stream holder ready").pipe(
      Effect.annotateLogs({ replica: owner, leaseTtlMs, shards: shardCount }),
    )

    return StreamHolder.of({
      ensure,
      isHolding: (orderReqId) => Effect.sync(() => heldShardOf(orderReqId)?.members.has(orderReqId) ?? false),
      size: Effect.sync(() => {
        let size = 0
        for (const shard of held.values()) size += shard.members.size
        return size
      }),
      shards: shardLeaseSet.owned,
      owner,
    })
  })

  /** `STREAM_LEASE_TTL_SECONDS`, `STREAM_SHARDS`; the owner token names the host and REST port (unique per process). */
  static readonly layer: Layer.Layer<
    StreamHolder,
    never,
    OrderEventLog | OrderStore | ProcessorClient | Redis | RequestorConfig
  > = Layer.effect(
    StreamHolder,
    Effect.gen(function* () {
      const config = yield* RequestorConfig
      const { catalogue } = yield* Metrics.orUnscraped
      const claimLag = catalogue.shardClaimLag
      return yield* StreamHolder.make({
        leaseTtl: Duration.seconds(config.streamLeaseTtlSeconds),
        shards: config.streamShards,
        onClaimLag: (lagMs) => claimLag.observe(lagMs / 1000),
        streams: streamTracker(catalogue, StreamKinds.RequestorOrderStream),
        owner: `requestor@${hostname()}:${config.httpPort}/${randomUUID().slice(0, 8)}`,
      })
    }),
  )
}
