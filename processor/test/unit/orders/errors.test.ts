import { RedisUnavailable } from "@dcent/shared/redis/errors"
import { Status } from "nice-grpc"
import { describe, expect, it } from "vitest"
import { grpcFailureOf } from "../../../src/grpc/status.ts"
import { statusOf, toApiError } from "../../../src/http/errors.ts"
import {
  type CommandError,
  InvalidRequest,
  OrderNotFound,
  ProposalNotFound,
  SellerNotEligible,
  SellerNotFound,
  Unavailable,
  unavailable,
  WrongState,
} from "../../../src/orders/errors.ts"
import { parseTimerMember, TimerMember } from "../../../src/orders/model.ts"

const cases: Array<[CommandError, number, Status, string]> = [
  [
    new InvalidRequest({ details: [{ path: "industry", problem: "required" }] }),
    400,
    Status.INVALID_ARGUMENT,
    "invalid_request",
  ],
  [new OrderNotFound({ orderReqId: "O" }), 404, Status.NOT_FOUND, "order_not_found"],
  [new ProposalNotFound({ orderReqId: "O", proposalId: "P" }), 404, Status.NOT_FOUND, "proposal_not_found"],
  [new SellerNotFound({ sellerId: "S" }), 404, Status.NOT_FOUND, "seller_not_found"],
  [
    new SellerNotEligible({ orderReqId: "O", sellerId: "S", reason: "no" }),
    403,
    Status.PERMISSION_DENIED,
    "seller_not_eligible",
  ],
  [
    new WrongState({ orderReqId: "O", reason: "order_paused", description: "paused" }),
    409,
    Status.FAILED_PRECONDITION,
    "order_paused",
  ],
  [
    new Unavailable({
      dependency: "redis",
      cause: new RedisUnavailable({ url: "redis://localhost:6379", reason: "down" }),
    }),
    503,
    Status.UNAVAILABLE,
    "unavailable",
  ],
]

describe("the one mapping of lifecycle failures", () => {
  it.each(cases)("%s → HTTP %i, gRPC %i", (error, http, grpc, code) => {
    const api = toApiError(error)
    expect(statusOf(api)).toBe(http)
    expect(api.code).toBe(code)
    expect(grpcFailureOf(error)).toMatchObject({ status: grpc, code })
  })

  it("a 400 keeps the field paths; a 503 asks to retry", () => {
    expect(toApiError(cases[0]![0]).details).toEqual([{ path: "industry", problem: "required" }])
    const unavailable = toApiError(cases[6]![0])
    expect(unavailable._tag === "ApiUnavailable" && unavailable.retryAfterSeconds).toBe(1)
  })
})

describe("Unavailable", () => {
  const outage = new RedisUnavailable({ url: "redis://localhost:6379", reason: "connection refused" })

  it("keeps its cause and renders it for clients as before: message and details from the cause's message", () => {
    const error = unavailable("redis")(outage)
    expect(error.cause).toBe(outage)
    expect(toApiError(error)).toMatchObject({
      code: "unavailable",
      message: "redis is unavailable: redis redis://localhost:6379 is unreachable: connection refused",
      details: [{ path: "redis", problem: "redis redis://localhost:6379 is unreachable: connection refused" }],
      retryAfterSeconds: 1,
    })
  })

  it("names the order when the order is the problem", () => {
    expect(unavailable("order", "ORD-1")(new Error("conflict")).message).toBe(
      "order is unavailable: order ORD-1 keeps changing concurrently on other replicas; try again",
    )
    expect(unavailable("order state", "ORD-1")(new Error("Expected string")).message).toBe(
      "order state is unavailable: order ORD-1: Expected string",
    )
  })

  it("never shows a URL's password, on the wire or over gRPC", () => {
    const error = unavailable("redis")(new Error("cannot reach redis://app:s3cret@redis.internal:6379"))
    const api = toApiError(error)
    for (const text of [api.message, api.details[0]?.problem, grpcFailureOf(error).message, error.message]) {
      expect(text).toContain("redis://app:***@redis.internal:6379")
      expect(text).not.toContain("s3cret")
    }
  })
})

describe("timer members", () => {
  it("round-trip and reject garbage", () => {
    expect(parseTimerMember(TimerMember.expiry("ORD-1"))).toEqual({ _tag: "Expiry", orderReqId: "ORD-1" })
    expect(parseTimerMember(TimerMember.editLock("ORD-1", "P:1"))).toEqual({
      _tag: "EditLock",
      orderReqId: "ORD-1",
      proposalId: "P:1",
    })
    for (const bad of ["", "expiry|", "editlock|ORD-1", "other|x", "expiry|a|b"])
      expect(parseTimerMember(bad)).toBeUndefined()
  })
})
