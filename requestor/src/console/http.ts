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
import { authConfig } from "@dcent/shared/auth/config"
import type { Role } from "@dcent/shared/auth/Principal"
import { mintToken } from "@dcent/shared/auth/tokens"
import { Clock, Effect, Layer, Option, Redacted, Schema } from "effect"
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

/** The processor did not answer a proxied call (unreachable, timed out, or the connection broke). */
export class ProcessorProxyFailed extends Schema.TaggedError<ProcessorProxyFailed>()("ProcessorProxyFailed", {
  target: Schema.String,
  cause: Schema.Defect(),
}) {
  override get message() {
    return `the processor did not answer ${this.target}`
  }
}

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
        catch: (cause) => new ProcessorProxyFailed({ target, cause }),
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

/** The demo principals of `demo/data` (the console's local picker), each with its one role. */
export const demoPrincipals: Readonly<Record<string, Role>> = {
  "BUYER-001": "buyer",
  "BUYER-002": "buyer",
  "SELLER-001": "seller",
  "SELLER-002": "seller",
  "SELLER-003": "seller",
  OPERATOR: "operator",
}

const loopback = new Set(["127.0.0.1", "::1", "localhost"])

/**
 * `POST /console/demo-token {"sub": "BUYER-001"}`: a one-hour HS256 token for one of the demo
 * principals, for the console's picker against a local stack secured with a local secret. Only
 * with `CONSOLE_DEMO_TOKENS=true`, `AUTH_MODE=jwt`, `AUTH_JWT_SECRET` and a loopback `HTTP_HOST`
 * (whoever reaches it may act as these principals, as with `AUTH_MODE=disabled`); otherwise 404.
 */
const DemoTokens = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const { consoleDemoTokens, httpHost } = yield* RequestorConfig
    const auth = yield* authConfig
    if (!consoleDemoTokens) return
    if (auth.mode !== "jwt" || Option.isNone(auth.jwtSecret) || !loopback.has(httpHost)) {
      yield* Effect.logWarning(
        "CONSOLE_DEMO_TOKENS ignored: it needs AUTH_MODE=jwt, AUTH_JWT_SECRET and a loopback HTTP_HOST",
      )
      return
    }
    const secret = Redacted.value(auth.jwtSecret.value)
    yield* router.add(
      "POST",
      `${consolePath}/demo-token`,
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const body = yield* request.json.pipe(Effect.orElseSucceed(() => undefined))
        const sub = typeof body === "object" && body !== null && "sub" in body ? String(body.sub) : ""
        const role = demoPrincipals[sub]
        if (role === undefined) {
          return proxyError(400, "invalid_request", `sub must be one of ${Object.keys(demoPrincipals).join(", ")}`)
        }
        const nowMillis = yield* Clock.currentTimeMillis
        const token = yield* Effect.promise(() =>
          mintToken({
            secret,
            sub,
            roles: [role],
            expiresInSeconds: 3600,
            issuer: Option.getOrUndefined(auth.issuer),
            audience: Option.getOrUndefined(auth.audience),
            nowMillis,
          }),
        )
        return HttpServerResponse.jsonUnsafe({ token, sub, roles: [role] })
      }),
    )
  }),
)

/** The built files under `/console` (`/console` itself is its index.html). */
const ConsoleFiles = Layer.unwrap(
  Effect.gen(function* () {
    const { consoleDir } = yield* RequestorConfig
    return HttpStaticServer.layer({ root: consoleDir, prefix: consolePath, cacheControl: "no-cache" })
  }),
)

export const ConsoleHttpLive = Layer.mergeAll(ConsoleFiles, ProcessorProxy, DemoTokens)
