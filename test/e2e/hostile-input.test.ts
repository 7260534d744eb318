/**
 * Hostile input against both services as real processes (`shared/src/http/limits.ts`, the
 * schemas' limits, `GRPC_MAX_RECEIVE_MESSAGE_BYTES`), with small limits so the test stays short:
 *
 * - a client that never finishes its headers (slowloris) or its body is cut off (408, closed),
 *   while a normal request on another connection is served;
 * - an oversized body gets 413 `payload_too_large`, by `Content-Length` and chunked;
 * - a URL past the limit 414 `uri_too_long`, headers past it 431;
 * - too many URLs, Audience entries or products, a too long follow-up message: 400 naming the
 *   field path (REST) or INVALID_ARGUMENT naming it (gRPC); a gRPC message past the receive
 *   limit RESOURCE_EXHAUSTED.
 */
import { connect, type Socket } from "node:net"
import { OrderNonStreamingServiceDefinition } from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import { ClientError, createChannel, createClient, Status } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { describeResponse, http, type Stack, startStack, stopStack, uniqueId } from "../support/e2e.ts"

const limits = {
  HTTP_MAX_BODY_BYTES: "65536",
  HTTP_MAX_URL_LENGTH: "2048",
  HTTP_MAX_HEADER_BYTES: "8192",
  HTTP_HEADERS_TIMEOUT_MS: "1000",
  HTTP_REQUEST_TIMEOUT_MS: "2000",
  GRPC_MAX_RECEIVE_MESSAGE_BYTES: "65536",
}

let stack: Stack
const run = uniqueId("HOSTILE")

beforeAll(async () => {
  stack = await startStack({
    processorDb: 14,
    requestorDb: 15,
    processorEnv: limits,
    requestorEnv: { ...limits, SSE_HEARTBEAT_SECONDS: "1" },
  })
})

afterAll(async () => {
  await stopStack(stack)
})

interface RawExchange {
  /** Everything the server sent before closing. */
  readonly received: string
  /** True when the server closed the connection (rather than the test's bound running out). */
  readonly closedByServer: boolean
}

/**
 * Opens a raw TCP connection to `port`, writes `head`, then trickles `drip` every 200 ms without
 * ever completing the request; resolves when the server closes the connection (or after 15 s).
 */
const slowClient = (port: number, head: string, drip: string) =>
  new Promise<RawExchange>((resolve) => {
    let received = ""
    const socket: Socket = connect({ host: "127.0.0.1", port })
    let timer: NodeJS.Timeout | undefined
    const bound = setTimeout(() => finish(false), 15_000)
    const finish = (closedByServer: boolean) => {
      clearInterval(timer)
      clearTimeout(bound)
      socket.destroy()
      resolve({ received, closedByServer })
    }
    socket.on("connect", () => {
      socket.write(head)
      timer = setInterval(() => {
        if (!socket.destroyed && socket.writable) socket.write(drip)
      }, 200)
    })
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1")
    })
    socket.on("error", () => {})
    socket.on("close", () => finish(true))
  })

/** A request written by hand (headers the fetch API would not send), answered status line + body. */
const rawRequest = (port: number, request: string | Array<string>) =>
  new Promise<string>((resolve, reject) => {
    let received = ""
    const socket = connect({ host: "127.0.0.1", port })
    const bound = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within 15 s; received ${JSON.stringify(received.slice(0, 500))}`))
    }, 15_000)
    socket.on("connect", () => {
      for (const part of Array.isArray(request) ? request : [request]) socket.write(part)
    })
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1")
    })
    socket.on("error", () => {})
    socket.on("close", () => {
      clearTimeout(bound)
      resolve(received)
    })
  })

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
const bodyOf = (raw: string) => {
  const body = raw.slice(raw.indexOf("\r\n\r\n") + 4)
  try {
    return JSON.parse(body)
  } catch {
    return body
  }
}

const ports = () => ({ requestor: stack.requestor.httpPort, processor: stack.processor.httpPort })

describe("slow clients", () => {
  it.each(["requestor", "processor"] as const)(
    "%s: headers never finished → 408 and the connection is closed",
    async (service) => {
      const port = ports()[service]
      const slow = slowClient(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", "X-Slow: 1\r\n")
      // Served meanwhile on another connection.
      const healthz = await http("GET", `http://127.0.0.1:${port}/healthz`)
      expect(healthz.status, describeResponse(healthz)).toBe(200)
      const exchange = await slow
      expect(exchange.closedByServer).toBe(true)
      expect(statusOf(exchange.received)).toBe(408)
    },
  )

  it("a body never finished → 408 and the connection is closed", async () => {
    const head =
      "POST /api/v1/followup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    const exchange = await slowClient(ports().requestor, head, " ")
    expect(exchange.closedByServer).toBe(true)
    expect(statusOf(exchange.received)).toBe(408)
  })
})

