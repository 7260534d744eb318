/**
 * The one mapping from the buyer's order failures to REST answers (`src/http/errors.ts`), and the
 * processor's gRPC failures on their way there (`src/orders/processorErrors.ts`): each failure's
 * status, code, message, details and Retry-After are the wire contract (the seed's codes, the
 * OpenAPI error schemas, `REQ_failures`), so they are pinned here value by value.
 */
import { PermissionDenied } from "@dcent/shared/auth/errors"
import { EventLogError, type EventLogFailure } from "@dcent/shared/eventlog/errors"
import { Cause, Effect, Exit, Option } from "effect"
import { Status } from "nice-grpc"
import { describe, expect, expectTypeOf, it } from "vitest"
import { TooManyEventStreams } from "../../src/buyer-streams/sseEndpoint.ts"
import {
  type ApiError,
  type Conflict,
  type NotFound,
  statusOf,
  toApiError,
  type Unavailable,
} from "../../src/http/errors.ts"
import {
  BuyerIdMissing,
  IdempotencyKeyReused,
  InlineDetailsIncomplete,
  NotificationTypeMissing,
  OrderChangedDuringInitiate,
  OrderDetailsMissing,
  OrderNotFound,
  StorageUnavailable,
  storageUnavailableOrDefect,
  TopicMessagesUnavailable,
  WrongOrderState,
} from "../../src/orders/errors.ts"
import { failureOf } from "../../src/orders/failureReports.ts"
import { fromProcessorError } from "../../src/orders/processorErrors.ts"
import { ProcessorCallError } from "../../src/processor/ProcessorClient.ts"

/** The answer as the client sees it: status, body fields and the Retry-After header (if any). */
const wire = (error: ApiError) => ({
  status: statusOf(error),
  code: error.code,
  message: error.message,
  details: error.details,
  retryAfter: error._tag === "Unavailable" ? error.retryAfterSeconds : undefined,
})

