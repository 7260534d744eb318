/**
 * A scripted stand-in for the processor's gRPC server, in the test process: nice-grpc on
 * 127.0.0.1:0 implementing `OrderStreamingService` and `OrderNonStreamingService` from the
 * generated definitions.
 *
 * - Every `ProcessOrderStream` call is recorded (`calls`: order id, `from_seq`, session, ...);
 *   it streams the order's scripted events after `from_seq`, then new ones as the test `emit`s
 *   them, and ends after `OrderFinalised`.
 * - `breakStreams(id)` makes the open streams of an order fail with UNAVAILABLE (after what they
 *   already sent); `replayOverlap` makes a (re)connect also send some events at or below
 *   `from_seq` again, as a sloppy server might.
 * - Unary calls append events the way the processor would (BuyerFollowUp per proposal,
 *   OrderPaused/Resumed/Finalised) and fail like it: NOT_FOUND, FAILED_PRECONDITION with the
 *   `dcent-error-code` trailer, INVALID_ARGUMENT, or UNAVAILABLE when `unavailable` is set, or
 *   RESOURCE_EXHAUSTED with the admission-control trailers when `overloaded` is set.
 * - `stop()` / `start()` take the server down (connections dropped) and bring it back on the same
 *   port with the same orders, like a processor restart (its state lives in Redis).
 */