describe("what the timeouts do not cut", () => {
  it("an SSE response stays open past HTTP_REQUEST_TIMEOUT_MS (the timeouts bound the request, not the response)", async () => {
    const orderId = `${run}-SSE`
    const registered = await http("POST", `${stack.requestor.httpUrl}/api/v1/orders`, {
      OrderReqID: orderId,
      BuyerID: `${run}-BUYER`,
      Industry: "Hostile",
      Location: { Lat: 1, Lng: 1 },
      DeliveryDate: "2030-01-01",
      Products: ["bolts"],
    })
    expect(registered.status, describeResponse(registered)).toBe(201)
    const abort = new AbortController()
    const bound = setTimeout(() => abort.abort(), 20_000)
    try {
      const response = await fetch(`${stack.requestor.httpUrl}/api/v1/orders/${orderId}/events`, {
        headers: { accept: "text/event-stream" },
        signal: abort.signal,
      })
      expect(response.status).toBe(200)
      // One heartbeat a second (SSE_HEARTBEAT_SECONDS=1): the fifth comes after the 2 s request timeout.
      let heartbeats = 0
      const decoder = new TextDecoder()
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        heartbeats += decoder.decode(chunk).split(": keep-alive").length - 1
        if (heartbeats >= 5) break
      }
      expect(heartbeats).toBeGreaterThanOrEqual(5)
    } finally {
      clearTimeout(bound)
      abort.abort()
    }
  })
})

