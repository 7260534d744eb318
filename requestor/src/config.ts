/** The requestor's settings, read from the environment and validated at start-up. */

import { host, port } from "@dcent/shared/config/env"
import { Config, Context, Layer } from "effect"

export const requestorConfig = Config.all({
  /** `REQUESTOR_HTTP_PORT` (8000): REST, `/docs`, `/healthz`, `/readyz`. */
  httpPort: port("REQUESTOR_HTTP_PORT", 8000),
  /** `HTTP_HOST` (127.0.0.1; 0.0.0.0 in containers): the address the REST server binds. */
  httpHost: host("HTTP_HOST", "127.0.0.1"),
})

export type RequestorConfigShape = typeof requestorConfig extends Config.Config<infer A> ? A : never

export class RequestorConfig extends Context.Service<RequestorConfig, RequestorConfigShape>()(
  "dcent/requestor/RequestorConfig",
) {
  static readonly layer = Layer.effect(RequestorConfig, requestorConfig)
}

/** Prefix of every Redis key the requestor writes. */
export const redisKeyPrefix = "dcent:requestor:"