describe("order failures as REST answers", () => {
  it.each([
    [
      "OrderNotFound",
      new OrderNotFound({ orderReqId: "ORD-7" }),
      {
        status: 404,
        code: "order_not_found",
        message: "order ORD-7 not found",
        details: [{ path: "OrderReqID", problem: "no order ORD-7" }],
      },
    ],
    [
      "OrderDetailsMissing",
      new OrderDetailsMissing({ orderReqId: "ORD-7" }),
      {
        status: 404,
        code: "order_not_found",
        message:
          "order ORD-7 not found; register it first with POST /api/v1/orders, or send the order details inline in " +
          "this request (BuyerID, Industry, Location, Products, DeliveryDate; Priority optional)",
        details: [{ path: "OrderReqID", problem: "no order ORD-7" }],
      },
    ],
    [
      "WrongOrderState not_submitted (follow-up)",
      new WrongOrderState({
        orderReqId: "ORD-7",
        operation: "followup",
        reason: "not_submitted",
        status: "REGISTERED",
      }),
      {
        status: 409,
        code: "order_not_submitted",
        message: "order ORD-7 is registered but not initiated; a follow-up needs POST /api/v1/initiate first",
        details: [],
      },
    ],
    [
      "WrongOrderState not_submitted (pause)",
      new WrongOrderState({ orderReqId: "ORD-7", operation: "pause", reason: "not_submitted", status: "REGISTERED" }),
      {
        status: 409,
        code: "order_not_submitted",
        message: "order ORD-7 is registered but not initiated; pause needs POST /api/v1/initiate first",
        details: [],
      },
    ],
    [
      "WrongOrderState already_submitted",
      new WrongOrderState({
        orderReqId: "ORD-7",
        operation: "register",
        reason: "already_submitted",
        status: "PAUSED",
      }),
      {
        status: 409,
        code: "order_already_submitted",
        message: "order ORD-7 is PAUSED; its details can no longer change",
        details: [],
      },
    ],
    [
      "WrongOrderState finalised",
      new WrongOrderState({ orderReqId: "ORD-7", operation: "initiate", reason: "finalised", status: "FINALISED" }),
      {
        status: 409,
        code: "order_finalised",
        message: "order ORD-7 is finalised; it cannot be initiated again (use a new OrderReqID)",
        details: [],
      },
    ],
    [
      "WrongOrderState archived",
      new WrongOrderState({ orderReqId: "ORD-7", operation: "initiate", reason: "archived", status: "PAUSED" }),
      {
        status: 409,
        code: "order_archived",
        message: "order ORD-7 expired and was archived; it cannot be initiated again (use a new OrderReqID)",
        details: [],
      },
    ],
    [
      "IdempotencyKeyReused",
      new IdempotencyKeyReused({ orderReqId: "ORD-7", transactionUuid: "t-1" }),
      {
        status: 409,
        code: "transaction_uuid_reused",
        message: "TransactionUUID t-1 was used for a different follow-up",
        details: [{ path: "body.TransactionUUID", problem: "already used for a different follow-up" }],
      },
    ],
    [
      "BuyerIdMissing",
      new BuyerIdMissing({ orderReqId: "ORD-7" }),
      {
        status: 400,
        code: "invalid_request",
        message: "the request body is invalid",
        details: [{ path: "body.BuyerID", problem: "Missing key (send BuyerID, or authenticate as the buyer)" }],
      },
    ],
    [
      "NotificationTypeMissing",
      new NotificationTypeMissing({ orderReqId: "ORD-7" }),
      {
        status: 400,
        code: "invalid_request",
        message: "the notification type is missing",
        details: [
          {
            path: "body.NotificationType",
            problem: 'Missing key (send "NotificationType" or "Notification type": GChat, Email or SMS)',
          },
        ],
      },
    ],
    [
      "InlineDetailsIncomplete",
      new InlineDetailsIncomplete({
        orderReqId: "ORD-7",
        missing: ["BuyerID", "Products"],
        required: ["BuyerID", "Industry", "Location", "Products", "DeliveryDate"],
      }),
      {
        status: 400,
        code: "invalid_request",
        message: "the inline order details are incomplete",
        details: [
          {
            path: "body.BuyerID",
            problem: "Missing key (inline order details need BuyerID, Industry, Location, Products, DeliveryDate)",
          },
          {
            path: "body.Products",
            problem: "Missing key (inline order details need BuyerID, Industry, Location, Products, DeliveryDate)",
          },
        ],
      },
    ],
    [
      "PermissionDenied",
      new PermissionDenied({ reason: "not_order_owner", detail: "order ORD-7 belongs to another buyer" }),
      {
        status: 403,
        code: "not_order_owner",
        message: "order ORD-7 belongs to another buyer",
        details: [{ path: "authorization", problem: "order ORD-7 belongs to another buyer" }],
      },
    ],
    [
      "StorageUnavailable (redis)",
      new StorageUnavailable({ storage: "redis", problem: "connection refused", cause: new Error("ECONNREFUSED") }),
      {
        status: 503,
        code: "unavailable",
        message: "redis is unavailable: connection refused",
        details: [{ path: "redis", problem: "connection refused" }],
        retryAfter: 5,
      },
    ],
    [
      "StorageUnavailable (archive)",
      new StorageUnavailable({ storage: "archive", problem: "bucket unreachable", cause: undefined }),
      {
        status: 503,
        code: "unavailable",
        message: "archive is unavailable: bucket unreachable",
        details: [{ path: "archive", problem: "bucket unreachable" }],
        retryAfter: 5,
      },
    ],
    [
      "OrderChangedDuringInitiate",
      new OrderChangedDuringInitiate({ orderReqId: "ORD-7" }),
      {
        status: 503,
        code: "unavailable",
        message: "redis is unavailable: order ORD-7 changed while it was initiated; try again",
        details: [{ path: "redis", problem: "order ORD-7 changed while it was initiated; try again" }],
        retryAfter: 5,
      },
    ],
    [
      "TopicMessagesUnavailable not_supported",
      new TopicMessagesUnavailable({
        orderReqId: "ORD-7",
        reason: "not_supported",
        problem: "the memory broker cannot be read back by key",
      }),
      {
        status: 503,
        code: "unavailable",
        message: "broker is unavailable: the memory broker cannot be read back by key",
        details: [{ path: "broker", problem: "the memory broker cannot be read back by key" }],
        retryAfter: 60,
      },
    ],
    [
      "TopicMessagesUnavailable failed",
      new TopicMessagesUnavailable({ orderReqId: "ORD-7", reason: "failed", problem: "fetch timed out" }),
      {
        status: 503,
        code: "unavailable",
        message: "broker is unavailable: fetch timed out",
        details: [{ path: "broker", problem: "fetch timed out" }],
        retryAfter: 1,
      },
    ],
    [
      "TooManyEventStreams",
      new TooManyEventStreams({ problem: "256 streams open", retryAfterSeconds: 3 }),
      {
        status: 503,
        code: "overloaded",
        message: "too many event streams are open; retry later",
        details: [{ path: "sse", problem: "256 streams open" }],
        retryAfter: 3,
      },
    ],
  ] as const)("%s", (_, error, expected) => {
    expect(wire(toApiError(error))).toEqual({ retryAfter: undefined, ...expected })
  })

  it("an event log that gave up after conflicting commits (Contention) → 503 + Retry-After; an unreadable one → 500", () => {
    const failure = (reason: EventLogFailure) =>
      Effect.runSyncExit(
        storageUnavailableOrDefect(
          new EventLogError({
            operation: "record",
            logId: "ORD-7",
            reason,
            detail: "gave up after 5 conflicting attempts",
          }),
        ),
      )
    const contention = failure("Contention")
    if (!Exit.isFailure(contention)) throw new Error("expected a failure")
    const error = Cause.findErrorOption(contention.cause)
    expect(Option.isSome(error) && wire(toApiError(error.value))).toEqual({
      status: 503,
      code: "unavailable",
      message: "redis is unavailable: gave up after 5 conflicting attempts",
      details: [{ path: "redis", problem: "gave up after 5 conflicting attempts" }],
      retryAfter: 5,
    })
    const corrupt = failure("Corrupt")
    expect(Exit.isFailure(corrupt) && Cause.hasDies(corrupt.cause)).toBe(true)
  })

  it("reports to REQ_failures exactly what the buyer was answered", () => {
    const error = new IdempotencyKeyReused({ orderReqId: "ORD-7", transactionUuid: "t-1" })
    const { retryAfter: _, ...answer } = wire(toApiError(error))
    expect(failureOf(error)).toEqual(answer)
  })

  it("answers with exactly the kinds of errors the failures can produce (the endpoints declare no more)", () => {
    expectTypeOf(toApiError(new OrderNotFound({ orderReqId: "O" }))).toEqualTypeOf<NotFound>()
    const readFailure = new OrderNotFound({ orderReqId: "O" }) as OrderNotFound | StorageUnavailable
    expectTypeOf(toApiError(readFailure)).toEqualTypeOf<NotFound | Unavailable>()
    expectTypeOf(
      toApiError(new IdempotencyKeyReused({ orderReqId: "O", transactionUuid: "t" })),
    ).toEqualTypeOf<Conflict>()
  })
})

