/**
 * Who may do what, end to end: both services as real processes with `AUTH_MODE=jwt` and one
 * HS256 secret (the requestor mints its own service token for the processor), tokens of each
 * role minted like `make token`, over REST, SSE and gRPC:
 *
 * - no token, an expired one, a badly signed one, `alg: none` → 401 + `WWW-Authenticate: Bearer`
 *   (gRPC UNAUTHENTICATED);
 * - a buyer registers, initiates, reads, watches and finalises only its own order (another buyer,
 *   a seller, an operator writing → 403; gRPC PERMISSION_DENIED); BuyerID filled from `sub`;
 * - a seller submits and locks only as itself, only on orders it was selected for, and sees only
 *   its own proposals; the seller directory is the operator's;
 * - the processor's gRPC refuses a caller without credentials and a buyer calling it directly;
 * - the whole lifecycle still works through the requestor's service credential;
 * - neither the secret nor any token appears in either service's logs (at debug level).
 */
import { randomBytes } from "node:crypto"
import { OrderNonStreamingServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { SignJWT, UnsecuredJWT } from "jose"
import { ClientError, createChannel, createClient, Metadata, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Role } from "../../shared/src/auth/Principal.ts"
import { mintToken } from "../../shared/src/auth/tokens.ts"
import { eventually, type Stack, startStack, stopStack, uniqueId } from "../support/e2e.ts"

const PROCESSOR_DB = 1
const REQUESTOR_DB = 2

const run = uniqueId("AUTH")
const secret = randomBytes(32).toString("hex")
const industry = `E2E Auth ${run}`
const origin = { Lat: 12.9716, Lng: 77.5946 }
const orderId = `${run}-ORD`
const buyerA = `${run}-BUYER-A`
const buyerB = `${run}-BUYER-B`
/** Nearest first: with FIND_MAX_SEL=3 the first three are selected, the fourth is not. */
const sellers = [0.01, 0.02, 0.03, 0.5].map((offset, index) => ({
  SellerID: `${run}-S${index + 1}`,
  Name: `Auth seller ${index + 1}`,
  Industries: [industry],
  Location: { Lat: origin.Lat + offset, Lng: origin.Lng },
  Active: true,
}))
const [s1, s2, s3, s4] = sellers.map((seller) => seller.SellerID) as [string, string, string, string]

const tokens: Array<string> = []
const token = async (sub: string, role: Role, ttl = 600): Promise<string> => {
  const minted = await mintToken({ secret, sub, roles: [role], expiresInSeconds: ttl, nowMillis: Date.now() })
  tokens.push(minted)
  return minted
}
const auth = {} as Record<"operator" | "buyerA" | "buyerB" | "s1" | "s2" | "s4" | "expired" | "badSig" | "none", string>

let stack: Stack
let requestorUrl: string
let processorUrl: string

interface Answer {
  readonly status: number
  readonly headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  readonly body: any
  readonly text: string
}

const call = async (method: string, url: string, bearer: string | undefined, body?: unknown): Promise<Answer> => {
  const response = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text === "" ? undefined : JSON.parse(text)
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed, text }
}

const expectStatus = (answer: Answer, status: number, code?: string) => {
  expect(answer.status, `${answer.status}: ${answer.text.slice(0, 1000)}`).toBe(status)
  if (code !== undefined) expect(answer.body?.error?.code, answer.text).toBe(code)
}

const metadataFor = (bearer: string | undefined) =>
  bearer === undefined ? Metadata() : Metadata({ authorization: `Bearer ${bearer}` })

const grpcCode = async (promise: Promise<unknown>): Promise<Status | "OK"> => {
  try {
    await promise
    return "OK"
  } catch (error) {
    if (error instanceof ClientError) return error.code
    throw error
  }
}

const submit = (bearer: string, seller: string, proposalId: string) =>
  call("POST", `${processorUrl}/api/v1/proposal-submissions`, bearer, {
    OrderReqID: orderId,
    Seller: seller,
    ProposalDictObj: { ProposalID: proposalId, Price: 1000, DeliveryDate: "2026-12-15T00:00:00Z" },
  })

