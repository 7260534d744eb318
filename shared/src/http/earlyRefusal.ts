/**
 * Refusals before Effect: past its bounds a service is busy with the work it admitted, and every
 * request it must still parse, route and refuse through the middleware chain waits its turn behind
 * that work. Measured with `make bench-overload` (2× capacity), such 503s took up to 22 s to
 * arrive. While the admission limiter would refuse anyway (every slot taken and its queue full),
 * the Node server answers the same 503 `overloaded` + `Retry-After` from its `request` event, in
 * microseconds, and the request never reaches the router.
 *
 * The limiter belongs to the router's admission middleware (`admission.ts`), built after the Node
 * server; the middleware hands it over with `attach`. Probes and `/metrics` are never refused.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Limiter, Overloaded } from "../admission/Limiter.ts"
import { errorBody } from "./errors.ts"

/** Never refused: liveness, readiness and scrapes must answer exactly when the service is busiest. */
export const exemptPaths: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"])

export const pathOf = (url: string) => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/** The body of a 503 `overloaded`: the same as the middleware's (`admission.ts`). */
export const overloadedBody = (refusal: Overloaded) =>
  errorBody("overloaded", "the service is at capacity; retry the request later", [
    { path: refusal.entry, problem: refusal.message },
  ])

/** Records a request answered here (REST metrics: status 503, route `unmatched`, like the middleware's). */
export type RecordRefusal = (method: string, seconds: number) => void

export interface EarlyRefusal {
  /** The limiter of the server's admission middleware, once built, and how to count a refusal. */
  readonly attach: (limiter: Limiter, record?: RecordRefusal) => void
  /** Makes `server` answer from its `request` event while the limiter would refuse. */
  readonly install: (server: Server) => void
}

export const makeEarlyRefusal = (): EarlyRefusal => {
  let limiter: Limiter | undefined
  let record: RecordRefusal | undefined
  // One encoded answer per refusal (they are immutable).
  const encoded = new Map<Overloaded, { readonly body: Buffer; readonly retryAfter: string }>()
  const answer = (refusal: Overloaded, response: ServerResponse) => {
    let cached = encoded.get(refusal)
    if (cached === undefined) {
      cached = {
        body: Buffer.from(JSON.stringify(overloadedBody(refusal))),
        retryAfter: String(refusal.retryAfterSeconds),
      }
      encoded.set(refusal, cached)
    }
    // An unread request body is discarded by Node once the response ends; the connection stays open.
    response.writeHead(503, {
      "content-type": "application/json",
      "content-length": cached.body.length,
      "retry-after": cached.retryAfter,
    })
    response.end(cached.body)
  }
  const refusedEarly = (request: IncomingMessage, response: ServerResponse): boolean => {
    if (limiter === undefined || exemptPaths.has(pathOf(request.url ?? "/"))) return false
    const started = performance.now()
    const refusal = limiter.refuseIfFull()
    if (refusal === undefined) return false
    answer(refusal, response)
    // Wall time of this handler for the REST duration histogram (not logic).
    record?.(request.method ?? "GET", (performance.now() - started) / 1000)
    return true
  }
  return {
    attach: (attached, recordRefusal) => {
      limiter = attached
      record = recordRefusal
    },
    install: (server) => {
      const emit = server.emit.bind(server) as (event: string | symbol, ...args: Array<unknown>) => boolean
      // Node's http server has no hook before its `request` listeners; `emit` is the one place
      // where a request can be answered without the router (NodeHttpServer's listener) seeing it.
      server.emit = ((event: string | symbol, ...args: Array<unknown>) =>
        event === "request" && refusedEarly(args[0] as IncomingMessage, args[1] as ServerResponse)
          ? true
          : emit(event, ...args)) as Server["emit"]
    },
  }
}
