/**
 * Bounds on what one HTTP client may send (both services; README "Security"):
 *
 * | variable | default | bound |
 * | --- | --- | --- |
 * | `HTTP_MAX_BODY_BYTES` | 1048576 | request body; past it 413 `payload_too_large` (by `Content-Length` before reading, or while reading a chunked body) |
 * | `HTTP_MAX_URL_LENGTH` | 8192 | request target (path + query); past it 414 `uri_too_long` |
 * | `HTTP_MAX_HEADER_BYTES` | 16384 | request line + headers (Node's `maxHeaderSize`); past it 431 |
 * | `HTTP_HEADERS_TIMEOUT_MS` | 10000 | time to send the complete headers (slowloris); past it 408 and the connection closes |
 * | `HTTP_REQUEST_TIMEOUT_MS` | 30000 | time to send the complete request, body included; past it 408 and closed |
 * | `HTTP_KEEP_ALIVE_TIMEOUT_MS` | 5000 | an idle keep-alive connection is closed after this |
 * | `HTTP_LISTEN_BACKLOG` | 4096 | connections the kernel holds ready for the server to accept (capped by `net.core.somaxconn`) |
 * | `HTTP_ACCEPTORS` | 32 | listening sockets on the port (Linux, `SO_REUSEPORT`): up to this many connections accepted per event-loop iteration (`acceptors.ts`); 1 = Node's one |
 *
 * The backlog is not a bound on clients but on how many may connect at once while the service is
 * busy: with Node's default of 511, 2,048 clients arriving during an overload (`make
 * bench-overload`) overflowed it, the kernel dropped their handshakes, and they connected after
 * SYN retransmits of 1, 3, 7, 15 s (requests timing out at 30 s, never refused). Held in the
 * queue, they still waited for Node to accept them, one per event-loop iteration: hence the
 * acceptors, after which they reach admission control and get their answer in time.
 *
 * The timeouts bound what the client sends, never the response: an SSE stream stays open.
 */
import type { ServerOptions } from "node:http"
import { ByteSize, Config, ConfigProvider, Context, Effect } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest } from "effect/http"
import { positiveInt } from "../config/env.ts"
import { errorBody, errorResponse } from "./errors.ts"

export interface HttpLimits {
  readonly maxBodyBytes: number
  readonly maxUrlLength: number
  readonly maxHeaderBytes: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly listenBacklog: number
  readonly acceptors: number
}

export const defaultHttpLimits: HttpLimits = {
  maxBodyBytes: 1_048_576,
  maxUrlLength: 8192,
  maxHeaderBytes: 16_384,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  listenBacklog: 4096,
  acceptors: 32,
}

/** `HTTP_MAX_BODY_BYTES`, `HTTP_MAX_URL_LENGTH`, `HTTP_MAX_HEADER_BYTES`, `HTTP_*_TIMEOUT_MS`, `HTTP_LISTEN_BACKLOG`, `HTTP_ACCEPTORS` (table above). */
export const httpLimitsConfig: Config.Config<HttpLimits> = Config.all({
  maxBodyBytes: positiveInt("HTTP_MAX_BODY_BYTES", defaultHttpLimits.maxBodyBytes),
  maxUrlLength: positiveInt("HTTP_MAX_URL_LENGTH", defaultHttpLimits.maxUrlLength),
  maxHeaderBytes: positiveInt("HTTP_MAX_HEADER_BYTES", defaultHttpLimits.maxHeaderBytes),
  headersTimeoutMs: positiveInt("HTTP_HEADERS_TIMEOUT_MS", defaultHttpLimits.headersTimeoutMs),
  requestTimeoutMs: positiveInt("HTTP_REQUEST_TIMEOUT_MS", defaultHttpLimits.requestTimeoutMs),
  keepAliveTimeoutMs: positiveInt("HTTP_KEEP_ALIVE_TIMEOUT_MS", defaultHttpLimits.keepAliveTimeoutMs),
  listenBacklog: positiveInt("HTTP_LISTEN_BACKLOG", defaultHttpLimits.listenBacklog),
  acceptors: positiveInt("HTTP_ACCEPTORS", defaultHttpLimits.acceptors),
}).pipe(
  // Node refuses a headers timeout longer than the request timeout; say which variable to change.
  Config.mapEffect((limits) =>
    limits.headersTimeoutMs <= limits.requestTimeoutMs
      ? Effect.succeed(limits)
      : Effect.fail(
          new Config.ConfigError(
            new ConfigProvider.SourceError({
              message: `HTTP_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs})`,
            }),
          ),
        ),
  ),
)

/**
 * Node `http.createServer` options enforcing `limits`. Node checks the timeouts every
 * `connectionsCheckingInterval`; a quarter of the headers timeout (at most 1 s) keeps a cut
 * close to the configured time.
 */
export const nodeServerOptions = (limits: HttpLimits): ServerOptions => ({
  maxHeaderSize: limits.maxHeaderBytes,
  headersTimeout: limits.headersTimeoutMs,
  requestTimeout: limits.requestTimeoutMs,
  keepAliveTimeout: limits.keepAliveTimeoutMs,
  connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
})

const contentLength = (headers: Readonly<Record<string, string | undefined>>): number | undefined => {
  const value = headers["content-length"]
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined
}

/**
 * Global router middleware: 414 past `maxUrlLength`, 413 when `Content-Length` is past
 * `maxBodyBytes` (before the body is read; the connection is closed rather than drained), and
 * the same bound on the bytes actually read (`MaxBodySize`: a chunked body past it fails with
 * `BodyTooLarge`, rendered as 413 by `ErrorRendering`).
 */
export const HttpLimitsMiddleware = (limits: HttpLimits = defaultHttpLimits) => {
  const uriTooLong = errorResponse(
    414,
    errorBody("uri_too_long", `the request URL is longer than ${limits.maxUrlLength} characters`, [
      { path: "url", problem: `at most ${limits.maxUrlLength} characters` },
    ]),
  )
  const tooLarge = errorResponse(
    413,
    errorBody("payload_too_large", `the request body is larger than ${limits.maxBodyBytes} bytes`, [
      { path: "body", problem: `at most ${limits.maxBodyBytes} bytes` },
    ]),
    { connection: "close" },
  )
  const maxBodySize = ByteSize.bytes(limits.maxBodyBytes)
  return HttpRouter.middleware(
    (effect) =>
      Effect.withFiber((fiber) => {
        const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
        if (request.url.length > limits.maxUrlLength) return Effect.succeed(uriTooLong)
        const length = contentLength(request.headers)
        if (length !== undefined && length > limits.maxBodyBytes) return Effect.succeed(tooLarge)
        // Set on the request's fiber for good, as the router sets its RouteContext (scoping it with
        // `provideService` would also drop what the router adds inside, e.g. the route for metrics).
        fiber.setContext(Context.add(fiber.context, HttpIncomingMessage.MaxBodySize, maxBodySize))
        return effect
      }),
    { global: true },
  )
}
