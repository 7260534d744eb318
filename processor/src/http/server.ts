import { httpServerOptions, serveApi } from "@dcent/shared/http/server"
import { MetricsHttpLive } from "@dcent/shared/metrics/http"
import { Effect, Layer } from "effect"
import { ProcessorConfig } from "../config.ts"
import { HealthHandlers } from "../health/http.ts"
import { SellerFailureReportingLive } from "../orders/failures.ts"
import { OrdersHandlers, SellerFollowUpsHandlers } from "../orders/http.ts"
import { EditLocksHandlers, ProposalsHandlers } from "../proposals/http.ts"
import { SellersHandlers } from "../sellers/http.ts"
import { ProcessorApi } from "./Api.ts"

/** The seller-facing groups (proposals, follow-ups, edit locks, orders) with their failure-reporting middleware. */
const SellerFacingHandlers = Layer.mergeAll(
  ProposalsHandlers,
  SellerFollowUpsHandlers,
  EditLocksHandlers,
  OrdersHandlers,
).pipe(Layer.provide(SellerFailureReportingLive))

/** All handler groups of `ProcessorApi`. */
export const ApiHandlers = Layer.mergeAll(HealthHandlers, SellerFacingHandlers, SellersHandlers)

export const HttpLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    return serveApi(ProcessorApi, ApiHandlers, httpServerOptions(config), MetricsHttpLive)
  }),
)
