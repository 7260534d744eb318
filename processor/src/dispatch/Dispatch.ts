/**
 * Dispatch (spec: "Processing on the processor", steps 1–3): `DISPATCH_WORKERS` fibers per
 * replica take jobs from the Redis priority queue `dispatch` (HIGH first, FIFO within a priority,
 * aging after `DISPATCH_AGING_MS`) and run them under the Redis semaphore `dispatch` of
 * `MAX_CONCURRENT_TASKS` permits shared by every replica.
 *
 * A worker first takes a permit, then the best job, so whichever job runs next is the best one at
 * that moment. A job: read the order; if it was dispatched already (or vanished), only ack;
 * otherwise select the sellers (`SellerSelection.select`, outside the command: it may call the
 * road-distance provider), then commit `SellersSelected` with one `SELLER_NOTIFY` per seller
 * as a command — the commit re-checks `dispatchedAt`, so an order is dispatched exactly
 * once even if its job runs twice (an expired lease) — then post Google Chat (GChat orders;
 * results in the hash `order:{id}:gchat` and the log), then ack.
 *
 * An idle worker does not poll: it waits for a wake-up of the queue (`PriorityQueue.listen`: an
 * enqueue or a job put back by any replica wakes one idle worker per replica; a depth check per
 * replica every ~1.5 s is the fallback for a lost wake-up), and a worker waiting for a permit is
 * woken when one is released (`DistributedSemaphore`).
 *
 * Drain (SIGTERM): workers take no new job; running jobs may finish until the drain deadline
 * (`DRAIN_TIMEOUT_SECONDS`); a job still running then is interrupted and released to the queue at
 * once (its semaphore permit is freed), so another replica runs it — never lost, and its commit
 * re-checks `dispatchedAt`, so never run twice to completion.
 *
 * A road-distance provider that failed (sellers ranked by straight-line distance instead) and
 * Google Chat posts that failed after their retries (or with their circuit open) are reported on
 * `PRP_FAILURES` (Operation `road-distance` / `google-chat`, the reason, what was asked).
 *
 * Instrumentation: every job appends `{orderReqId, priority, replica, worker, waitedMs,
 * startedAt, endedAt, outcome}` to the Redis list `dispatch:stats` (last 10 000 kept) and logs
 * the same as `dispatch job done`, so concurrency can be measured from the jobs themselves.
 */
import { hostname } from "node:os"
import { DistributedSemaphore } from "@dcent/shared/coordination/DistributedSemaphore"
import { isCoordinationOutage } from "@dcent/shared/coordination/errors"
import { PriorityQueue, type TakenJob } from "@dcent/shared/coordination/PriorityQueue"
import type { OutboxEntry } from "@dcent/shared/eventlog/types"
import { PendingReports } from "@dcent/shared/outbox/PendingReports"
import { Redis } from "@dcent/shared/redis/Redis"
import { Drain, makeInFlight, onDrain } from "@dcent/shared/runtime/Drain"
import { withRemoteParent } from "@dcent/shared/telemetry/traceContext"
import { Cause, Clock, DateTime, Duration, Effect, Layer, Option, Schedule } from "effect"
import { ProcessorConfig } from "../config.ts"
import { SellerNotifier } from "../notifications/SellerNotifier.ts"
import { Keys } from "../orders/model.ts"
import { type DispatchJobPayload, dispatchQueue, Orders } from "../orders/Orders.ts"
import { orderToNotify, proposalFailure } from "../orders/outbox.ts"
import { type SelectedSeller as SelectionResult, SellerSelection, withoutContacts } from "../sellers/selectSellers.ts"

/** The semaphore shared by the dispatch jobs of every replica. */
export const dispatchSemaphore = "dispatch"

/** Redis list of finished jobs (JSON `DispatchStat`), newest last. */
export const dispatchStatsKey = "dispatch:stats"
const keptStats = 10_000

export interface DispatchStat {
  readonly orderReqId: string
  readonly priority: string
  readonly replica: string
  readonly worker: number
  /** Time from enqueue to take, ms. */
  readonly waitedMs: number
  /** Epoch ms. */
  readonly startedAt: number
  readonly endedAt: number
  /** `dispatched`, `already_dispatched`, `paused`, `finalised`, `missing`, `failed`. */
  readonly outcome: string
  readonly sellers?: number
}

export interface DispatchOptions {
  /** Lease of a taken job (default 60 s); an unacked job is queued again after it. */
  readonly leaseMs?: number
  /** How often expired leases are put back (default 5 s). */
  readonly requeueEveryMs?: number
}

