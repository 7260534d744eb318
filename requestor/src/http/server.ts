import { httpServerOptions, serveApi } from "@dcent/shared/http/server"
import { MetricsHttpLive } from "@dcent/shared/metrics/http"
import { Effect, Layer } from "effect"
import { RequestorConfig } from "../config.ts"
import { ConsoleHttpLive } from "../console/http.ts"
import { HealthHandlers } from "../health/http.ts"
import { OrdersHandlers } from "../orders/http.ts"
import { RequestorApi } from "./Api.ts"

/** All handler groups of `RequestorApi`. */
export const ApiHandlers = Layer.mergeAll(HealthHandlers, OrdersHandlers)

export const HttpLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* RequestorConfig
    return serveApi(
      RequestorApi,
      ApiHandlers,
      httpServerOptions(config),
      Layer.mergeAll(MetricsHttpLive, ConsoleHttpLive),
    )
  }),
)