describe("oversized requests", () => {
  const big = { OrderReqID: `${run}-ORD`, Audience: ["P-1"], Message: "x".repeat(70_000) }

  it.each([
    ["requestor", "/api/v1/followup"],
    ["processor", "/api/v1/followup"],
  ] as const)("%s: a body past HTTP_MAX_BODY_BYTES (Content-Length) → 413 payload_too_large", async (service, path) => {
    const response = await http("POST", `http://127.0.0.1:${ports()[service]}${path}`, big)
    expect(response.status, describeResponse(response)).toBe(413)
    expect(response.body.error.code).toBe("payload_too_large")
    expect(response.body.error.details).toEqual([{ path: "body", problem: "at most 65536 bytes" }])
  })

  it("a chunked body past HTTP_MAX_BODY_BYTES → 413 payload_too_large", async () => {
    const chunk = "x".repeat(16_384)
    const parts = [
      "POST /api/v1/followup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
      ...Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`),
      "0\r\n\r\n",
    ]
    const raw = await rawRequest(ports().requestor, parts)
    expect(statusOf(raw), raw.slice(0, 500)).toBe(413)
    expect(bodyOf(raw).error.code).toBe("payload_too_large")
  })

  it.each(["requestor", "processor"] as const)(
    "%s: a URL past HTTP_MAX_URL_LENGTH → 414 uri_too_long",
    async (service) => {
      const response = await http("GET", `http://127.0.0.1:${ports()[service]}/api/v1/orders/${"A".repeat(3000)}`)
      expect(response.status, describeResponse(response)).toBe(414)
      expect(response.body.error.code).toBe("uri_too_long")
    },
  )

  it.each(["requestor", "processor"] as const)("%s: headers past HTTP_MAX_HEADER_BYTES → 431", async (service) => {
    const raw = await rawRequest(
      ports()[service],
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"h".repeat(10_000)}\r\nConnection: close\r\n\r\n`,
    )
    expect(statusOf(raw), raw.slice(0, 200)).toBe(431)
  })
})

describe("limits on lists and texts → 400 naming the field", () => {
  const requestorFollowUp = (overrides: Record<string, unknown>) =>
    http("POST", `${stack.requestor.httpUrl}/api/v1/followup`, {
      OrderReqID: `${run}-ORD`,
      Audience: ["P-1"],
      Message: "hello",
      ...overrides,
    })

  const expectPath = (response: Awaited<ReturnType<typeof http>>, path: string) => {
    expect(response.status, describeResponse(response)).toBe(400)
    expect(
      (response.body.error.details as Array<{ path: string }>).map((detail) => detail.path),
      describeResponse(response),
    ).toContain(path)
  }

  it("requestor follow-up: 21 URLs, 101 Audience entries, 10,001 characters", async () => {
    const urls = Array.from({ length: 21 }, (_, index) => `https://example.com/${index}`)
    expectPath(await requestorFollowUp({ Message: { URLs: urls, Message: "see" } }), "body.Message.URLs")
    const audience = Array.from({ length: 101 }, (_, index) => `P-${index}`)
    expectPath(await requestorFollowUp({ Audience: audience }), "body.Audience")
    expectPath(await requestorFollowUp({ Message: "m".repeat(10_001) }), "body.Message")
  })

  it("requestor order: 201 products", async () => {
    const response = await http("POST", `${stack.requestor.httpUrl}/api/v1/orders`, {
      OrderReqID: `${run}-ORD`,
      BuyerID: `${run}-BUYER`,
      Industry: "Hostile",
      Location: { Lat: 1, Lng: 1 },
      DeliveryDate: "2030-01-01",
      Products: Array.from({ length: 201 }, (_, index) => `product ${index}`),
    })
    expectPath(response, "body.Products")
  })

  it("processor seller follow-up: 21 URLs", async () => {
    const urls = Array.from({ length: 21 }, (_, index) => `https://example.com/${index}`)
    const response = await http("POST", `${stack.processor.httpUrl}/api/v1/followup`, {
      OrderReqID: `${run}-ORD`,
      ProposalID: "P-1",
      Message: { URLs: urls, Message: "see" },
    })
    expect(response.status, describeResponse(response)).toBe(400)
    expect(response.text).toContain("URLs")
  })

  it("processor gRPC follow-up: too many audience ids, URLs, a too long text → INVALID_ARGUMENT; a message past the receive limit → RESOURCE_EXHAUSTED", async () => {
    const channel = createChannel(stack.processor.grpcAddress)
    const client = createClient(OrderNonStreamingServiceDefinition, channel)
    const failure = async (request: Parameters<typeof client.processFollowUp>[0]) => {
      const error = await client.processFollowUp(request).then(
        () => undefined,
        (cause: unknown) => cause,
      )
      expect(error).toBeInstanceOf(ClientError)
      return error as ClientError
    }
    try {
      const base = { orderReqId: `${run}-ORD`, transactionUuid: "", audienceProposalIds: ["P-1"] }
      const tooMany = await failure({
        ...base,
        audienceProposalIds: Array.from({ length: 101 }, (_, index) => `P-${index}`),
        message: {
          urls: Array.from({ length: 21 }, (_, index) => `https://example.com/${index}`),
          messageType: "text",
          text: "t".repeat(10_001),
        },
      })
      expect(tooMany.code).toBe(Status.INVALID_ARGUMENT)
      expect(tooMany.details).toContain("audience_proposal_ids")
      expect(tooMany.details).toContain("message.urls")
      expect(tooMany.details).toContain("message.text")

      const huge = await failure({ ...base, message: { urls: [], messageType: "text", text: "h".repeat(70_000) } })
      expect(huge.code).toBe(Status.RESOURCE_EXHAUSTED)
    } finally {
      channel.close()
    }
  })
})
