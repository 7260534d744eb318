import { alive, ready } from "@dcent/shared/health/handlers"
import { Readiness } from "@dcent/shared/health/Readiness"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { ProcessorApi } from "../http/Api.ts"

export const HealthHandlers = HttpApiBuilder.group(
  ProcessorApi,
  "health",
  Effect.fn(function* (handlers) {
    const readiness = yield* Readiness
    return handlers.handleAll({
      healthz: () => alive,
      readyz: () => ready(readiness),
    })
  }),
)
