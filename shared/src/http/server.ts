/**
 * Serves an HttpApi over Node's HTTP server, with its OpenAPI document at `/openapi.json`,
 * interactive docs (Scalar) at `/docs`, and failures rendered as the common error body.
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Duration, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { type HttpApi, HttpApiBuilder, type HttpApiGroup, HttpApiScalar } from "effect/http-api"
import { HttpSpanNames } from "../telemetry/http.ts"
import { DrainGate } from "./drainGate.ts"
import { ErrorRendering } from "./middleware.ts"

export interface HttpServerOptions {
  readonly host: string
  readonly port: number
  /** How long open requests may take to finish at shutdown (default 5 s). */
  readonly shutdownTimeout?: Duration.Input
}

export const openApiPath = "/openapi.json"
export const docsPath = "/docs"

/**
 * The HTTP routes of `api` plus `/openapi.json` and `/docs`, without a server. `extra` (routes
 * outside the API, e.g. `/metrics`, and global middleware) is registered first: its middleware
 * runs outermost and sees the responses the error rendering produced.
 */
export const apiRoutes = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R, E2 = never, R2 = never>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  extra: Layer.Layer<never, E2, R2> = Layer.empty as Layer.Layer<never, E2, R2>,
) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(api, { openapiPath: openApiPath }).pipe(Layer.provide(handlers)),
    HttpApiScalar.layer(api, { path: docsPath }),
    ErrorRendering,
    HttpSpanNames,
    // While draining: new requests 503 + Retry-After; running ones counted until answered.
    DrainGate,
  ).pipe(Layer.provideMerge(extra))

/** Listens on `host:port` and serves `api`; closes the server (bounded) when the layer is released. */
export const serveApi = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R, E2 = never, R2 = never>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  options: HttpServerOptions,
  extra: Layer.Layer<never, E2, R2> = Layer.empty as Layer.Layer<never, E2, R2>,
) =>
  HttpRouter.serve(apiRoutes(api, handlers, extra)).pipe(
    Layer.provide(
      NodeHttpServer.layer(createServer, {
        host: options.host,
        port: options.port,
        gracefulShutdownTimeout: Duration.fromInputUnsafe(options.shutdownTimeout ?? "5 seconds"),
      }),
    ),
  )
