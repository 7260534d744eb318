import { healthHandlers } from "@dcent/shared/health/handlers"
import { HttpApiBuilder } from "effect/http-api"
import { RequestorApi } from "../http/Api.ts"

export const HealthHandlers = HttpApiBuilder.group(RequestorApi, "health", healthHandlers)
