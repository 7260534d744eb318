/**
 * The order services the requestor calls (spec: "gRPC").
 *
 * `ProcessOrderStream` validates the request, opens the order (idempotent by OrderReqID: a new
 * order becomes SUBMITTED and its dispatch job is queued; an existing one is left as it is),
 * sends the response headers `dcent-order-status` / `dcent-last-seq` at once (so the caller knows
 * the order is open before any event exists), then streams the order's event log after
 * `from_seq` — live, whichever replica commits the events — up to and including
 * `OrderFinalised`. There is no server-side deadline; a cancelled call stops its stream at once;
 * shutting the server down ends open streams with UNAVAILABLE (the caller reconnects from its
 * last seq).
 *
 * `OrderNonStreamingService`: `ProcessFollowUp`, `FinaliseOrder`, `PauseOrder`, `ResumeOrder`,
 * each idempotent by `transaction_uuid` (a repeat returns the first response).
 *
 * Authorization (`../auth/policy.ts`): the caller is authenticated by the server
 * (UNAUTHENTICATED); every call must come from a `service` principal (the requestor), else
 * PERMISSION_DENIED; a unary call made on behalf of a buyer (`dcent-on-behalf-of`) must be on
 * that buyer's order — the processor checks the buyer rules itself.
 */
import { callCaller, callPrincipal, permissionDenied } from "@dcent/shared/auth/grpc"
import { isUnrestricted } from "@dcent/shared/auth/Principal"
import {
  type FinaliseOrderResponse,
  FollowUpOutcome,
  type FollowUpResponse,
  OrderNonStreamingServiceDefinition,
  type PauseOrderResponse,
  type ResumeOrderResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import {
  OrderStreamingServiceDefinition,
  type OrderStreamRequest,
  type OrderStreamResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { grpcError } from "@dcent/shared/grpc/errorDetails"
import { grpcService } from "@dcent/shared/grpc/services"
import { type DisconnectReason, DisconnectReasons, StreamKinds } from "@dcent/shared/metrics/catalogue"
import { Metrics } from "@dcent/shared/metrics/Metrics"
import { streamTracker } from "@dcent/shared/metrics/streams"
import { isTerminalStatus, orderEventToProto } from "@dcent/shared/orders/events"
import { OrderEventLog } from "@dcent/shared/orders/OrderEventLog"
import { withCallSpan } from "@dcent/shared/telemetry/grpc"
import { Cause, Data, Effect, Exit, Option, type Result, Stream } from "effect"
import { type CallContext, ServerError, Status } from "nice-grpc"
import { authorizeProcessor, type ProcessorAction } from "../auth/policy.ts"
import type { Command, CommandOf, Replies } from "../orders/decision.ts"
import { type CommandError, type InvalidRequest, OrderNotFound } from "../orders/errors.ts"
import { Orders } from "../orders/Orders.ts"
import { makeProcessOrderStreams } from "./orderStreams.ts"
import {
  type OrderActionInput,
  parseFinaliseRequest,
  parseFollowUpRequest,
  parseOrderDetails,
  parsePauseRequest,
  parseResumeRequest,
  parseStreamRequest,
} from "./requests.ts"
import { grpcFailureOf, toServerError } from "./status.ts"

/** The server is draining: open streams end with UNAVAILABLE so callers reconnect elsewhere. */
class ShuttingDown extends Data.TaggedError("ShuttingDown") {}

/** Completes when `signal` is aborted (at once if it already is). */
const whenAborted = (signal: AbortSignal): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (signal.aborted) return resume(Effect.void)
    const onAbort = () => resume(Effect.void)
    signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => signal.removeEventListener("abort", onAbort))
  })

export const orderStatusHeader = "dcent-order-status"
export const lastSeqHeader = "dcent-last-seq"

const newId = () => crypto.randomUUID()

export interface OrderServicesOptions {
  /** Aborted when the server starts shutting down: open streams end with UNAVAILABLE. */
  readonly shutdown: AbortSignal
}