beforeAll(async () => {
  auth.operator = await token(`${run}-ops`, "operator")
  auth.buyerA = await token(buyerA, "buyer")
  auth.buyerB = await token(buyerB, "buyer")
  auth.s1 = await token(s1, "seller")
  auth.s2 = await token(s2, "seller")
  auth.s4 = await token(s4, "seller")
  auth.expired = await mintToken({
    secret,
    sub: buyerA,
    roles: ["buyer"],
    expiresInSeconds: 60,
    nowMillis: Date.now() - 3_600_000,
  })
  auth.badSig = await new SignJWT({ roles: ["operator"] })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(buyerA)
    .setExpirationTime("10 minutes")
    .sign(new TextEncoder().encode(`${secret}-not-it`))
  auth.none = new UnsecuredJWT({ roles: ["operator"] }).setSubject(buyerA).setExpirationTime("10 minutes").encode()
  tokens.push(auth.expired, auth.badSig, auth.none)
  const env = { AUTH_MODE: "jwt", AUTH_JWT_SECRET: secret, LOG_LEVEL: "debug" }
  stack = await startStack({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: { ...env, FIND_MAX_SEL: "3" },
    requestorEnv: env,
  })
  requestorUrl = stack.requestor.httpUrl
  processorUrl = stack.processor.httpUrl
})

afterAll(async () => {
  await stopStack(stack)
})

