/**
 * The REST authentication middleware on a small HttpApi, without a socket: 401 with the common
 * error body and `WWW-Authenticate` for no or a bad credential, the principal handed to the
 * handler for a good one (bearer or X-API-Key), both schemes in the OpenAPI document, and
 * each refusal counted once.
 */
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Authenticator } from "../../../src/auth/Authenticator.ts"
import { Authentication, AuthenticationLive, CurrentPrincipal } from "../../../src/auth/http.ts"
import { apiRoutes } from "../../../src/http/server.ts"
import { Metrics } from "../../../src/metrics/Metrics.ts"

class Who extends HttpApiGroup.make("who")
  .add(HttpApiEndpoint.get("whoami", "/whoami", { success: Schema.Struct({ sub: Schema.String }) }))
  .middleware(Authentication) {}
class TestApi extends HttpApi.make("test").add(Who) {}

const handlers = HttpApiBuilder.group(TestApi, "who", (h) =>
  h.handle("whoami", () =>
    Effect.gen(function* () {
      const principal = yield* CurrentPrincipal
      return { sub: principal.sub }
    }),
  ),
)

const serve = (metrics: Metrics["Service"]) =>
  HttpRouter.toWebHandler(
    apiRoutes(
      TestApi,
      handlers.pipe(
        Layer.provide(AuthenticationLive),
        Layer.provide(
          Authenticator.layerTest({
            "good-token": { sub: "BUYER-001", roles: ["buyer"], via: "jwt" },
            "good-key": { sub: "ops", roles: ["operator"], via: "api_key" },
          }),
        ),
        Layer.provide(Layer.succeed(Metrics, metrics)),
      ),
    ).pipe(Layer.provide(HttpServer.layerServices)),
    { disableLogger: true },
  )

let metrics: Metrics["Service"]
let app: ReturnType<typeof serve>

beforeAll(async () => {
  metrics = await Effect.runPromise(Metrics.make("test", { defaultMetrics: false }))
  app = serve(metrics)
})

afterAll(async () => {
  await app.dispose()
})

const get = (path: string, headers: Record<string, string> = {}) =>
  app.handler(new Request(`http://test.local${path}`, { headers }))

describe("Authentication (REST)", () => {
  it("answers 401 with the common error body and WWW-Authenticate without a credential", async () => {
    const response = await get("/whoami")
    expect(response.status).toBe(401)
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="dcent"')
    const body = (await response.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe("unauthenticated")
  })

  it("answers 401 invalid_token for a bad token, without echoing it", async () => {
    const response = await get("/whoami", { authorization: "Bearer not-a-known-token" })
    expect(response.status).toBe(401)
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"')
    const text = await response.text()
    expect(text).not.toContain("not-a-known-token")
  })

  it("hands the principal of a bearer token or an API key to the handler", async () => {
    const bearer = await get("/whoami", { authorization: "Bearer good-token" })
    expect(bearer.status).toBe(200)
    expect(await bearer.json()).toEqual({ sub: "BUYER-001" })
    const key = await get("/whoami", { "x-api-key": "good-key" })
    expect(await key.json()).toEqual({ sub: "ops" })
  })

  it("declares both schemes in the OpenAPI document", async () => {
    const doc = (await (await get("/openapi.json")).json()) as {
      components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }> }
    }
    expect(doc.components.securitySchemes.bearer?.type).toBe("http")
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: "apiKey", in: "header", name: "X-API-Key" })
  })

  it("counts each refusal once in dcent_auth_denials_total", async () => {
    const before = (await metrics.catalogue.authDenials.get()).values
      .filter((value) => value.labels.status === "401")
      .reduce((sum, value) => sum + value.value, 0)
    await get("/whoami")
    const after = (await metrics.catalogue.authDenials.get()).values
      .filter((value) => value.labels.status === "401")
      .reduce((sum, value) => sum + value.value, 0)
    expect(after - before).toBe(1)
  })
})