export const makeOrderServices = (options: OrderServicesOptions) =>
  Effect.gen(function* () {
    const orders = yield* Orders
    const eventLog = yield* OrderEventLog
    const context = yield* Effect.context<never>()
    const runExit = Effect.runPromiseExitWith(context)
    const { catalogue } = yield* Metrics.orUnscraped
    const openStreams = streamTracker(catalogue, StreamKinds.ProcessorOrderStream)

    /**
     * Throws UNAUTHENTICATED (no principal) or PERMISSION_DENIED (the policy) before the call
     * does anything; for a call on behalf of a buyer, the order's BuyerID is read first.
     */
    const guard = async (call: CallContext, method: string, action: ProcessorAction, orderReqId: string) => {
      const caller = callCaller(call)
      if (isUnrestricted(caller)) return
      const principal = callPrincipal(call)
      const onBehalfOf = principal === caller ? undefined : principal
      let orderBuyer: string | undefined
      if (onBehalfOf !== undefined && orderReqId !== "") {
        const state = await runExit(orders.get(orderReqId))
        if (Exit.isSuccess(state) && Option.isSome(state.value)) orderBuyer = state.value.value.details.buyerId
      }
      const denied = authorizeProcessor(caller, action, { orderReqId, onBehalfOf, orderBuyer })
      if (denied === undefined) return
      const refusal = await runExit(
        permissionDenied(catalogue, call, `/dcent.orders.v1.${method}`, onBehalfOf ?? caller, denied),
      )
      throw Exit.isSuccess(refusal) ? refusal.value : new ServerError(Status.PERMISSION_DENIED, denied.detail)
    }

    /** Runs a command for a unary call (authorized first); typed failures become gRPC statuses (code in the trailer). */
    const unary = async <A>(
      call: CallContext,
      name: string,
      effect: Effect.Effect<A, CommandError>,
      orderReqId = "",
    ): Promise<A> => {
      await guard(call, `OrderNonStreamingService/${name}`, "orderCommand", orderReqId)
      const exit = await runExit(effect.pipe(Effect.withSpan(`grpc.${name}`), withCallSpan(call)))
      if (Exit.isSuccess(exit)) return exit.value
      throw await failureOf(call, name, exit.cause)
    }

    const failureOf = async (call: CallContext, name: string, cause: Cause.Cause<CommandError>) => {
      const reason = cause.reasons.find(Cause.isFailReason)
      if (reason !== undefined) {
        return toServerError(call, grpcFailureOf(reason.error))
      }
      if (Cause.hasInterruptsOnly(cause)) return new ServerError(Status.CANCELLED, `${name} was cancelled`)
      await runExit(Effect.logError(`${name} failed unexpectedly`, cause))
      return grpcError(call, { status: Status.INTERNAL, code: "internal", message: "internal error" })
    }

    /** Opens the order (validating its details only when it is new); answers its state and last seq. */
    const openFor = (request: OrderStreamRequest) =>
      Effect.gen(function* () {
        const { orderReqId, fromSeq } = yield* Effect.fromResult(parseStreamRequest(request))
        const existing = yield* orders.get(orderReqId)
        const state = Option.isSome(existing)
          ? existing.value
          : (yield* orders.open(yield* Effect.fromResult(parseOrderDetails(request)))).state
        const lastSeq = yield* eventLog.lastSeq(orderReqId).pipe(Effect.orElseSucceed(() => state.lastSeq))
        if (
          Option.isSome(existing) &&
          existing.value.status === "SUBMITTED" &&
          existing.value.dispatchedAt === undefined
        ) {
          // A reconnect of an order whose dispatch never committed: make sure its job is queued.
          yield* orders.enqueueDispatch(existing.value).pipe(Effect.ignore)
        }
        return { orderReqId, fromSeq, status: state.status, lastSeq }
      })

    const processOrderStream = async function* (
      request: OrderStreamRequest,
      call: CallContext,
    ): AsyncGenerator<OrderStreamResponse> {
      await guard(call, "OrderStreamingService/ProcessOrderStream", "orderStream", request.orderReqId)
      const opened = await runExit(
        openFor(request).pipe(Effect.withSpan("grpc.ProcessOrderStream.open"), withCallSpan(call)),
      )
      if (Exit.isFailure(opened)) throw await failureOf(call, "ProcessOrderStream", opened.cause)
      const { orderReqId, fromSeq, status, lastSeq } = opened.value
      call.header.set(orderStatusHeader, status)
      call.header.set(lastSeqHeader, String(lastSeq))
      call.sendHeader()
      if (fromSeq > lastSeq) {
        throw grpcError(call, {
          status: Status.OUT_OF_RANGE,
          code: "from_seq_out_of_range",
          message: `from_seq ${fromSeq} is beyond the last event of order ${orderReqId} (seq ${lastSeq})`,
        })
      }
      // A finalised order whose stream the caller has seen to the end: nothing more will come.
      if (status === "FINALISED" && fromSeq >= lastSeq) return

      const responses = eventLog.follow(orderReqId, fromSeq).pipe(
        Stream.takeUntil((record) => isTerminalStatus(record.status)),
        Stream.map((record): OrderStreamResponse => ({ event: orderEventToProto(record) })),
        // The caller going away ends the stream quietly; the drain (`./server.ts`) ends it with UNAVAILABLE.
        Stream.interruptWhen(whenAborted(call.signal)),
        Stream.interruptWhen(Effect.andThen(whenAborted(options.shutdown), Effect.fail(new ShuttingDown()))),
      )
      // Ends "client_closed" unless it completes, fails or is cut by the drain.
      let ended: DisconnectReason = DisconnectReasons.ClientClosed
      openStreams.opened()
      try {
        for await (const response of Stream.toAsyncIterableWith(responses, context)) yield response
        if (!call.signal.aborted) ended = DisconnectReasons.Completed
      } catch (error) {
        if (error instanceof ShuttingDown) {
          ended = DisconnectReasons.Shutdown
          throw grpcError(call, {
            status: Status.UNAVAILABLE,
            code: "shutting_down",
            message: "the processor is shutting down; reconnect (to another replica) with from_seq = your last seq",
          })
        }
        ended = DisconnectReasons.Error
        const message = error instanceof Error ? error.message : String(error)
        await runExit(
          Effect.logWarning("order stream failed").pipe(Effect.annotateLogs({ orderReqId, error: message })),
        )
        throw grpcError(call, {
          status: Status.UNAVAILABLE,
          code: "unavailable",
          message: `the order's event log is unavailable: ${message}`,
        })
      } finally {
        openStreams.closed(ended)
      }
    }

    /**
     * A unary call that runs one order command: the request parsed, the command built from it and
     * run; the response names the order and the transaction, plus what `respond` takes from the reply.
     */
    const commandCall =
      <Request extends { readonly orderReqId: string }, Input extends OrderActionInput, C extends Command, Response>(
        method: string,
        parse: (request: Request, newId: () => string) => Result.Result<Input, InvalidRequest>,
        command: (input: Input) => C,
        respond: (reply: Replies[C["_tag"]], input: Input) => Effect.Effect<Response, CommandError>,
      ) =>
      (request: Request, call: CallContext) =>
        unary(
          call,
          method,
          Effect.gen(function* () {
            const input = yield* Effect.fromResult(parse(request, newId))
            const { reply } = yield* orders.run(input.orderReqId, command(input))
            const rest = yield* respond(reply, input)
            return { orderReqId: input.orderReqId, transactionUuid: input.transactionUuid, ...rest }
          }),
          request.orderReqId,
        )

    const processFollowUp = commandCall(
      "ProcessFollowUp",
      parseFollowUpRequest,
      (input): CommandOf<"BuyerFollowUp"> => ({
        _tag: "BuyerFollowUp",
        transactionUuid: input.transactionUuid,
        audience: input.audience,
        content: input.content,
      }),
      (reply) =>
        Effect.succeed<Omit<FollowUpResponse, "orderReqId" | "transactionUuid">>({
          followUpId: reply.followUpId,
          seq: reply.seq,
          results: reply.results.map((result) => ({
            proposalId: result.proposalId,
            outcome:
              result.outcome === "EDIT_LOCK"
                ? FollowUpOutcome.FOLLOW_UP_OUTCOME_EDIT_LOCK
                : FollowUpOutcome.FOLLOW_UP_OUTCOME_DELIVERED,
            seq: result.seq,
          })),
        }),
    )

    const finaliseOrder = commandCall(
      "FinaliseOrder",
      parseFinaliseRequest,
      (input): CommandOf<"Finalise"> => ({
        _tag: "Finalise",
        transactionUuid: input.transactionUuid,
        proposalId: input.proposalId,
      }),
      (reply) => Effect.succeed<Omit<FinaliseOrderResponse, "orderReqId" | "transactionUuid">>({ seq: reply.seq }),
    )

    const pauseOrder = commandCall(
      "PauseOrder",
      parsePauseRequest,
      (input): CommandOf<"Pause"> => ({ _tag: "Pause", transactionUuid: input.transactionUuid, note: input.note }),
      (reply) => Effect.succeed<Omit<PauseOrderResponse, "orderReqId" | "transactionUuid">>({ seq: reply.seq }),
    )

    const resumeOrder = commandCall(
      "ResumeOrder",
      parseResumeRequest,
      (input): CommandOf<"Resume"> => ({ _tag: "Resume", transactionUuid: input.transactionUuid }),
      (reply, input) =>
        Effect.gen(function* () {
          if (reply.needsDispatch) {
            const state = yield* orders.get(input.orderReqId)
            if (Option.isSome(state)) yield* orders.enqueueDispatch(state.value)
            else return yield* new OrderNotFound({ orderReqId: input.orderReqId })
          }
          const rest: Omit<ResumeOrderResponse, "orderReqId" | "transactionUuid"> = { seq: reply.seq }
          return rest
        }),
    )

    return [
      grpcService(OrderStreamingServiceDefinition, {
        processOrderStream,
        processOrderStreams: makeProcessOrderStreams({
          eventLog,
          context,
          openFor,
          shutdown: options.shutdown,
          // The caller must be the requestor's service principal, as for `ProcessOrderStream`.
          authorize: (call) => guard(call, "OrderStreamingService/ProcessOrderStreams", "orderStream", ""),
          calls: streamTracker(catalogue, StreamKinds.OrderStreamsCall),
          orders: openStreams,
        }),
      }),
      grpcService(OrderNonStreamingServiceDefinition, { processFollowUp, finaliseOrder, pauseOrder, resumeOrder }),
    ] as const
  })
