/**
 * Mutual TLS between the services and TLS on their public servers, end to end: certificates from
 * `scripts/certs.sh` (what `make certs` runs) in a temporary folder, both services as real
 * processes with `AUTH_MODE=jwt` and `TLS_CA_FILE` / `TLS_CERT_FILE` / `TLS_KEY_FILE`:
 *
 * - the whole order lifecycle over https (REST), gRPC over TLS (`WatchOrder`) and mutual TLS
 *   between the requestor and the processor;
 * - the processor's gRPC server refuses a client without a certificate, with a certificate of
 *   another CA, and in plain text; a requestor without a client certificate is not ready
 *   (`/readyz` names the processor) and cannot reach it.
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { OrderWatchServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_watch_service"
import { eventStatusFromProto } from "@dcent/shared/orders/events"
import { ChannelCredentials } from "@grpc/grpc-js"
import { createChannel, createClient, Metadata } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mintToken } from "../../shared/src/auth/tokens.ts"
import { eventually, redisDbUrl, type Stack, startStack, stopStack, uniqueId } from "../support/e2e.ts"
import { fetchTrusting, repoRoot } from "../support/processes.ts"
import { type ClientTls, type RunningRequestor, startRequestor } from "../support/services.ts"

const PROCESSOR_DB = 12
const REQUESTOR_DB = 13

const run = uniqueId("MTLS")
const secret = randomBytes(32).toString("hex")
const industry = `E2E mTLS ${run}`
const origin = { Lat: 12.9716, Lng: 77.5946 }
const orderId = `${run}-ORD`
const buyer = `${run}-BUYER`
const seller = `${run}-S1`

const certsDir = mkdtempSync(join(tmpdir(), "dcent-mtls-"))
const rogueDir = mkdtempSync(join(tmpdir(), "dcent-mtls-rogue-"))
const file = (dir: string, name: string) => join(dir, name)
const pem = (dir: string, name: string) => readFileSync(file(dir, name))

let stack: Stack
let client: ClientTls
let https: ReturnType<typeof fetchTrusting>
let caOnlyRequestor: RunningRequestor | undefined

const call = async (method: string, url: string, bearer: string, body?: unknown) => {
  const response = await https(url, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await response.text()
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  let parsed: any = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: response.status, body: parsed, text }
}

const token = (sub: string, role: "buyer" | "seller" | "operator") =>
  mintToken({ secret, sub, roles: [role], expiresInSeconds: 600, nowMillis: Date.now() })

/** `grpc.health.v1.Health/Check` on the processor with `credentials`: "SERVING" or the failure's message. */
const processorHealth = async (credentials: ChannelCredentials | undefined) => {
  const channel = createChannel(stack.processor.grpcAddress, credentials, {
    "grpc.initial_reconnect_backoff_ms": 100,
  })
  try {
    const answer = await createClient(HealthDefinition, channel).check(
      { service: "" },
      { signal: AbortSignal.timeout(5_000) },
    )
    return answer.status === 1 ? "SERVING" : `status ${answer.status}`
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    channel.close()
  }
}

beforeAll(async () => {
  execFileSync("bash", [`${repoRoot}scripts/certs.sh`], { env: { ...process.env, CERTS_DIR: certsDir } })
  execFileSync("bash", [`${repoRoot}scripts/certs.sh`], { env: { ...process.env, CERTS_DIR: rogueDir } })
  client = { ca: pem(certsDir, "ca.crt"), cert: pem(certsDir, "client.crt"), key: pem(certsDir, "client.key") }
  https = fetchTrusting(client.ca)
  const tlsEnv = (service: string) => ({
    AUTH_MODE: "jwt",
    AUTH_JWT_SECRET: secret,
    TLS_CA_FILE: file(certsDir, "ca.crt"),
    TLS_CERT_FILE: file(certsDir, `${service}.crt`),
    TLS_KEY_FILE: file(certsDir, `${service}.key`),
  })
  stack = await startStack({
    processorDb: PROCESSOR_DB,
    requestorDb: REQUESTOR_DB,
    processorEnv: { ...tlsEnv("processor"), FIND_MAX_SEL: "1" },
    requestorEnv: tlsEnv("requestor"),
    tls: client,
  })
})

afterAll(async () => {
  await Promise.allSettled([stopStack(stack), caOnlyRequestor?.stop()])
  rmSync(certsDir, { recursive: true, force: true })
  rmSync(rogueDir, { recursive: true, force: true })
})

