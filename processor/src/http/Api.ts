/**
 * The processor's REST contract (served at `/openapi.json`, browsable at `/docs`).
 * Groups: health, proposals and edit locks (`../proposals/api.ts`), seller follow-ups and orders
 * (`../orders/api.ts`), sellers (`../sellers/api.ts`).
 */
import { HealthApi } from "@dcent/shared/health/api"
import { documentInputLimits } from "@dcent/shared/http/openApiSecurity"
import { HttpApi, OpenApi } from "effect/http-api"
import { OrdersApi, SellerFollowUpsApi } from "../orders/api.ts"
import { EditLocksApi, ProposalsApi } from "../proposals/api.ts"
import { SellersApi } from "../sellers/api.ts"

export class ProcessorApi extends HttpApi.make("processor")
  .add(HealthApi)
  .add(ProposalsApi)
  .add(SellerFollowUpsApi)
  .add(EditLocksApi)
  .add(OrdersApi)
  .add(SellersApi)
  .annotateMerge(
    OpenApi.annotations({
      title: "dCent Communicator — Processor",
      version: "0.1.0",
      // 413 / 414 / 431 and the JWT bearer format (`http/openApiSecurity.ts`).
      transform: documentInputLimits,
      description:
        "Seller side: proposals, follow-ups and edit locks; the order gRPC services run on GRPC_SERVER_PORT.",
    }),
  ) {}
