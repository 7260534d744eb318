import { alive, ready } from "@dcent/shared/health/handlers"
import { Readiness } from "@dcent/shared/health/Readiness"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { RequestorApi } from "../http/Api.ts"

export const HealthHandlers = HttpApiBuilder.group(
  RequestorApi,
  "health",
  Effect.fn(function* (handlers) {
    const readiness = yield* Readiness
    return handlers.handleAll({
      healthz: () => alive,
      readyz: () => ready(readiness),
    })
  }),
)
