import { healthHandlers } from "@dcent/shared/health/handlers"
import { HttpApiBuilder } from "effect/http-api"
import { ProcessorApi } from "../http/Api.ts"

export const HealthHandlers = HttpApiBuilder.group(ProcessorApi, "health", healthHandlers)
