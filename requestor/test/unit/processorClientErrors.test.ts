/**
 * How the requestor's processor client reads a failed call's code, against a real gRPC server on
 * port 0: the standard `google.rpc.ErrorInfo` reason first, the `dcent-error-code` trailer when a
 * server sends no details.
 */
import {
  OrderNonStreamingServiceDefinition,
  type ResumeOrderRequest,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import { errorCodeTrailer, errorDetailsServerMiddleware, grpcError } from "@dcent/shared/grpc/errorDetails"
import { Effect, Exit } from "effect"
import { createServer, type Server, ServerError, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ProcessorCallError, ProcessorClient } from "../../src/processor/ProcessorClient.ts"

describe("ProcessorClient: error codes", () => {
  let server: Server
  let address: string

  beforeAll(async () => {
    server = createServer().use(errorDetailsServerMiddleware)
    server.add(OrderNonStreamingServiceDefinition, {
      // Details and a trailer that disagree: the details win.
      async processFollowUp(_request, context) {
        const error = grpcError(context, {
          status: Status.FAILED_PRECONDITION,
          code: "order_paused",
          message: "paused",
        })
        context.trailer.set(errorCodeTrailer, "stale_trailer_code")
        throw error
      },
      // Only the trailer (a server without details): it is read.
      async pauseOrder(_request, context) {
        context.trailer.set(errorCodeTrailer, "order_finalised")
        throw new ServerError(Status.FAILED_PRECONDITION, "finalised")
      },
      async finaliseOrder(_request, context) {
        throw grpcError(context, {
          status: Status.INVALID_ARGUMENT,
          code: "invalid_request",
          message: "invalid request: proposal_id: bad",
          violations: [{ path: "proposal_id", problem: "bad" }],
        })
      },
      async resumeOrder(_request: ResumeOrderRequest) {
        throw new ServerError(Status.NOT_FOUND, "no code at all")
      },
    })
    address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`
  })

  afterAll(async () => {
    await server?.shutdown()
  })

  const failureOf = <A>(call: (client: ProcessorClient["Service"]) => Effect.Effect<A, ProcessorCallError>) =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const client = yield* ProcessorClient.make({ address, callTimeout: "5 seconds" })
          const exit = yield* Effect.exit(call(client))
          if (Exit.isSuccess(exit)) throw new Error("expected the call to fail")
          const reason = exit.cause.reasons[0]
          if (reason?._tag !== "Fail") throw new Error("expected a typed failure")
          return reason.error
        }),
      ),
    )

  it("takes the code from the standard ErrorInfo before the trailer", async () => {
    const error = await failureOf((client) =>
      client.followUp({ orderReqId: "ORD-1", transactionUuid: "t", audienceProposalIds: [], message: undefined }),
    )
    expect(error).toMatchObject({ code: Status.FAILED_PRECONDITION, reason: "order_paused" })
  })

  it("falls back to the dcent-error-code trailer without details", async () => {
    const error = await failureOf((client) => client.pause({ orderReqId: "ORD-1", transactionUuid: "t", reason: "" }))
    expect(error).toMatchObject({ code: Status.FAILED_PRECONDITION, reason: "order_finalised" })
  })

  it("reads invalid_request from the details of an INVALID_ARGUMENT", async () => {
    const error = await failureOf((client) =>
      client.finalise({ orderReqId: "ORD-1", transactionUuid: "t", proposalId: "bad" }),
    )
    expect(error).toMatchObject({ code: Status.INVALID_ARGUMENT, reason: "invalid_request" })
  })

  it("has no reason when the server sent neither", async () => {
    const error = await failureOf((client) => client.resume({ orderReqId: "ORD-1", transactionUuid: "t" }))
    expect(error.code).toBe(Status.NOT_FOUND)
    expect(error.reason).toBeUndefined()
  })
})
