/**
 * `REQ_failures` reports are stamped with the `Clock`'s time (not wall time), so a `TestClock`
 * decides their `Timestamp`.
 */

import type { OutboxEntry } from "@dcent/shared/outbox/entry"
import { Outbox } from "@dcent/shared/outbox/Outbox"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { OrderFailureReports } from "../../src/orders/failureReports.ts"
import { OrderStore } from "../../src/orders/OrderStore.ts"

describe("OrderFailureReports", () => {
  it.effect("stamps a report with the Clock's time", () =>
    Effect.gen(function* () {
      const added: Array<OutboxEntry> = []
      const outbox = Layer.succeed(Outbox, {
        add: (_key: string, entries: ReadonlyArray<OutboxEntry>) => Effect.sync(() => void added.push(...entries)),
      })
      // The report names its session, so the store is never asked.
      const store = Layer.succeed(OrderStore, {} as OrderStore["Service"])
      const reports = yield* OrderFailureReports.make.pipe(Effect.provide(Layer.merge(outbox, store)))

      yield* TestClock.setTime(Date.parse("2031-05-06T07:08:09.010Z"))
      yield* reports.report(
        "finalize",
        { status: 409, code: "order_finalised", message: "order ORD-1 is finalised", details: [] },
        { orderReqId: "ORD-1", sessionId: "S-1", request: { OrderReqID: "ORD-1" } },
      )

      expect(added).toHaveLength(1)
      expect(JSON.parse(added[0]!.payload)).toMatchObject({
        OrderReqID: "ORD-1",
        Reason: "order_finalised",
        Timestamp: "2031-05-06T07:08:09.010Z",
      })
    }),
  )
})
