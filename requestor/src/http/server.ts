import { servesTls } from "@dcent/shared/config/tls"
import { serveApi } from "@dcent/shared/http/server"
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
      {
        host: config.httpHost,
        port: config.httpPort,
        admission: config.httpAdmission,
        limits: config.httpLimits,
        ...(servesTls(config.tls) ? { tls: { cert: config.tls.cert, key: config.tls.key } } : {}),
      },
      Layer.mergeAll(MetricsHttpLive, ConsoleHttpLive),
    )
  }),
)
