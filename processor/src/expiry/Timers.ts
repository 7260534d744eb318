/**
 * Timers: order expiry (→ `OrderPaused`, reason `expired`) and edit-lock TTLs (→ `EditUnlock`,
 * then the buyer follow-ups queued during the lock).
 *
 * They live in the sorted set `timers` (score = due time in ms; members `expiry|{order}` and
 * `editlock|{order}|{proposal}`), written by the commands in the same commit as the state they
 * belong to. Every replica polls it every `TIMER_POLL_MS`; whoever removes a due member
 * (`ZREM` answers 1) handles it — as an ordinary command (its compare-and-set commit re-checks
 * the state), so a stale timer (the order was resumed, the lock extended or released) does
 * nothing but re-schedule the current one. A timer whose handling failed (Redis, an order that kept changing)
 * is put back a second later.
 */

import { allKeyShards } from "@dcent/shared/redis/keys"
import { Redis } from "@dcent/shared/redis/Redis"
import { Clock, Duration, Effect, Layer } from "effect"
import { ProcessorConfig } from "../config.ts"
import type { CommandError } from "../orders/errors.ts"
import { Keys, parseTimerMember } from "../orders/model.ts"
import { Orders } from "../orders/Orders.ts"

export interface TimersOptions {
  /** Due timers handled per poll (default 100). */
  readonly batchSize?: number
  /** Timers handled at once (default 8). */
  readonly concurrency?: number
  /** Delay before a failed timer is tried again (default 1 s). */
  readonly retryDelayMs?: number
}

export const makeTimers = (options: TimersOptions = {}) =>
  Effect.gen(function* () {
    const redis = yield* Redis
    const orders = yield* Orders
    const config = yield* ProcessorConfig
    const batchSize = options.batchSize ?? 100
    const retryDelayMs = options.retryDelayMs ?? 1_000

    const handle = (shard: number, member: string) => {
      const timer = parseTimerMember(member)
      if (timer === undefined) {
        return Effect.logWarning("unknown timer dropped").pipe(Effect.annotateLogs({ member }))
      }
      const command: Effect.Effect<string, CommandError> =
        timer._tag === "Expiry"
          ? orders.run(timer.orderReqId, { _tag: "Expire" }).pipe(Effect.map(({ reply }) => reply.outcome))
          : orders
              .run(timer.orderReqId, { _tag: "UnlockProposal", proposalId: timer.proposalId, reason: "expired" })
              .pipe(Effect.map(({ reply }) => reply.outcome))
      return command.pipe(
        Effect.tap((outcome) =>
          Effect.logInfo("timer handled").pipe(
            Effect.annotateLogs({ timer: timer._tag, orderReqId: timer.orderReqId, outcome }),
          ),
        ),
        Effect.catchTags({
          // Nothing left to time out.
          OrderNotFound: () => Effect.void,
          ProposalNotFound: () => Effect.void,
          Unavailable: (error) =>
            Effect.logWarning("timer failed; retrying shortly").pipe(
              Effect.annotateLogs({ member, error: error.message }),
              Effect.andThen(Clock.currentTimeMillis),
              Effect.flatMap((now) =>
                redis.use("ZADD", (client) => client.zadd(Keys.timers(shard), now + retryDelayMs, member)),
              ),
              Effect.ignore,
            ),
        }),
        Effect.catchCause((cause) =>
          Effect.logError("timer handling failed", cause).pipe(Effect.annotateLogs({ member })),
        ),
        Effect.asVoid,
      )
    }

    /**
     * One poll: claims and handles the due timers of every order shard (`Keys.timers`, one sorted
     * set per shard); answers how many it handled.
     */
    const poll = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const due = (yield* Effect.forEach(
        allKeyShards,
        (shard) =>
          redis
            .use("ZRANGEBYSCORE", (client) =>
              client.zrangebyscore(Keys.timers(shard), "-inf", now, "LIMIT", 0, batchSize),
            )
            .pipe(Effect.map((members) => members.map((member) => ({ shard, member })))),
        { concurrency: "unbounded" },
      )).flat()
      let handled = 0
      yield* Effect.forEach(
        due,
        ({ shard, member }) =>
          redis
            .use("ZREM", (client) => client.zrem(Keys.timers(shard), member))
            .pipe(
              Effect.flatMap((removed) => {
                if (removed !== 1) return Effect.void // another replica claimed it
                handled += 1
                return handle(shard, member)
              }),
            ),
        { concurrency: options.concurrency ?? 8, discard: true },
      )
      return handled
    }).pipe(Effect.withSpan("Timers.poll"))

    const loop = poll.pipe(
      Effect.catchCause((cause) => Effect.logDebug("timer poll failed", cause).pipe(Effect.as(0))),
      Effect.flatMap((handled) =>
        handled >= batchSize ? Effect.void : Effect.sleep(Duration.millis(config.timerPollMs)),
      ),
      Effect.forever,
    )

    return { poll, loop }
  })

/** Polls the timers in the background while the layer lives. */
export const TimersLive = (options: TimersOptions = {}) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const timers = yield* makeTimers(options)
      yield* Effect.forkScoped(timers.loop)
    }),
  )
