/**
 * Demo data (`DEMO_DATA=true`): registers the orders of `demo/data/orders.json` (the original
 * dCent README's `ORD-001`, and `ORD-002`) at start-up unless they exist, so that README's first curl
 * (`initiate` with only `OrderReqId`, `SessionID`, `Notification type`) works as written. The
 * file is read with the same schema as `POST /api/v1/orders`; the processor's demo sellers
 * (`demo/data/sellers.json`) serve these orders' industries and locations.
 */
import { demoDataPath, loadDemoArray } from "@dcent/shared/demo/demoData"
import { Effect, Layer, Schedule } from "effect"
import { RequestorConfig } from "../config.ts"
import type { OrderDetails } from "./domain.ts"
import { Orders } from "./Orders.ts"
import { RegisterOrderBody, toOrderDetails } from "./schemas.ts"

/** The demo orders (`demo/data/orders.json`), validated like registrations. */
export const loadDemoOrders = (
  path: string = demoDataPath("orders.json"),
): Effect.Effect<ReadonlyArray<OrderDetails>, Error> =>
  loadDemoArray(path, RegisterOrderBody).pipe(Effect.map((bodies) => bodies.map(toOrderDetails)))

/** Registers the demo orders in the background once Redis answers (a no-op without `DEMO_DATA`). */
export const DemoDataLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* RequestorConfig
    if (!config.demoData) return
    const orders = yield* Orders
    yield* loadDemoOrders().pipe(
      Effect.flatMap((demo) =>
        Effect.forEach(demo, (details) =>
          orders.registerIfAbsent(details).pipe(
            Effect.retry(Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")])),
            Effect.map((registered) => (registered ? [details.orderReqId] : [])),
          ),
        ),
      ),
      Effect.tap((registered) =>
        Effect.logInfo("demo orders ready").pipe(Effect.annotateLogs({ registered: registered.flat().join(",") })),
      ),
      Effect.catchCause((cause) => Effect.logError("demo orders not registered", cause)),
      Effect.forkScoped,
    )
  }),
)
