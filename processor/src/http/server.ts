import { servesTls } from "@dcent/shared/config/tls"
import { serveApi } from "@dcent/shared/http/server"
import { MetricsHttpLive } from "@dcent/shared/metrics/http"
import { Effect, Layer } from "effect"
import { ProcessorConfig } from "../config.ts"
import { HealthHandlers } from "../health/http.ts"
import { OrderHandlersLive } from "../orders/http.ts"
import { SellersHandlers } from "../sellers/http.ts"
import { ProcessorApi } from "./Api.ts"

/** All handler groups of `ProcessorApi`. */
export const ApiHandlers = Layer.mergeAll(HealthHandlers, OrderHandlersLive, SellersHandlers)

export const HttpLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ProcessorConfig
    return serveApi(
      ProcessorApi,
      ApiHandlers,
      {
        host: config.httpHost,
        port: config.httpPort,
        admission: config.httpAdmission,
        limits: config.httpLimits,
        ...(servesTls(config.tls) ? { tls: { cert: config.tls.cert, key: config.tls.key } } : {}),
      },
      MetricsHttpLive,
    )
  }),
)
