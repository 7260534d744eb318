/**
 * The web console (`console/`, built by `make generate` into `console/dist`) served under
 * `/console`, and `/console/processor/*`: the seller and operator views' calls to the processor's
 * REST API (`PROCESSOR_HTTP_URL`), proxied from the same origin.
 *
 * Why a same-origin proxy rather than CORS on the processor: the browser then talks to one origin
 * only (no preflight per call, no allow-list of console origins to keep in step with deployments,
 * and the processor's REST port need not be reachable from browsers). The proxy adds no authority
 * of its own: it forwards the caller's `Authorization` / `X-API-Key` unchanged and the processor
 * applies its own policy (401/403 as for any client); only `/api/v1/*` and `/metrics` pass.
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse, HttpStaticServer } from "effect/http"
import { RequestorConfig } from "../config.ts"

export const consolePath = "/console"
export const processorProxyPath = `${consolePath}/processor`

const forwardedRequestHeaders = ["authorization", "x-api-key", "content-type", "accept", "traceparent"]
const forwardedResponseHeaders = [
  "content-type",
  "retry-after",
  "www-authenticate",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
]

/** The console's own bodies are a few kilobytes; anything beyond this is refused before it is read. */
const maxProxiedBodyBytes = 1024 * 1024

const proxyError = (status: number, code: string, message: string) =>
  HttpServerResponse.jsonUnsafe({ error: { code, message, details: [] } }, { status })

/** `/console/processor/<path>` → `PROCESSOR_HTTP_URL/<path>` for `/api/v1/*` and `/metrics`. */
const ProcessorProxy = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const { processorHttpUrl } = yield* RequestorConfig
    const proxy = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const target = request.url.slice(processorProxyPath.length)
      if (!target.startsWith("/api/v1/") && target !== "/metrics") {
        return proxyError(404, "not_found", `only /api/v1/* and /metrics of the processor are proxied`)
      }
      const headers = new Headers()
      for (const name of forwardedRequestHeaders) {
        const value = request.headers[name]
        if (value !== undefined) headers.set(name, value)
      }
      const hasBody = request.method !== "GET" && request.method !== "HEAD"
      const length = Number(request.headers["content-length"] ?? (hasBody ? Number.NaN : 0))
      if (!(length <= maxProxiedBodyBytes)) {
        return proxyError(
          413,
          "payload_too_large",
          `a proxied body needs a Content-Length of at most ${maxProxiedBodyBytes} bytes`,
        )
      }
      const body = hasBody ? yield* request.arrayBuffer : undefined
      const response = yield* Effect.tryPromise({
        try: (signal) =>
          fetch(`${processorHttpUrl}${target}`, {
            method: request.method,
            headers,
            ...(body === undefined ? {} : { body }),
            signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]),
          }).then(async (answer) => ({ answer, bytes: new Uint8Array(await answer.arrayBuffer()) })),
        catch: (cause) => cause,
      })
      const out: Record<string, string> = {}
      for (const name of forwardedResponseHeaders) {
        const value = response.answer.headers.get(name)
        if (value !== null) out[name] = value
      }
      return HttpServerResponse.uint8Array(response.bytes, {
        status: response.answer.status,
        headers: out,
        ...(out["content-type"] === undefined ? {} : { contentType: out["content-type"] }),
      })
    }).pipe(
      Effect.catch(() =>
        Effect.succeed(
          HttpServerResponse.setHeader(
            proxyError(503, "processor_unavailable", "the processor did not answer"),
            "retry-after",
            "1",
          ),
        ),
      ),
    )
    yield* router.add("*", `${processorProxyPath}/*`, proxy)
  }),
)

/** The built files under `/console` (`/console` itself is its index.html). */
const ConsoleFiles = Layer.unwrap(
  Effect.gen(function* () {
    const { consoleDir } = yield* RequestorConfig
    return HttpStaticServer.layer({ root: consoleDir, prefix: consolePath, cacheControl: "no-cache" })
  }),
)

export const ConsoleHttpLive = Layer.mergeAll(ConsoleFiles, ProcessorProxy)