describe("TLS and mutual TLS between the services (AUTH_MODE=jwt, real processes)", () => {
  it("the public servers speak TLS only: https answers, plain http does not", async () => {
    expect(stack.requestor.httpUrl).toMatch(/^https:/)
    expect((await call("GET", `${stack.requestor.httpUrl}/healthz`, "none")).status).toBe(200)
    expect((await call("GET", `${stack.processor.httpUrl}/healthz`, "none")).status).toBe(200)
    const plain = await fetch(`http://127.0.0.1:${stack.requestor.httpPort}/healthz`, {
      signal: AbortSignal.timeout(5_000),
    }).then(
      (response) => response.status,
      () => "refused",
    )
    expect(plain).not.toBe(200)
  })

  it("the whole order lifecycle: https, WatchOrder over TLS, mutual TLS requestor → processor", async () => {
    const operator = await token(`${run}-ops`, "operator")
    const buyerToken = await token(buyer, "buyer")
    const sellerToken = await token(seller, "seller")
    const sellers = [{ SellerID: seller, Name: "mTLS seller", Industries: [industry], Location: origin, Active: true }]
    expect((await call("POST", `${stack.processor.httpUrl}/api/v1/sellers`, operator, sellers)).status).toBe(201)

    const registered = await call("POST", `${stack.requestor.httpUrl}/api/v1/orders`, buyerToken, {
      OrderReqID: orderId,
      Industry: industry,
      Location: origin,
      Products: [{ Name: "Copper wire", Quantity: 5 }],
      DeliveryDate: "2030-01-15",
    })
    expect(registered.status, registered.text).toBe(201)
    const initiated = await call("POST", `${stack.requestor.httpUrl}/api/v1/initiate`, buyerToken, {
      OrderReqID: orderId,
      SessionID: `${run}-SESSION`,
      NotificationType: "Email",
    })
    expect(initiated.status, initiated.text).toBe(202)

    // The buyer's live events over gRPC with TLS (no client certificate: buyer apps have none).
    const channel = createChannel(stack.requestor.grpcAddress, ChannelCredentials.createSsl(client.ca))
    const watch = createClient(OrderWatchServiceDefinition, channel)
    const abort = new AbortController()
    const statuses: Array<string> = []
    const watching = (async () => {
      try {
        for await (const response of watch.watchOrder(
          { orderReqId: orderId, fromSeq: 0 },
          { metadata: Metadata({ authorization: `Bearer ${buyerToken}` }), signal: abort.signal },
        )) {
          const status = response.event && eventStatusFromProto(response.event.streamingResponseStatus)
          if (status !== undefined) statuses.push(status)
        }
      } catch {}
    })()

    try {
      await eventually(
        () => call("GET", `${stack.processor.httpUrl}/api/v1/orders/${orderId}`, operator),
        (answer) => answer.status === 200 && answer.body.SelectedSellers.length === 1,
        { what: "the seller is selected" },
      )
      const proposal = await call("POST", `${stack.processor.httpUrl}/api/v1/proposal-submissions`, sellerToken, {
        OrderReqID: orderId,
        Seller: seller,
        ProposalDictObj: { ProposalID: `${run}-P1`, Price: 990, DeliveryDate: "2030-01-10T00:00:00Z" },
      })
      expect(proposal.status, proposal.text).toBe(201)
      const done = await call("PUT", `${stack.requestor.httpUrl}/api/v1/finalize/${orderId}`, buyerToken, {
        ProposalID: `${run}-P1`,
      })
      expect(done.status, done.text).toBe(200)
      expect(done.body.Status).toBe("FINALISED")
      await eventually(
        async () => [...statuses],
        (seen) => seen.includes("OrderFinalised"),
        { what: "WatchOrder delivers the finalisation over TLS" },
      )
      expect(statuses).toEqual(expect.arrayContaining(["SellersSelected", "NewProposal", "OrderFinalised"]))
    } finally {
      abort.abort()
      await watching
      channel.close()
    }
  })

  it("the processor refuses gRPC clients without a certificate from its CA", async () => {
    const rogueCa = pem(rogueDir, "ca.crt")
    expect(await processorHealth(ChannelCredentials.createSsl(client.ca, client.key, client.cert))).toBe("SERVING")
    // TLS without a client certificate, a certificate of another CA, plain text: no call gets through.
    expect(await processorHealth(ChannelCredentials.createSsl(client.ca))).not.toBe("SERVING")
    expect(
      await processorHealth(
        ChannelCredentials.createSsl(rogueCa, pem(rogueDir, "client.key"), pem(rogueDir, "client.crt")),
      ),
    ).not.toBe("SERVING")
    expect(
      await processorHealth(
        ChannelCredentials.createSsl(client.ca, pem(rogueDir, "client.key"), pem(rogueDir, "client.crt")),
      ),
    ).not.toBe("SERVING")
    expect(await processorHealth(undefined)).not.toBe("SERVING")
  })

  it("a requestor without a client certificate cannot reach the processor: not ready, naming it", async () => {
    caOnlyRequestor = await startRequestor({
      name: "requestor-without-certificate",
      env: {
        REDIS_URL: redisDbUrl(REQUESTOR_DB),
        PROCESSOR_GRPC_URL: stack.processor.grpcAddress,
        AUTH_MODE: "jwt",
        AUTH_JWT_SECRET: secret,
        TLS_CA_FILE: file(certsDir, "ca.crt"),
        LOG_LEVEL: "warning",
      },
    })
    const readyz = await eventually(
      async () => {
        const response = await fetch(`${caOnlyRequestor?.httpUrl}/readyz`, { signal: AbortSignal.timeout(10_000) })
        return { status: response.status, text: await response.text() }
      },
      (answer) => answer.status === 503 && answer.text.includes("processor"),
      { what: "the requestor without a certificate reports the processor unreachable" },
    )
    expect(readyz.status).toBe(503)
  })
})
