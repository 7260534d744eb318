/**
 * The requestor's REST contract (served at `/openapi.json`, browsable at `/docs`): health probes
 * and the order lifecycle (`orders/api.ts`).
 */
import { HealthApi } from "@dcent/shared/health/api"
import { documentInputLimits } from "@dcent/shared/http/openApiSecurity"
import { HttpApi, OpenApi } from "effect/http-api"
import { OrdersApi } from "../orders/api.ts"

export class RequestorApi extends HttpApi.make("requestor")
  .add(HealthApi)
  .add(OrdersApi)
  .annotateMerge(
    OpenApi.annotations({
      title: "dCent Communicator — Requestor",
      version: "0.1.0",
      // 413 / 414 / 431 and the JWT bearer format (`http/openApiSecurity.ts`).
      transform: documentInputLimits,
      description:
        "Buyer side: registers and initiates order requests, forwards follow-ups, finalise, pause and resume to " +
        "the processor, and streams each order's events to buyer apps (SSE here, gRPC `WatchOrder` on " +
        "`REQUESTOR_GRPC_PORT`).",
    }),
  ) {}