import type { OrderEvent } from "@dcent/shared/generated/dcent/orders/v1/order"
import {
  FollowUpOutcome,
  type FollowUpRequest,
  OrderNonStreamingServiceDefinition,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import {
  OrderStreamingServiceDefinition,
  type OrderStreamRequest,
  type OrderStreamsRequest,
  type OrderStreamsResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { errorDetailsServerMiddleware, type FieldViolation, grpcError } from "@dcent/shared/grpc/errorDetails"
import { type EventStatus, eventStatusToProto, orderEventToProto } from "@dcent/shared/orders/events"
import { type CallContext, createServer, type Server, ServerError, type ServiceImplementation, Status } from "nice-grpc"

export interface StreamCall {
  readonly orderReqId: string
  readonly fromSeq: number
  readonly request: OrderStreamRequest
}

interface FakeOrder {
  readonly orderReqId: string
  request: OrderStreamRequest | undefined
  readonly events: Array<OrderEvent>
  status: "SUBMITTED" | "PAUSED" | "FINALISED"
  readonly proposals: Set<string>
  /** Edit-locked proposals and the follow-ups waiting for their unlock. */
  readonly locked: Map<string, Array<{ followUpId: string; details: Record<string, string> }>>
  readonly transactions: Map<
    string,
    { followUpId: string; seq: number; results: Array<{ proposalId: string; outcome: FollowUpOutcome; seq: number }> }
  >
  /** Wakes the open streams of the order. */
  readonly waiters: Set<() => void>
  /** Incremented by `breakStreams`: streams opened before fail. */
  breaks: number
}

export interface FakeProcessor {
  readonly address: string
  readonly calls: Array<StreamCall>
  /** Open `ProcessOrderStream` calls per order right now. */
  readonly openStreams: (orderReqId: string) => number
  readonly callsFor: (orderReqId: string) => ReadonlyArray<StreamCall>
  /** Appends an event to the order's log (streams pick it up); returns its seq. */
  readonly emit: (
    orderReqId: string,
    status: EventStatus,
    options?: { proposalId?: string; followUpId?: string; details?: Record<string, string>; message?: string },
  ) => number
  readonly breakStreams: (orderReqId: string) => void
  readonly lastSeq: (orderReqId: string) => number
  /** Unary calls fail with UNAVAILABLE while set. */
  unavailable: boolean
  /** Unary calls are refused like the processor's admission control does (RESOURCE_EXHAUSTED, `retry-after: 3`) while set. */
  overloaded: boolean
  /** Events at or below `from_seq` sent again on each (re)connect. */
  replayOverlap: number
  readonly unaryCalls: Array<{ readonly method: string; readonly request: unknown }>
  /** Takes the server down: open streams fail, connections drop, the port is free. */
  readonly stop: () => Promise<void>
  /** Serves again on the same port, with the same orders. */
  readonly start: () => Promise<void>
  readonly close: () => Promise<void>
}

const finalisedStatus = eventStatusToProto("OrderFinalised")

const wake = (order: FakeOrder) => {
  for (const waiter of [...order.waiters]) waiter()
}

/** As the processor fails a call: the code in the standard details and in the `dcent-error-code` trailer. */
const failWith = (
  context: CallContext,
  status: Status,
  code: string,
  message: string,
  violations?: ReadonlyArray<FieldViolation>,
): ServerError => grpcError(context, { status, code, message, ...(violations === undefined ? {} : { violations }) })

export const startFakeProcessor = async (): Promise<FakeProcessor> => {
  const orders = new Map<string, FakeOrder>()
  const calls: Array<StreamCall> = []
  const open = new Map<string, number>()
  const unaryCalls: Array<{ method: string; request: unknown }> = []

  const orderOf = (orderReqId: string): FakeOrder => {
    let order = orders.get(orderReqId)
    if (order === undefined) {
      order = {
        orderReqId,
        request: undefined,
        events: [],
        status: "SUBMITTED",
        proposals: new Set(),
        locked: new Map(),
        transactions: new Map(),
        waiters: new Set(),
        breaks: 0,
      }
      orders.set(orderReqId, order)
    }
    return order
  }

  const emit: FakeProcessor["emit"] = (orderReqId, status, options = {}) => {
    const order = orderOf(orderReqId)
    const seq = order.events.length + 1
    order.events.push(
      orderEventToProto({
        orderReqId,
        seq,
        eventId: `${orderReqId}-evt-${seq}`,
        status,
        ...(options.proposalId === undefined ? {} : { proposalId: options.proposalId }),
        ...(options.followUpId === undefined ? {} : { followUpId: options.followUpId }),
        occurredAt: new Date().toISOString(),
        message: options.message ?? `${status} (${seq})`,
        details: options.details ?? {},
      }),
    )
    if (status === "NewProposal" && options.proposalId !== undefined) order.proposals.add(options.proposalId)
    if (status === "EditLock" && options.proposalId !== undefined && !order.locked.has(options.proposalId)) {
      order.locked.set(options.proposalId, [])
    }
    if (status === "OrderPaused") order.status = "PAUSED"
    if (status === "OrderResumed") order.status = "SUBMITTED"
    if (status === "OrderFinalised") order.status = "FINALISED"
    if (status === "EditUnlock" && options.proposalId !== undefined) {
      const waiting = order.locked.get(options.proposalId) ?? []
      order.locked.delete(options.proposalId)
      for (const queued of waiting) {
        emit(orderReqId, "BuyerFollowUp", {
          proposalId: options.proposalId,
          followUpId: queued.followUpId,
          details: { ...queued.details, DeliveredAfterUnlock: "true" },
        })
      }
    }
    wake(order)
    return seq
  }

  const fake: FakeProcessor = {
    address: "",
    calls,
    openStreams: (orderReqId) => open.get(orderReqId) ?? 0,
    callsFor: (orderReqId) => calls.filter((call) => call.orderReqId === orderReqId),
    emit,
    breakStreams: (orderReqId) => {
      const order = orderOf(orderReqId)
      order.breaks += 1
      wake(order)
    },
    lastSeq: (orderReqId) => orders.get(orderReqId)?.events.length ?? 0,
    unavailable: false,
    overloaded: false,
    replayOverlap: 0,
    unaryCalls,
    stop: async () => {},
    start: async () => {},
    close: async () => {},
  }

  const streaming: ServiceImplementation<typeof OrderStreamingServiceDefinition> = {
    processOrderStreams,
    async *processOrderStream(request, context) {
      const orderReqId = request.orderReqId
      calls.push({ orderReqId, fromSeq: request.fromSeq, request })
      if (orderReqId === "") throw new ServerError(Status.INVALID_ARGUMENT, "order_req_id is required")
      const order = orderOf(orderReqId)
      order.request ??= request
      const breaksAtStart = order.breaks
      open.set(orderReqId, (open.get(orderReqId) ?? 0) + 1)
      let cursor = Math.max(0, request.fromSeq - fake.replayOverlap)
      try {
        while (!context.signal.aborted) {
          // A broken connection delivers nothing more, even what was emitted just before.
          if (order.breaks > breaksAtStart) throw new ServerError(Status.UNAVAILABLE, "stream broken by the test")
          while (cursor < order.events.length) {
            const event = order.events[cursor] as OrderEvent
            cursor += 1
            yield { event }
            if (event.streamingResponseStatus === finalisedStatus) return
          }
          if (order.breaks > breaksAtStart) throw new ServerError(Status.UNAVAILABLE, "stream broken by the test")
          await new Promise<void>((resolve) => {
            const done = () => {
              order.waiters.delete(done)
              context.signal.removeEventListener("abort", done)
              resolve()
            }
            order.waiters.add(done)
            context.signal.addEventListener("abort", done)
          })
        }
      } finally {
        open.set(orderReqId, (open.get(orderReqId) ?? 1) - 1)
      }
    },
  }

  /**
   * `ProcessOrderStreams`, as the processor serves it: each `open` is recorded in `calls` like a
   * `ProcessOrderStream` call, answered `opened`, then the order's events after `from_seq`; a
   * broken order (`breakStreams`) fails the whole call with UNAVAILABLE, as a failed read of the
   * processor's log does.
   */
  async function* processOrderStreams(
    requests: AsyncIterable<OrderStreamsRequest>,
    context: CallContext,
  ): AsyncGenerator<OrderStreamsResponse> {
    const answers: Array<OrderStreamsResponse> = []
    const subscriptions = new Map<string, { order: FakeOrder; cursor: number; breaksAtStart: number }>()
    let wakeUp: (() => void) | undefined
    const wakeCall = () => {
      const resolve = wakeUp
      wakeUp = undefined
      resolve?.()
    }
    const unsubscribe = (orderReqId: string) => {
      const subscription = subscriptions.get(orderReqId)
      if (subscription === undefined) return
      subscriptions.delete(orderReqId)
      subscription.order.waiters.delete(wakeCall)
      open.set(orderReqId, (open.get(orderReqId) ?? 1) - 1)
    }
    const onOpen = (request: OrderStreamRequest) => {
      const orderReqId = request.orderReqId
      calls.push({ orderReqId, fromSeq: request.fromSeq, request })
      if (orderReqId === "") {
        answers.push({
          refused: {
            orderReqId,
            code: Status.INVALID_ARGUMENT,
            errorCode: "invalid_request",
            message: "order_req_id is required",
          },
        })
        return
      }
      unsubscribe(orderReqId)
      const order = orderOf(orderReqId)
      order.request ??= request
      open.set(orderReqId, (open.get(orderReqId) ?? 0) + 1)
      answers.push({ opened: { orderReqId, status: order.status, lastSeq: order.events.length } })
      subscriptions.set(orderReqId, {
        order,
        cursor: Math.max(0, request.fromSeq - fake.replayOverlap),
        breaksAtStart: order.breaks,
      })
      order.waiters.add(wakeCall)
    }
    const commands = (async () => {
      for await (const request of requests) {
        if (request.open !== undefined) onOpen(request.open)
        else if (request.close !== undefined) unsubscribe(request.close)
        wakeCall()
      }
    })().catch(() => {})
    context.signal.addEventListener("abort", wakeCall)
    try {
      while (!context.signal.aborted) {
        while (answers.length > 0) yield answers.shift() as OrderStreamsResponse
        for (const [orderReqId, subscription] of [...subscriptions]) {
          const { order } = subscription
          // A broken connection delivers nothing more, even what was emitted just before.
          if (order.breaks > subscription.breaksAtStart)
            throw new ServerError(Status.UNAVAILABLE, "stream broken by the test")
          while (subscription.cursor < order.events.length && subscriptions.get(orderReqId) === subscription) {
            const event = order.events[subscription.cursor] as OrderEvent
            subscription.cursor += 1
            yield { event }
            if (event.streamingResponseStatus === finalisedStatus) unsubscribe(orderReqId)
          }
        }
        if (answers.length > 0) continue
        await new Promise<void>((resolve) => {
          wakeUp = resolve
        })
      }
    } finally {
      context.signal.removeEventListener("abort", wakeCall)
      for (const orderReqId of [...subscriptions.keys()]) unsubscribe(orderReqId)
      void commands
    }
  }

  const unavailable = () => new ServerError(Status.UNAVAILABLE, "the processor is down (test)")
  const overloaded = (context: CallContext) => {
    context.trailer.set("retry-after", "3")
    return failWith(context, Status.RESOURCE_EXHAUSTED, "overloaded", "overloaded (grpc_unary): 8 already in flight")
  }

  const known = (orderReqId: string, context: CallContext): FakeOrder => {
    const order = orders.get(orderReqId)
    if (order === undefined || order.request === undefined) {
      throw failWith(context, Status.NOT_FOUND, "order_not_found", `order ${orderReqId} not found`)
    }
    return order
  }

  const nonStreaming: ServiceImplementation<typeof OrderNonStreamingServiceDefinition> = {
    async processFollowUp(request: FollowUpRequest, context) {
      unaryCalls.push({ method: "ProcessFollowUp", request })
      if (fake.unavailable) throw unavailable()
      if (fake.overloaded) throw overloaded(context)
      const order = known(request.orderReqId, context)
      const again = order.transactions.get(request.transactionUuid)
      if (again !== undefined)
        return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, ...again }
      if (request.message?.text === "INVALID") {
        throw failWith(context, Status.INVALID_ARGUMENT, "invalid_request", "message.text: rejected by the test", [
          { path: "message.text", problem: "rejected by the test" },
        ])
      }
      if (request.message === undefined || request.message.text.trim() === "") {
        throw failWith(context, Status.INVALID_ARGUMENT, "invalid_request", "message.text: required", [
          { path: "message.text", problem: "Expected a non-empty string" },
        ])
      }
      if (order.status === "FINALISED") {
        throw failWith(context, Status.FAILED_PRECONDITION, "order_finalised", `order ${order.orderReqId} is finalised`)
      }
      for (const proposalId of request.audienceProposalIds) {
        if (!order.proposals.has(proposalId)) {
          throw failWith(context, Status.NOT_FOUND, "proposal_not_found", `proposal ${proposalId} not found`)
        }
      }
      const followUpId = `F-${order.events.length + 1}`
      const details = {
        TransactionUUID: request.transactionUuid,
        MessageType: request.message?.messageType ?? "text",
        Text: request.message?.text ?? "",
        URLs: JSON.stringify(request.message?.urls ?? []),
      }
      let first = 0
      const results: Array<{ proposalId: string; outcome: FollowUpOutcome; seq: number }> = []
      for (const proposalId of request.audienceProposalIds) {
        const waiting = order.locked.get(proposalId)
        if (waiting !== undefined) {
          waiting.push({ followUpId, details })
          results.push({ proposalId, outcome: FollowUpOutcome.FOLLOW_UP_OUTCOME_EDIT_LOCK, seq: 0 })
          continue
        }
        const seq = emit(order.orderReqId, "BuyerFollowUp", { proposalId, followUpId, details })
        results.push({ proposalId, outcome: FollowUpOutcome.FOLLOW_UP_OUTCOME_DELIVERED, seq })
        if (first === 0) first = seq
      }
      const answer = { followUpId, seq: first, results }
      order.transactions.set(request.transactionUuid, answer)
      return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, ...answer }
    },
    async finaliseOrder(request, context) {
      unaryCalls.push({ method: "FinaliseOrder", request })
      if (fake.unavailable) throw unavailable()
      if (fake.overloaded) throw overloaded(context)
      const order = known(request.orderReqId, context)
      if (order.status === "FINALISED") {
        throw failWith(context, Status.FAILED_PRECONDITION, "order_finalised", `order ${order.orderReqId} is finalised`)
      }
      if (request.proposalId !== "" && !order.proposals.has(request.proposalId)) {
        throw failWith(context, Status.NOT_FOUND, "proposal_not_found", `proposal ${request.proposalId} not found`)
      }
      for (const proposalId of order.proposals) {
        emit(order.orderReqId, proposalId === request.proposalId ? "ProposalAccepted" : "ProposalClosed", {
          proposalId,
        })
      }
      const seq = emit(order.orderReqId, "OrderFinalised", { details: { AcceptedProposalID: request.proposalId } })
      return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, seq }
    },
    async pauseOrder(request, context) {
      unaryCalls.push({ method: "PauseOrder", request })
      if (fake.unavailable) throw unavailable()
      if (fake.overloaded) throw overloaded(context)
      const order = known(request.orderReqId, context)
      if (order.status !== "SUBMITTED") {
        throw failWith(
          context,
          Status.FAILED_PRECONDITION,
          `order_${order.status.toLowerCase()}`,
          `order is ${order.status}`,
        )
      }
      const seq = emit(order.orderReqId, "OrderPaused", {
        details: { Reason: "buyer", ...(request.reason === "" ? {} : { Note: request.reason }) },
      })
      return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, seq }
    },
    async resumeOrder(request, context) {
      unaryCalls.push({ method: "ResumeOrder", request })
      if (fake.unavailable) throw unavailable()
      if (fake.overloaded) throw overloaded(context)
      const order = known(request.orderReqId, context)
      if (order.status !== "PAUSED") {
        throw failWith(
          context,
          Status.FAILED_PRECONDITION,
          "order_not_paused",
          `order ${order.orderReqId} is not paused`,
        )
      }
      const seq = emit(order.orderReqId, "OrderResumed", {
        details: { ExpiresAt: new Date(Date.now() + 30 * 60_000).toISOString() },
      })
      return { orderReqId: request.orderReqId, transactionUuid: request.transactionUuid, seq }
    },
  }

  /** A server with both services on `port` (0: any free port); returns the bound port. */
  const listen = async (port: number): Promise<{ readonly server: Server; readonly port: number }> => {
    const server = createServer().use(errorDetailsServerMiddleware)
    server.add(OrderStreamingServiceDefinition, streaming)
    server.add(OrderNonStreamingServiceDefinition, nonStreaming)
    return { server, port: await server.listen(`127.0.0.1:${port}`) }
  }

  let running: Server | undefined
  const first = await listen(0)
  running = first.server
  const stop = async () => {
    for (const order of orders.values()) order.breaks += 1
    for (const order of orders.values()) wake(order)
    running?.forceShutdown()
    running = undefined
  }
  return Object.assign(fake, {
    address: `127.0.0.1:${first.port}`,
    stop,
    start: async () => {
      if (running !== undefined) return
      running = (await listen(first.port)).server
    },
    close: stop,
  })
}