describe("processor failures as REST answers", () => {
  const failure = (code: Status, details = "", reason?: string) =>
    wire(
      toApiError(
        fromProcessorError("ORD-7")(
          new ProcessorCallError({
            method: "FinaliseOrder",
            code,
            details,
            ...(reason === undefined ? {} : { reason }),
          }),
        ),
      ),
    )

  it.each([
    [Status.NOT_FOUND, 404, "not_found"],
    [Status.FAILED_PRECONDITION, 409, "wrong_state"],
    [Status.ALREADY_EXISTS, 409, "wrong_state"],
    [Status.ABORTED, 409, "wrong_state"],
    [Status.INVALID_ARGUMENT, 400, "invalid_request"],
    [Status.OUT_OF_RANGE, 400, "invalid_request"],
    [Status.UNAVAILABLE, 503, "unavailable"],
    [Status.DEADLINE_EXCEEDED, 503, "unavailable"],
    [Status.CANCELLED, 503, "unavailable"],
    [Status.INTERNAL, 502, "processor_error"],
    [Status.UNIMPLEMENTED, 502, "processor_error"],
  ])("gRPC %s → %s %s", (code, status, errorCode) => {
    const answer = failure(code, "the text")
    expect([answer.status, answer.code]).toEqual([status, errorCode])
  })

  it("keeps the processor's text: the message, and for an invalid request the body detail", () => {
    expect(failure(Status.NOT_FOUND, "no PROP-9")).toMatchObject({ message: "no PROP-9", details: [] })
    expect(failure(Status.INVALID_ARGUMENT, "bad proposal_id")).toMatchObject({
      message: "bad proposal_id",
      details: [{ path: "body", problem: "bad proposal_id" }],
    })
    // Without details the status line says what failed.
    expect(failure(Status.INTERNAL)).toMatchObject({
      message: "processor FinaliseOrder failed: INTERNAL",
      details: [],
    })
  })

  it("uses the processor's reason (ErrorInfo / trailer) as the code, never the message text", () => {
    expect(failure(Status.FAILED_PRECONDITION, "order ORD-7 is paused", "order_paused")).toMatchObject({
      code: "order_paused",
      message: "order ORD-7 is paused",
    })
    expect(failure(Status.NOT_FOUND, "no PROP-9", "proposal_not_found").code).toBe("proposal_not_found")
    expect(failure(Status.INVALID_ARGUMENT, "bad", "proposal_invalid").code).toBe("proposal_invalid")
    // A message that looks like "reason: text" is only text.
    expect(failure(Status.NOT_FOUND, "proposal_not_found: no PROP-9").code).toBe("not_found")
    // Unreachable is `unavailable` whatever the reason says.
    expect(failure(Status.UNAVAILABLE, "down", "order_paused").code).toBe("unavailable")
  })

  it("503 carries Retry-After seconds", () => {
    expect(failure(Status.UNAVAILABLE, "connect ECONNREFUSED")).toEqual({
      status: 503,
      code: "unavailable",
      message: "processor is unavailable: UNAVAILABLE: connect ECONNREFUSED",
      details: [{ path: "processor", problem: "UNAVAILABLE: connect ECONNREFUSED" }],
      retryAfter: 5,
    })
    expect(failure(Status.DEADLINE_EXCEEDED).details).toEqual([{ path: "processor", problem: "DEADLINE_EXCEEDED" }])
  })

  it("RESOURCE_EXHAUSTED (the processor's admission control) → 503 overloaded with the processor's retry hint", () => {
    const answer = wire(
      toApiError(
        fromProcessorError("ORD-7")(
          new ProcessorCallError({
            method: "ProcessFollowUp",
            code: Status.RESOURCE_EXHAUSTED,
            details: "overloaded (grpc_unary): 1024 already in flight; retry after 2 s",
            reason: "overloaded",
            retryAfterSeconds: 2,
          }),
        ),
      ),
    )
    expect(answer).toEqual({
      status: 503,
      code: "overloaded",
      message:
        "the processor is overloaded; retry later (overloaded (grpc_unary): 1024 already in flight; retry after 2 s)",
      details: [{ path: "processor", problem: "overloaded (grpc_unary): 1024 already in flight; retry after 2 s" }],
      retryAfter: 2,
    })
    // Without the trailers: still 503, retry after 1 s.
    expect(failure(Status.RESOURCE_EXHAUSTED, "busy")).toMatchObject({ code: "overloaded", retryAfter: 1 })
  })

  it("keeps the processor call as the cause and names the order", () => {
    const call = new ProcessorCallError({ method: "PauseOrder", code: Status.UNAVAILABLE, details: "" })
    expect(fromProcessorError("ORD-7")(call)).toMatchObject({
      _tag: "ProcessorUnavailable",
      reason: "unreachable",
      orderReqId: "ORD-7",
      cause: call,
    })
  })
})
