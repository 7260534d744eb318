/**
 * The requestor's REST contract (served at `/openapi.json`, browsable at `/docs`).
 * Business groups (orders, streams) are added here as they are implemented.
 */
import { HealthApi } from "@dcent/shared/health/api"
import { HttpApi, OpenApi } from "effect/http-api"

export class RequestorApi extends HttpApi.make("requestor")
  .add(HealthApi)
  .annotateMerge(
    OpenApi.annotations({
      title: "dCent Communicator — Requestor",
      version: "0.1.0",
      description: "Buyer side: opens order requests and streams their events to buyer apps.",
    }),
  ) {}
