/**
 * `ProcessOrderStreams` when one order's open never finishes (a read stuck on a Redis that does
 * not answer): after `openTimeout` that order alone is refused `unavailable`, so the caller opens
 * it again instead of waiting for an answer forever, and the other orders of the call are served.
 * The event log is the real one on the local Redis; `openFor` stands in for the reads.
 */

import type {
  OrderStreamsRequest,
  OrderStreamsResponse,
} from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { makeCatalogue, StreamKinds } from "@dcent/shared/metrics/catalogue"
import { streamTracker } from "@dcent/shared/metrics/streams"
import { OrderEventLog } from "@dcent/shared/orders/OrderEventLog"
import { Effect, Layer } from "effect"
import { Status } from "nice-grpc"
import { Registry } from "prom-client"
import { describe, expect, it } from "vitest"
import { redisLayer, testPrefix } from "../../../../shared/test/integration/eventlog/support.ts"
import { makeProcessOrderStreams } from "../../../src/grpc/orderStreams.ts"

/** Commands the test sends, ended when the test is done. */
const commandsOf = (requests: ReadonlyArray<OrderStreamsRequest>, done: AbortSignal) =>
  (async function* () {
    yield* requests
    await new Promise((resolve) => done.addEventListener("abort", resolve, { once: true }))
  })()

describe("ProcessOrderStreams: an open that never finishes", () => {
  it("is refused unavailable after openTimeout, and the call goes on for the other orders", async () => {
    const prefix = testPrefix("open-timeout")
    await Effect.runPromise(
      Effect.gen(function* () {
        const eventLog = yield* OrderEventLog
        const context = yield* Effect.context<never>()
        const catalogue = makeCatalogue(new Registry())
        const serve = makeProcessOrderStreams({
          eventLog,
          context,
          openFor: (request) =>
            request.orderReqId === "STUCK"
              ? Effect.never
              : Effect.succeed({ orderReqId: request.orderReqId, fromSeq: 0, status: "SUBMITTED", lastSeq: 0 }),
          shutdown: new AbortController().signal,
          calls: streamTracker(catalogue, StreamKinds.OrderStreamsCall),
          orders: streamTracker(catalogue, StreamKinds.OrderStreamsCall),
          openTimeout: "300 millis",
        })
        const done = new AbortController()
        const open = (orderReqId: string): OrderStreamsRequest => ({
          open: { orderReqId, fromSeq: 0 } as OrderStreamsRequest["open"],
          close: undefined,
          traceContext: {},
        })
        const responses = serve(commandsOf([open("STUCK"), open("FINE")], done.signal), {
          signal: done.signal,
        } as Parameters<typeof serve>[1])
        const startedAt = Date.now()
        const answers = yield* Effect.promise(async () => {
          const received: Array<OrderStreamsResponse> = []
          for await (const response of responses) {
            received.push(response)
            if (received.length === 2) break
          }
          done.abort()
          return received
        })
        return { answers, elapsedMs: Date.now() - startedAt }
      }).pipe(Effect.provide(Layer.provide(OrderEventLog.layer, redisLayer(prefix)))),
    ).then(({ answers, elapsedMs }) => {
      expect(answers[0]?.opened?.orderReqId).toBe("FINE")
      expect(answers[1]?.refused).toMatchObject({
        orderReqId: "STUCK",
        code: Status.UNAVAILABLE,
        errorCode: "unavailable",
      })
      expect(answers[1]?.refused?.message).toContain("open it again")
      expect(elapsedMs).toBeGreaterThanOrEqual(300)
    })
  }, 20_000)
})