const payloadOf = (job: TakenJob): string => {
  try {
    const parsed = JSON.parse(job.payload) as Partial<DispatchJobPayload>
    return typeof parsed.orderReqId === "string" && parsed.orderReqId !== "" ? parsed.orderReqId : job.id
  } catch {
    return job.id
  }
}

/** The trace context the job was queued with (the dispatch joins that request's trace). */
const traceOf = (job: TakenJob): DispatchJobPayload["traceContext"] => {
  try {
    const parsed = JSON.parse(job.payload) as Partial<DispatchJobPayload>
    return typeof parsed.traceContext === "object" && parsed.traceContext !== null ? parsed.traceContext : undefined
  } catch {
    return undefined
  }
}

export const makeDispatch = (options: DispatchOptions = {}) =>
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    const queue = yield* PriorityQueue
    const semaphore = yield* DistributedSemaphore
    const orders = yield* Orders
    const selection = yield* SellerSelection
    const notifier = yield* SellerNotifier
    const redis = yield* Redis
    const workers = Option.getOrElse(config.dispatchWorkers, () => config.maxConcurrentTasks)
    const limit = config.maxConcurrentTasks
    const leaseMs = options.leaseMs ?? 60_000
    const replica = `${hostname()}:${process.pid}`
    const drain = yield* Effect.serviceOption(Drain)
    const pendingReports = yield* Effect.serviceOption(PendingReports)
    const isDraining = () => Option.isSome(drain) && drain.value.isDraining()
    /** Jobs running now (taken, not yet acked or released). */
    const inFlight = makeInFlight()

    const record = (stat: DispatchStat) =>
      Effect.gen(function* () {
        yield* redis
          .use("RPUSH", (client) =>
            client.multi().rpush(dispatchStatsKey, JSON.stringify(stat)).ltrim(dispatchStatsKey, -keptStats, -1).exec(),
          )
          .pipe(Effect.ignore)
        yield* Effect.logInfo("dispatch job done").pipe(
          Effect.annotateLogs({
            orderReqId: stat.orderReqId,
            priority: stat.priority,
            worker: stat.worker,
            waitedMs: stat.waitedMs,
            startedAt: stat.startedAt,
            endedAt: stat.endedAt,
            durationMs: stat.endedAt - stat.startedAt,
            outcome: stat.outcome,
          }),
        )
      })

    /**
     * `PRP_FAILURES` for an outgoing call that failed after its retries (or with its circuit
     * open): the reason and what was asked, never a URL (webhook URLs carry credentials).
     * Best effort: the order goes on (straight-line distances, the other notifications).
     */
    const reportDependencyFailures = (orderReqId: string, sessionId: string, entries: ReadonlyArray<OutboxEntry>) =>
      entries.length === 0
        ? Effect.void
        : orders.publish(orderReqId, entries).pipe(
            Effect.catch((error) =>
              Option.isSome(pendingReports) ? pendingReports.value.defer(orderReqId, entries) : Effect.fail(error),
            ),
            Effect.catchCause((cause) =>
              Effect.logWarning("could not publish PRP_FAILURES", cause).pipe(
                Effect.annotateLogs({ orderReqId, sessionId }),
              ),
            ),
          )

    /** The road-distance provider failed (not "no route"): one report with the reason(s). */
    const reportRoadDistanceFallback = (
      orderReqId: string,
      details: Parameters<typeof orderToNotify>[0],
      selected: ReadonlyArray<SelectionResult>,
    ) => {
      const failed = selected.filter(
        (seller) =>
          seller.DistanceSource === "straight_line_fallback" && seller.DistanceFallbackReason !== "no road route",
      )
      const reasons = [...new Set(failed.map((seller) => seller.DistanceFallbackReason ?? "unknown"))]
      if (reasons.length === 0) return Effect.void
      return Effect.flatMap(DateTime.now, (now) =>
        reportDependencyFailures(orderReqId, details.sessionId ?? "", [
          proposalFailure({
            orderReqId,
            sessionId: details.sessionId ?? "",
            operation: "road-distance",
            code: "road_distance_unavailable",
            reason: `road distances unavailable, straight-line distances used: ${reasons.join("; ")}`,
            status: 502,
            request: {
              Origin: { Lat: details.location.lat, Lng: details.location.lng },
              SellerIDs: failed.map((seller) => seller.SellerID),
            },
            timestamp: DateTime.formatIso(now),
          }),
        ]),
      )
    }

    /** Posts Google Chat for a GChat order and records each seller's outcome. */
    const postChat = (
      orderReqId: string,
      details: Parameters<typeof orderToNotify>[0],
      selected: ReadonlyArray<SelectionResult>,
    ) =>
      Effect.gen(function* () {
        if (details.notificationType !== "GChat" || selected.length === 0) return
        const results = yield* notifier.postGoogleChat({ order: orderToNotify(details), sellers: selected })
        if (results.length === 0) return
        const timestamp = DateTime.formatIso(yield* DateTime.now)
        yield* reportDependencyFailures(
          orderReqId,
          details.sessionId ?? "",
          results.flatMap((result) =>
            result.status === "failed"
              ? [
                  proposalFailure({
                    orderReqId,
                    sessionId: details.sessionId ?? "",
                    operation: "google-chat",
                    code: "google_chat_failed",
                    reason: result.reason,
                    status: 502,
                    request: { SellerID: result.SellerID, NotificationType: "GChat" },
                    timestamp,
                  }),
                ]
              : [],
          ),
        )
        yield* redis
          .use("HSET", (client) =>
            client.hset(
              Keys.chatResults(orderReqId),
              Object.fromEntries(results.map((result) => [result.SellerID, JSON.stringify(result)])),
            ),
          )
          .pipe(Effect.ignore)
      })

    const dispatchOrder = Effect.fn("Dispatch.job")(function* (orderReqId: string) {
      yield* Effect.annotateCurrentSpan({ orderReqId })
      const current = yield* orders.get(orderReqId)
      if (Option.isNone(current)) return { outcome: "missing" }
      const state = current.value
      if (state.dispatchedAt !== undefined) return { outcome: "already_dispatched" }
      if (state.status === "PAUSED") return { outcome: "paused" }
      const { details } = state
      const selected =
        state.status === "FINALISED"
          ? []
          : yield* selection.select({
              orderReqId,
              industry: details.industry,
              location: { Lat: details.location.lat, Lng: details.location.lng },
            })
      const { reply } = yield* orders.run(orderReqId, {
        _tag: "RecordSellersSelected",
        // Stored with the order: no contact details.
        sellers: selected.map(withoutContacts),
      })
      if (reply.outcome === "dispatched") {
        yield* reportRoadDistanceFallback(orderReqId, details, selected)
        yield* postChat(orderReqId, details, selected)
      }
      return { outcome: reply.outcome, sellers: selected.length }
    })

    /**
     * A taken job's own work, under the permit: read, select, commit. What follows the commit
     * (ack, stats) runs after the permit is released (`finishJob`): the semaphore bounds the
     * orders being processed, and holding a permit for two more round trips cut dispatch
     * throughput by a third at `MAX_CONCURRENT_TASKS`=10.
     */
    const runJob = (job: TakenJob) =>
      Effect.gen(function* () {
        const startedAt = yield* Clock.currentTimeMillis
        const orderReqId = payloadOf(job)
        const result = yield* dispatchOrder(orderReqId).pipe(
          withRemoteParent(traceOf(job)),
          // Cut short (drain timeout): the job goes back to the queue at once for another replica.
          Effect.onInterrupt(() =>
            queue.release(dispatchQueue, job.id).pipe(
              Effect.tap(() =>
                Effect.logWarning("dispatch job interrupted; returned to the queue").pipe(
                  Effect.annotateLogs({ orderReqId }),
                ),
              ),
              Effect.ignore,
            ),
          ),
          Effect.catchCause((cause) =>
            Effect.logWarning("dispatch job failed; it is retried after its lease", cause).pipe(
              Effect.annotateLogs({ orderReqId }),
              Effect.as({ outcome: "failed" as string, sellers: undefined as number | undefined }),
            ),
          ),
        )
        // The job's end is the end of its own work: its stats then show the permits' concurrency.
        const endedAt = yield* Clock.currentTimeMillis
        return { job, orderReqId, startedAt, endedAt, result }
      })

    /** After the permit: acknowledge the job (unless it failed) and record its stats, together. */
    const finishJob = (
      { job, orderReqId, startedAt, endedAt, result }: Effect.Success<ReturnType<typeof runJob>>,
      worker: number,
    ) =>
      Effect.gen(function* () {
        const ack =
          result.outcome === "failed"
            ? Effect.void
            : // Not fatal (the job runs again after its lease and its commit re-checks `dispatchedAt`), but not silent.
              queue
                .ack(dispatchQueue, job.id)
                .pipe(
                  Effect.catch((error) =>
                    Effect.logWarning("dispatch job ack failed; it runs again after its lease").pipe(
                      Effect.annotateLogs({ orderReqId, error: error.message }),
                    ),
                  ),
                )
        const stat = record({
          orderReqId,
          priority: job.priority,
          replica,
          worker,
          waitedMs: job.waitedMs,
          startedAt,
          endedAt,
          outcome: result.outcome,
          ...("sellers" in result && result.sellers !== undefined ? { sellers: result.sellers } : {}),
        })
        yield* Effect.all([ack, stat], { concurrency: 2, discard: true })
      })

    /**
     * One round: true when a job ran. A draining replica takes no new job. `checkDepth`: look at
     * the queue before taking a permit (a woken worker); a worker that just ran a job goes
     * straight to `take`, which finds none when the queue is empty.
     */
    const round = (worker: number, checkDepth: boolean) =>
      Effect.suspend(() => {
        // Counted as running (for the drain) from the take to the end of `finishJob`.
        let taken = false
        return Effect.ensuring(
          roundBody(worker, checkDepth, () => {
            taken = true
            inFlight.enter()
          }),
          Effect.sync(() => {
            if (taken) inFlight.exit()
          }),
        )
      })

    const roundBody = (worker: number, checkDepth: boolean, onTaken: () => void) =>
      Effect.gen(function* () {
        if (isDraining()) return false
        if (checkDepth) {
          const depth = yield* queue.depth(dispatchQueue)
          if (depth.HIGH + depth.MEDIUM + depth.LOW === 0) return false
        }
        const ran = yield* semaphore.withPermit(
          dispatchSemaphore,
          limit,
          queue.take(dispatchQueue, { leaseMs }).pipe(
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.succeed(Option.none()),
                onSome: (job) => Effect.andThen(Effect.sync(onTaken), Effect.asSome(runJob(job))),
              }),
            ),
          ),
          { leaseMs: Math.max(leaseMs, 30_000) },
        )
        if (Option.isNone(ran)) return false
        yield* finishJob(ran.value, worker)
        return true
      })

    /** Rounds while there is work; idle, it waits for a wake-up of the queue. */
    const workerLoop = (worker: number) =>
      Effect.scoped(
        Effect.flatMap(queue.listen(dispatchQueue), (jobs) =>
          Effect.suspend(() => {
            // A woken worker checks the depth first; while jobs run, it goes on without waiting.
            let ran = true
            let first = true
            return Effect.whileLoop({
              while: () => ran,
              body: () => round(worker, first),
              step: (didRun) => {
                ran = didRun
                first = false
              },
            })
          }).pipe(
            Effect.andThen(jobs.next),
            Effect.catchCause((cause) => {
              // Redis unreachable (e.g. still connecting) is reported by /readyz; keep the log quiet.
              const failure = cause.reasons.find(Cause.isFailReason)?.error
              const unavailable = isCoordinationOutage(failure)
              return (unavailable ? Effect.logDebug : Effect.logWarning)("dispatch worker round failed", cause).pipe(
                Effect.annotateLogs({ worker }),
                Effect.andThen(Effect.sleep("1 second")),
              )
            }),
            Effect.forever,
          ),
        ),
      )

    const requeue = queue.requeueExpired(dispatchQueue).pipe(
      Effect.tap((requeued) =>
        requeued > 0
          ? Effect.logWarning("requeued dispatch jobs with expired leases").pipe(Effect.annotateLogs({ requeued }))
          : Effect.void,
      ),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(Duration.millis(options.requeueEveryMs ?? 5_000))),
    )

    return { workers, limit, workerLoop, requeue, dispatchOrder, inFlight }
  })

/** Starts the workers and the lease requeuer with the layer; they stop when it is released. */
export const DispatchLive = (options: DispatchOptions = {}) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const dispatch = yield* makeDispatch(options)
      for (let worker = 1; worker <= dispatch.workers; worker++) {
        yield* Effect.forkScoped(dispatch.workerLoop(worker))
      }
      yield* Effect.forkScoped(dispatch.requeue)
      // Drain: no new job is taken (see `round`); the running ones get until the drain deadline,
      // then the workers are interrupted and their jobs released to the queue.
      yield* onDrain({
        name: "dispatch jobs",
        phase: "work",
        run: () =>
          Effect.logInfo("dispatch: waiting for running jobs").pipe(
            Effect.annotateLogs({ running: dispatch.inFlight.count() }),
            Effect.andThen(dispatch.inFlight.idle),
          ),
      })
      yield* Effect.logInfo("dispatch workers started").pipe(
        Effect.annotateLogs({ workers: dispatch.workers, maxConcurrentTasks: dispatch.limit }),
      )
    }),
  )