describe("authentication and authorization (AUTH_MODE=jwt, both services as processes)", () => {
  it("a service with AUTH_MODE=jwt and no way to verify tokens refuses to start, naming the variables", async () => {
    const { runToExit } = await import("../support/processes.ts")
    const exit = await runToExit("processor", { AUTH_MODE: undefined, REDIS_URL: "redis://127.0.0.1:1" })
    expect(exit.code).toBe(1)
    expect(exit.stderr).toContain("AUTH_JWT_SECRET")
    expect(exit.stderr).toContain("AUTH_JWKS_URL")
  })

  it("health probes, metrics and the API documents stay open", async () => {
    for (const url of [requestorUrl, processorUrl]) {
      expectStatus(await call("GET", `${url}/healthz`, undefined), 200)
      expectStatus(await call("GET", `${url}/metrics`, undefined), 200)
      const doc = await call("GET", `${url}/openapi.json`, undefined)
      expectStatus(doc, 200)
      expect(Object.keys(doc.body.components?.securitySchemes ?? {}).sort()).toEqual(["apiKey", "bearer"])
    }
  })

  it("no, expired, badly signed or alg-none tokens are 401 with WWW-Authenticate: Bearer", async () => {
    const missing = await call("POST", `${processorUrl}/api/v1/sellers`, undefined, sellers)
    expectStatus(missing, 401, "unauthenticated")
    expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer realm="dcent"/)
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, undefined), 401, "unauthenticated")
    const expired = await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.expired)
    expectStatus(expired, 401, "token_expired")
    expect(expired.headers.get("www-authenticate")).toContain('error="invalid_token"')
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.badSig), 401, "invalid_token")
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.none), 401, "invalid_token")
    expectStatus(await call("POST", `${requestorUrl}/api/v1/initiate`, auth.none, { OrderReqID: orderId }), 401)
  })

  it("the seller directory is the operator's", async () => {
    expectStatus(await call("POST", `${processorUrl}/api/v1/sellers`, auth.s1, sellers), 403, "role_not_allowed")
    expectStatus(await call("POST", `${processorUrl}/api/v1/sellers`, auth.buyerA, sellers), 403, "role_not_allowed")
    expectStatus(await call("POST", `${processorUrl}/api/v1/sellers`, auth.operator, sellers), 201)
    expectStatus(await call("GET", `${processorUrl}/api/v1/sellers/${s1}`, auth.s1), 200)
    expectStatus(await call("GET", `${processorUrl}/api/v1/sellers/${s2}`, auth.s1), 403)
    expectStatus(await call("GET", `${processorUrl}/api/v1/sellers`, auth.operator), 200)
  })

  it("a buyer registers only as itself (BuyerID filled from sub) and initiates only its own order", async () => {
    const details = {
      OrderReqID: orderId,
      Industry: industry,
      Location: origin,
      Products: [{ Name: "Steel pipes", Quantity: 10 }],
      DeliveryDate: "2026-12-20",
      SessionID: `${run}-SESSION`,
    }
    expectStatus(
      await call("POST", `${requestorUrl}/api/v1/orders`, auth.buyerB, { ...details, BuyerID: buyerA }),
      403,
      "buyer_mismatch",
    )
    expectStatus(await call("POST", `${requestorUrl}/api/v1/orders`, auth.operator, details), 403, "role_not_allowed")
    const registered = await call("POST", `${requestorUrl}/api/v1/orders`, auth.buyerA, details)
    expectStatus(registered, 201)
    expect(registered.body.Order.BuyerID).toBe(buyerA)
    // Another buyer may not overwrite it (it is not submitted yet, so its details could change).
    expectStatus(await call("POST", `${requestorUrl}/api/v1/orders`, auth.buyerB, details), 403, "not_order_owner")

    const initiate = { OrderReqID: orderId, SessionID: `${run}-SESSION`, NotificationType: "Email" }
    expectStatus(await call("POST", `${requestorUrl}/api/v1/initiate`, auth.buyerB, initiate), 403, "not_order_owner")
    expectStatus(await call("POST", `${requestorUrl}/api/v1/initiate`, auth.s1, initiate), 403, "role_not_allowed")
    expectStatus(await call("POST", `${requestorUrl}/api/v1/initiate`, auth.buyerA, initiate), 202)
  })

  it("reads: the buyer and operators see the order, another buyer and sellers do not (REST, SSE)", async () => {
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.buyerA), 200)
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.operator), 200)
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.buyerB), 403, "not_order_owner")
    expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderId}`, auth.s1), 403, "role_not_allowed")

    const sse = (bearer: string | undefined) =>
      fetch(`${requestorUrl}/api/v1/orders/${orderId}/events`, {
        headers: {
          accept: "text/event-stream",
          ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
        },
        signal: AbortSignal.timeout(10_000),
      })
    const denied = await sse(auth.buyerB)
    expect(denied.status).toBe(403)
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("not_order_owner")
    expect((await sse(undefined)).status).toBe(401)
    const own = await sse(auth.buyerA)
    expect(own.status).toBe(200)
    expect(own.headers.get("content-type")).toContain("text/event-stream")
    await own.body?.cancel()
  })

  it("WatchOrder: UNAUTHENTICATED without a token, PERMISSION_DENIED for another buyer, the buyer's events", async () => {
    const channel = createChannel(stack.requestor.grpcAddress)
    try {
      const client = createClient(OrderWatchServiceDefinition, channel)
      const first = async (bearer: string | undefined) => {
        for await (const response of client.watchOrder(
          { orderReqId: orderId, fromSeq: 0 },
          { metadata: metadataFor(bearer), signal: AbortSignal.timeout(15_000) },
        )) {
          return response.event
        }
        return undefined
      }
      expect(await grpcCode(first(undefined))).toBe(Status.UNAUTHENTICATED)
      expect(await grpcCode(first(auth.expired))).toBe(Status.UNAUTHENTICATED)
      expect(await grpcCode(first(auth.buyerB))).toBe(Status.PERMISSION_DENIED)
      expect(await grpcCode(first(auth.s1))).toBe(Status.PERMISSION_DENIED)
      expect((await first(auth.buyerA))?.orderReqId).toBe(orderId)
      expect((await first(auth.operator))?.orderReqId).toBe(orderId)
    } finally {
      channel.close()
    }
  })

  it("the processor's gRPC refuses callers without credentials and buyers calling it directly", async () => {
    const channel = createChannel(stack.processor.grpcAddress)
    try {
      const client = createClient(OrderNonStreamingServiceDefinition, channel)
      const pause = (bearer: string | undefined) =>
        client.pauseOrder(
          { orderReqId: orderId, transactionUuid: `${run}-direct`, reason: "" },
          { metadata: metadataFor(bearer) },
        )
      expect(await grpcCode(pause(undefined))).toBe(Status.UNAUTHENTICATED)
      expect(await grpcCode(pause(auth.badSig))).toBe(Status.UNAUTHENTICATED)
      expect(await grpcCode(pause(auth.buyerA))).toBe(Status.PERMISSION_DENIED)
      expect(await grpcCode(pause(auth.operator))).toBe(Status.PERMISSION_DENIED)
    } finally {
      channel.close()
    }
  })

  it("sellers act only as themselves, on orders they were selected for, and see only their own proposals", async () => {
    const selected = await eventually(
      () => call("GET", `${processorUrl}/api/v1/orders/${orderId}`, auth.operator),
      (answer) => answer.status === 200 && answer.body.SelectedSellers.length === 3,
      { what: "the order's sellers are selected" },
    )
    expect(selected.body.SelectedSellers.map((seller: { SellerID: string }) => seller.SellerID).sort()).toEqual(
      [s1, s2, s3].sort(),
    )
    expectStatus(await submit(auth.s1, s2, `${run}-P-SPOOF`), 403, "seller_mismatch")
    expectStatus(await submit(auth.buyerA, s1, `${run}-P-BUYER`), 403, "role_not_allowed")
    expectStatus(await submit(auth.s4, s4, `${run}-P4`), 403, "seller_not_eligible")
    expectStatus(await submit(auth.s1, s1, `${run}-P1`), 201)
    expectStatus(await submit(auth.s2, s2, `${run}-P2`), 201)

    const lock = { OrderReqID: orderId, ProposalID: `${run}-P1` }
    expectStatus(await call("POST", `${processorUrl}/api/v1/edit-lock`, auth.s2, lock), 403, "not_proposal_owner")
    expectStatus(await call("POST", `${processorUrl}/api/v1/edit-lock`, auth.s1, lock), 200)
    expectStatus(await call("POST", `${processorUrl}/api/v1/edit-lock/release`, auth.s1, lock), 200)
    const followUp = { OrderReqID: orderId, ProposalID: `${run}-P1`, Message: "Delivery in two lots is fine." }
    expectStatus(await call("POST", `${processorUrl}/api/v1/followup`, auth.s2, followUp), 403)
    expectStatus(await call("POST", `${processorUrl}/api/v1/followup`, auth.s1, followUp), 201)

    const proposalsAs = async (bearer: string) =>
      (await call("GET", `${processorUrl}/api/v1/orders/${orderId}/proposals`, bearer)).body.Proposals.map(
        (proposal: { ProposalID: string }) => proposal.ProposalID,
      )
    expect(await proposalsAs(auth.s2)).toEqual([`${run}-P2`])
    expect((await proposalsAs(auth.operator)).length).toBe(2)
    expect((await proposalsAs(auth.buyerA)).length).toBe(2)
    expectStatus(await call("GET", `${processorUrl}/api/v1/orders/${orderId}/proposals`, auth.s4), 403, "not_selected")
    expectStatus(await call("GET", `${processorUrl}/api/v1/orders/${orderId}`, auth.buyerB), 403, "not_order_owner")
  })

  it("the buyer follows up and finalises through the requestor's service credential; another buyer may not", async () => {
    const followUp = { OrderReqID: orderId, Audience: [`${run}-P1`], Message: "Two lots?" }
    expectStatus(await call("POST", `${requestorUrl}/api/v1/followup`, auth.buyerB, followUp), 403, "not_order_owner")
    expectStatus(await call("POST", `${requestorUrl}/api/v1/followup`, auth.buyerA, followUp), 200)
    expectStatus(await call("PUT", `${requestorUrl}/api/v1/pause/${orderId}`, auth.operator), 403, "role_not_allowed")
    const finalise = { ProposalID: `${run}-P2` }
    expectStatus(
      await call("PUT", `${requestorUrl}/api/v1/finalize/${orderId}`, auth.buyerB, finalise),
      403,
      "not_order_owner",
    )
    const done = await call("PUT", `${requestorUrl}/api/v1/finalize/${orderId}`, auth.buyerA, finalise)
    expectStatus(done, 200)
    expect(done.body.Status).toBe("FINALISED")
  })

  it("`make demo` walks its order through its life against the secured stack (AUTH_MODE=jwt + the secret)", async () => {
    const { repoRoot, runToExit } = await import("../support/processes.ts")
    const result = await runToExit(
      `${repoRoot}demo/run.ts`,
      {
        REQUESTOR_URL: requestorUrl,
        PROCESSOR_URL: processorUrl,
        AUTH_MODE: "jwt",
        AUTH_JWT_SECRET: secret,
      },
      90_000,
    )
    const output = `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`
    expect(result.code, output).toBe(0)
  })

  it("denials are counted in dcent_auth_denials_total", async () => {
    for (const url of [requestorUrl, processorUrl]) {
      const metrics = await call("GET", `${url}/metrics`, undefined)
      expect(metrics.text).toMatch(/dcent_auth_denials_total\{[^}]*status="401"[^}]*\} [1-9]/)
      expect(metrics.text).toMatch(/dcent_auth_denials_total\{[^}]*status="403"[^}]*\} [1-9]/)
    }
  })

  it("neither the secret nor any token appears in the services' logs", () => {
    const logs = `${stack.requestor.output()}\n${stack.processor.output()}`
    expect(logs).toContain("request not authorized")
    expect(logs).not.toContain(secret)
    for (const minted of tokens) expect(logs.includes(minted), "a token in the logs").toBe(false)
    // Not even a token's signature part.
    for (const minted of tokens) {
      const signature = minted.split(".")[2]
      if (signature !== undefined && signature.length > 10) expect(logs.includes(signature)).toBe(false)
    }
  })
})
