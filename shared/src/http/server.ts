/**
 * Serves an HttpApi over Node's HTTP server, with its OpenAPI document at `/openapi.json`,
 * interactive docs (Scalar) at `/docs`, failures rendered as the common error body, admission
 * control (`admission.ts`: past its bounds 503 `overloaded` + `Retry-After`) and the access log
 * at debug level (`accessLog.ts`, instead of Effect's info-level one). Hostile input is bounded by
 * `limits.ts` (413 / 414 / 431, slow clients cut off).
 */
import { createServer, type Server } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { NodeHttpServer } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { ServeError } from "effect/http/HttpServerError"
import { type HttpApi, HttpApiBuilder, type HttpApiGroup, HttpApiScalar } from "effect/http-api"
import type { HttpAdmissionLimits } from "../admission/config.ts"
import { servesTls, type TlsFiles } from "../config/tls.ts"
import { HttpSpanNames } from "../telemetry/http.ts"
import { acceptorCount, addAcceptors, portIsFree } from "./acceptors.ts"
import { accessLog } from "./accessLog.ts"
import { HttpAdmission } from "./admission.ts"
import { DrainGate } from "./drainGate.ts"
import { type EarlyRefusal, makeEarlyRefusal } from "./earlyRefusal.ts"
import { defaultHttpLimits, type HttpLimits, HttpLimitsMiddleware, nodeServerOptions } from "./limits.ts"
import { ErrorRendering } from "./middleware.ts"

export interface HttpServerOptions {
  readonly host: string
  readonly port: number
  /** How long open requests may take to finish at shutdown (default 5 s). */
  readonly shutdownTimeout?: Duration.Input
  /** Bounds on requests in flight and waiting (default `defaultHttpAdmission`). */
  readonly admission?: HttpAdmissionLimits
  /** Bounds on body, URL, headers and slow clients (default `defaultHttpLimits`, `limits.ts`). */
  readonly limits?: HttpLimits
  /** Serve https with this certificate and key (`TLS_CERT_FILE` / `TLS_KEY_FILE`); plain http without. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer }
}

/** The server options from a service's settings (`HTTP_HOST`, its port, admission, limits, `TLS_*`). */
export const httpServerOptions = (settings: {
  readonly httpHost: string
  readonly httpPort: number
  readonly httpAdmission: HttpAdmissionLimits
  readonly httpLimits: HttpLimits
  readonly tls: TlsFiles | undefined
}): HttpServerOptions => ({
  host: settings.httpHost,
  port: settings.httpPort,
  admission: settings.httpAdmission,
  limits: settings.httpLimits,
  ...(servesTls(settings.tls) ? { tls: { cert: settings.tls.cert, key: settings.tls.key } } : {}),
})

export const openApiPath = "/openapi.json"
export const docsPath = "/docs"

/**
 * The HTTP routes of `api` plus `/openapi.json` and `/docs`, without a server. `extra` (routes
 * outside the API, e.g. `/metrics`, and global middleware) is registered first: its middleware
 * runs outermost and sees the responses the error rendering produced (the 503s of the drain
 * gate and of admission control too).
 */
export const apiRoutes = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R, E2 = never, R2 = never>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  extra: Layer.Layer<never, E2, R2> = Layer.empty as Layer.Layer<never, E2, R2>,
  admission?: HttpAdmissionLimits,
  limits?: HttpLimits,
  earlyRefusal?: EarlyRefusal,
) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(api, { openapiPath: openApiPath }).pipe(Layer.provide(handlers)),
    HttpApiScalar.layer(api, { path: docsPath }),
    ErrorRendering,
    HttpSpanNames,
    // While draining: new requests 503 + Retry-After; running ones counted until answered.
    DrainGate,
    // Past the bounds on requests in flight and waiting: 503 overloaded + Retry-After, at once.
    HttpAdmission(admission, earlyRefusal),
    // Innermost of the global middleware: an admitted request is checked before its body is read.
    HttpLimitsMiddleware(limits),
  ).pipe(Layer.provideMerge(extra))

/**
 * Node's server for `options`: https when a certificate is given, with the limits of `limits.ts`
 * either way, and `acceptors` listening sockets (`acceptors.ts`).
 */
const nodeServer = (options: HttpServerOptions, earlyRefusal: EarlyRefusal, acceptors: number) => {
  const httpLimits = options.limits ?? defaultHttpLimits
  const limits = nodeServerOptions(httpLimits)
  const server =
    options.tls === undefined
      ? createServer(limits)
      : // An https.Server emits the same events as an http.Server; NodeHttpServer only listens to them.
        (createHttpsServer({ ...limits, cert: options.tls.cert, key: options.tls.key }) as unknown as Server)
  earlyRefusal.install(server)
  addAcceptors(server, acceptors, httpLimits.listenBacklog)
  return server
}

/** Node's HTTP server listening on `options`' address; fails as before when the port is taken (`acceptors.ts`). */
const listening = (options: HttpServerOptions, earlyRefusal: EarlyRefusal) => {
  const limits = options.limits ?? defaultHttpLimits
  const acceptors = acceptorCount(limits.acceptors)
  const server = NodeHttpServer.layer(() => nodeServer(options, earlyRefusal, acceptors), {
    host: options.host,
    port: options.port,
    backlog: limits.listenBacklog,
    reusePort: acceptors > 1,
    gracefulShutdownTimeout: Duration.fromInputUnsafe(options.shutdownTimeout ?? "5 seconds"),
  })
  return acceptors > 1
    ? Layer.unwrap(
        portIsFree(options.host, options.port).pipe(
          Effect.mapError((cause) => new ServeError({ cause })),
          Effect.as(server),
        ),
      )
    : server
}

/** Listens on `host:port` and serves `api`; closes the server (bounded) when the layer is released. */
export const serveApi = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R, E2 = never, R2 = never>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>,
  options: HttpServerOptions,
  extra: Layer.Layer<never, E2, R2> = Layer.empty as Layer.Layer<never, E2, R2>,
) => {
  // Built per server: the admission middleware hands its limiter to the Node server's refusals.
  const earlyRefusal = makeEarlyRefusal()
  // Effect's access log writes every request at info level; ours is at debug (`accessLog.ts`).
  return HttpRouter.serve(apiRoutes(api, handlers, extra, options.admission, options.limits, earlyRefusal), {
    disableLogger: true,
    middleware: accessLog,
  }).pipe(Layer.provide(listening(options, earlyRefusal)))
}
