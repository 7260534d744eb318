/**
 * The processor's REST contract (served at `/openapi.json`, browsable at `/docs`).
 * Business groups (proposals, sellers) are added here as they are implemented.
 */
import { HealthApi } from "@dcent/shared/health/api"
import { HttpApi, OpenApi } from "effect/http-api"

export class ProcessorApi extends HttpApi.make("processor")
  .add(HealthApi)
  .annotateMerge(
    OpenApi.annotations({
      title: "dCent Communicator — Processor",
      version: "0.1.0",
      description:
        "Seller side: proposals, follow-ups and edit locks; the order gRPC services run on GRPC_SERVER_PORT.",
    }),
  ) {}
