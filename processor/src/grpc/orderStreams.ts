/**
 * `ProcessOrderStreams`: many orders' streams on one call (the requestor holds one per shard of
 * its live orders). An order on such a call costs a member of one `OrderFollowSet` — no fiber,
 * Effect stream, span or HTTP/2 stream of its own — so a processor can serve 100,000 live orders.
 *
 *   open  ─▶ open the order as `ProcessOrderStream` does (at most `openConcurrency` at a time per
 *            call) ─▶ `opened {status, last_seq}` ─▶ its events after `from_seq`
 *            (or `refused {code, error_code}`: that order only, the call goes on)
 *   close ─▶ its events stop
 *   OrderFinalised ─▶ the last event of its order on the call
 *
 * `opened` is queued in the same step as the order joins the set, and queued answers are sent
 * before any events taken after them, so an order's `opened` always comes before its events.
 * A later command for the same order supersedes an open still in progress.
 * A failed read of the log ends the call with UNAVAILABLE (the caller reconnects and opens its
 * orders again from their last seqs); so does the server shutting down.
 */
import type {
  OrderStreamRequest,
  OrderStreamsRequest,
  OrderStreamsResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { grpcError } from "@dcent/shared/grpc/errorDetails"
import { type DisconnectReason, DisconnectReasons } from "@dcent/shared/metrics/catalogue"
import type { StreamTracker } from "@dcent/shared/metrics/streams"
import { isTerminalStatus, orderEventToProto } from "@dcent/shared/orders/events"
import type { EventLogError, OrderEventLogShape, OrderFollowSet } from "@dcent/shared/orders/OrderEventLog"
import { openSpanAttributes, openSpanName } from "@dcent/shared/orders/streams"
import { warnWhenSlow } from "@dcent/shared/telemetry/slow"
import { continueFrom, type TraceCarrier, traceparentHeader } from "@dcent/shared/telemetry/traceContext"
import { Cause, type Context, Duration, Effect, Exit, Semaphore, Stream } from "effect"
import { type CallContext, ServerError, Status } from "nice-grpc"
import { type CommandError, Unavailable } from "../orders/errors.ts"
import { grpcFailureOf } from "./status.ts"

/** What opening one order answered (as `ProcessOrderStream`'s open step). */
export interface OpenedOrder {
  readonly orderReqId: string
  readonly fromSeq: number
  readonly status: string
  readonly lastSeq: number
}

export interface OrderStreamsOptions {
  readonly eventLog: OrderEventLogShape
  readonly context: Context.Context<never>
  /** Opens one order (validating it only when it is new). */
  readonly openFor: (request: OrderStreamRequest) => Effect.Effect<OpenedOrder, CommandError>
  /** Aborted when the server starts shutting down. */
  readonly shutdown: AbortSignal
  /** Counts the calls. */
  readonly calls: StreamTracker
  /** Counts the orders open on them, as `ProcessOrderStream` calls are counted. */
  readonly orders: StreamTracker
  /** Refuses the call (throws UNAUTHENTICATED / PERMISSION_DENIED) before it does anything. */
  readonly authorize?: (call: CallContext) => Promise<void>
  /** Opens in progress at once per call (default 64). */
  readonly openConcurrency?: number
  /** Longest an open's reads may take before it is refused with `unavailable` (default 30 s). */
  readonly openTimeout?: Duration.Input
}

/** How long one open may take (its reads, not its wait for a turn) before a warning says so. */
const slowOpenWarning = Duration.seconds(5)
/** ... and before it is refused with `unavailable` (the caller opens the order again after a backoff). */
const defaultOpenTimeout = Duration.seconds(30)

class CommandsFailed {
  readonly _tag = "CommandsFailed"
  readonly cause: unknown
  constructor(cause: unknown) {
    this.cause = cause
  }
}

export const makeProcessOrderStreams = (options: OrderStreamsOptions) => {
  const runFork = Effect.runForkWith(options.context)
  const runPromise = Effect.runPromiseWith(options.context)

  return async function* processOrderStreams(
    requests: AsyncIterable<OrderStreamsRequest>,
    call: CallContext,
  ): AsyncGenerator<OrderStreamsResponse> {
    await options.authorize?.(call)
    const set: OrderFollowSet = await runPromise(options.eventLog.followSet)
    const answers: Array<OrderStreamsResponse> = []
    /** The latest command per order: an open finishing after a later command is dropped. */
    const latest = new Map<string, number>()
    let commandCount = 0
    let commandsDone = false
    let commandsError: unknown
    let ended: DisconnectReason = DisconnectReasons.ClientClosed
    const opening = Semaphore.makeUnsafe(Math.max(1, options.openConcurrency ?? 64))
    const openTimeout = Duration.fromInputUnsafe(options.openTimeout ?? defaultOpenTimeout)

    const answer = (response: OrderStreamsResponse) => {
      answers.push(response)
      set.wakeUp()
    }
    const refuse = (orderReqId: string, code: Status, errorCode: string, message: string) =>
      answer({ refused: { orderReqId, code, errorCode, message } })

    const open = (request: OrderStreamRequest, command: number, carrier: TraceCarrier) =>
      opening
        .withPermits(1)(
          options.openFor(request).pipe(
            warnWhenSlow(
              slowOpenWarning,
              Effect.logWarning("order stream open still in progress").pipe(
                Effect.annotateLogs({ orderReqId: request.orderReqId, after: Duration.format(slowOpenWarning) }),
              ),
            ),
            // A stuck read must not leave the caller waiting for an answer forever: it opens again.
            Effect.timeoutOrElse({
              duration: openTimeout,
              orElse: () =>
                Effect.fail(
                  new Unavailable({
                    dependency: "order state",
                    orderReqId: request.orderReqId,
                    cause: new Error(`opening took over ${Duration.format(openTimeout)}; open it again`),
                  }),
                ),
            }),
          ),
        )
        .pipe(
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.sync(() => {
              const orderReqId = request.orderReqId
              if (latest.get(orderReqId) !== command) return
              latest.delete(orderReqId)
              if (Exit.isSuccess(exit)) {
                const { fromSeq, status, lastSeq } = exit.value
                if (fromSeq > lastSeq) {
                  refuse(
                    orderReqId,
                    Status.OUT_OF_RANGE,
                    "from_seq_out_of_range",
                    `from_seq ${fromSeq} is beyond the last event of order ${orderReqId} (seq ${lastSeq})`,
                  )
                  return
                }
                // `opened` before the order joins the set: its events come after it.
                answers.push({ opened: { orderReqId, status, lastSeq } })
                if (!(status === "FINALISED" && fromSeq >= lastSeq)) {
                  if (!set.has(orderReqId)) options.orders.opened()
                  set.add(orderReqId, orderReqId, fromSeq)
                }
                set.wakeUp()
                return
              }
              const failure = exit.cause.reasons.find(Cause.isFailReason)
              if (failure !== undefined) {
                const { status, code, message } = grpcFailureOf(failure.error)
                refuse(orderReqId, status, code, message)
              } else if (!Cause.hasInterruptsOnly(exit.cause)) {
                refuse(orderReqId, Status.INTERNAL, "internal", "internal error")
              }
            }),
          ),
          tracedOpen(request.orderReqId, carrier),
        )

    const handle = (request: OrderStreamsRequest): Effect.Effect<void> => {
      commandCount += 1
      const command = commandCount
      if (request.open !== undefined) {
        if (request.open.orderReqId === "") {
          return Effect.sync(() =>
            refuse("", Status.INVALID_ARGUMENT, "invalid_request", "open.order_req_id: is required"),
          )
        }
        latest.set(request.open.orderReqId, command)
        return open(request.open, command, request.traceContext)
      }
      if (request.close !== undefined) {
        const orderReqId = request.close
        return Effect.sync(() => {
          // An open of this order still in progress finds itself superseded and answers nothing.
          latest.delete(orderReqId)
          if (set.has(orderReqId)) options.orders.closed(DisconnectReasons.ClientClosed)
          set.remove(orderReqId)
        })
      }
      return Effect.void
    }

    const commands = runFork(
      Stream.fromAsyncIterable(requests, (error) => new CommandsFailed(error)).pipe(
        Stream.mapEffect(handle, { concurrency: "unbounded", unordered: true }),
        Stream.runDrain,
      ),
    )
    commands.addObserver((exit) => {
      commandsDone = true
      if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) commandsError = Cause.squash(exit.cause)
      set.wakeUp()
    })
    const wake = () => set.wakeUp()
    call.signal.addEventListener("abort", wake, { once: true })
    options.shutdown.addEventListener("abort", wake, { once: true })
    options.calls.opened()
    try {
      while (true) {
        if (call.signal.aborted) return
        if (options.shutdown.aborted) {
          ended = DisconnectReasons.Shutdown
          throw grpcError(call, {
            status: Status.UNAVAILABLE,
            code: "shutting_down",
            message: "the processor is shutting down; reconnect (to another replica) and open the orders again",
          })
        }
        while (answers.length > 0) yield answers.shift() as OrderStreamsResponse
        if (commandsDone) {
          // The caller's half of the call failed (a cancelled call ends above); else it only
          // stopped sending: go on until its orders are done.
          if (commandsError !== undefined && !call.signal.aborted) {
            ended = DisconnectReasons.Error
            throw new ServerError(Status.CANCELLED, "the caller's commands ended with an error")
          }
          if (set.size() === 0 && latest.size === 0) {
            ended = DisconnectReasons.Completed
            return
          }
        }
        const taken = await runPromise(Effect.result(set.take))
        if (taken._tag === "Failure") throw unavailable(taken.failure, call)
        // Answers queued meanwhile (e.g. an `opened`) come before the events taken after them.
        while (answers.length > 0) yield answers.shift() as OrderStreamsResponse
        for (const { record } of taken.success) {
          if (isTerminalStatus(record.status)) options.orders.closed(DisconnectReasons.Completed)
          yield { event: orderEventToProto(record) }
        }
      }
    } catch (error) {
      if (ended !== DisconnectReasons.Shutdown) ended = DisconnectReasons.Error
      throw error
    } finally {
      options.calls.closed(ended)
      for (let left = set.size(); left > 0; left--) options.orders.closed(ended)
      call.signal.removeEventListener("abort", wake)
      options.shutdown.removeEventListener("abort", wake)
      set.close()
      commands.interruptUnsafe()
    }
  }
}

/**
 * An open asked for by a traced operation (the buyer's initiate) joins its trace, as a SERVER span
 * like `ProcessOrderStream`'s; the re-opens of a reconnect carry no trace and make none.
 */
const tracedOpen =
  (orderReqId: string, carrier: TraceCarrier) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    carrier[traceparentHeader] === undefined
      ? effect
      : Effect.withSpan(effect, openSpanName, {
          ...continueFrom(carrier),
          kind: "server",
          attributes: { ...openSpanAttributes, "dcent.order_req_id": orderReqId },
        })

const unavailable = (error: EventLogError, call: CallContext) =>
  grpcError(call, {
    status: Status.UNAVAILABLE,
    code: "unavailable",
    message: `the orders' event log is unavailable: ${error.detail}`,
  })
