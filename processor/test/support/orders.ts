/**
 * Helpers for the processor's order lifecycle integration tests: REST calls, an order stream
 * that collects its events, and unique ids per test run (the tests share one Redis and Kafka).
 */
import { type Channel, createClient, type Metadata, Status } from "nice-grpc"
import { expect } from "vitest"
import type { OrderEvent } from "../../../shared/src/generated/dcent/orders/v1/order.ts"
import { OrderNonStreamingServiceDefinition } from "../../../shared/src/generated/dcent/orders/v1/order_non_streaming_service.ts"
import {
  OrderStreamingServiceDefinition,
  type OrderStreamRequest,
} from "../../../shared/src/generated/dcent/orders/v1/order_streaming_service.ts"
import { eventStatusFromProto } from "../../../shared/src/orders/events.ts"
import type { RunningProcessor } from "../../../test/support/services.ts"

/** A short id unique to this test run. */
export const runId = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

export interface HttpResult<T = unknown> {
  readonly status: number
  readonly body: T
}

export const http = async <T = Record<string, unknown>>(
  processor: Pick<RunningProcessor, "httpUrl">,
  method: string,
  path: string,
  body?: unknown,
): Promise<HttpResult<T>> => {
  const response = await fetch(`${processor.httpUrl}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : {
          headers: { "content-type": "application/json" },
          body: typeof body === "string" ? body : JSON.stringify(body),
        }),
  })
  const text = await response.text()
  return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as T }
}

export interface TestSeller {
  readonly SellerID: string
  readonly Name: string
  readonly Industries: ReadonlyArray<string>
  readonly Location: { readonly Lat: number; readonly Lng: number }
  readonly ChatWebhookURL?: string
  readonly Active?: boolean
}

export const registerSellers = async (processor: RunningProcessor, sellers: ReadonlyArray<TestSeller>) => {
  const result = await http(processor, "POST", "/api/v1/sellers", sellers)
  expect(result.status, JSON.stringify(result.body)).toBeOneOf([200, 201])
}

/** Bengaluru, the original dCent README's demo location. */
export const bengaluru = { lat: 12.9716, lng: 77.5946 }

export const streamRequest = (
  orderReqId: string,
  industry: string,
  overrides: Partial<OrderStreamRequest> = {},
): OrderStreamRequest => ({
  orderReqId,
  sessionId: `SESSION-${orderReqId}`,
  buyerId: "BUYER-1",
  notificationType: "Email",
  industry,
  location: bengaluru,
  priority: 2,
  products: [{ productId: "SKU-1", name: "LED panel", quantity: 10, unit: "pcs", attributes: {} }],
  deliveryDate: "2030-01-31",
  fromSeq: 0,
  ...overrides,
})

export type StatusName = NonNullable<ReturnType<typeof eventStatusFromProto>>

export const statusOf = (event: OrderEvent): StatusName | undefined =>
  eventStatusFromProto(event.streamingResponseStatus)

export interface CollectedStream {
  readonly events: Array<OrderEvent>
  /** Resolves with the response headers (sent as soon as the order is open). */
  readonly header: Promise<Metadata>
  /** Resolves when the stream ends by itself; rejects with its error. */
  readonly done: Promise<void>
  /** Waits until some collected event matches; returns it. */
  readonly waitFor: (predicate: (event: OrderEvent) => boolean, timeoutMs?: number) => Promise<OrderEvent>
  /** Waits until `count` events arrived. */
  readonly waitForCount: (count: number, timeoutMs?: number) => Promise<void>
  readonly statuses: () => Array<StatusName | undefined>
  readonly cancel: () => void
}

export const openStream = (channel: Channel, request: OrderStreamRequest): CollectedStream => {
  const client = createClient(OrderStreamingServiceDefinition, channel)
  const abort = new AbortController()
  const events: Array<OrderEvent> = []
  const listeners = new Set<() => void>()
  let resolveHeader: (metadata: Metadata) => void = () => {}
  const header = new Promise<Metadata>((resolve) => {
    resolveHeader = resolve
  })
  let ended: unknown = null
  const done = (async () => {
    try {
      for await (const response of client.processOrderStream(request, {
        signal: abort.signal,
        onHeader: (metadata) => resolveHeader(metadata),
      })) {
        if (response.event !== undefined) events.push(response.event)
        for (const listener of listeners) listener()
      }
      ended = true
    } catch (error) {
      ended = error
      throw error
    } finally {
      for (const listener of listeners) listener()
    }
  })()
  done.catch(() => {})

  const waitUntil = (check: () => boolean, what: string, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const test = () => {
        if (check()) {
          cleanup()
          resolve()
        } else if (ended !== null) {
          cleanup()
          reject(
            new Error(
              `stream ended (${ended === true ? "completed" : String(ended)}) before ${what}; got ${describe(events)}`,
            ),
          )
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out waiting for ${what}; got ${describe(events)}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        listeners.delete(test)
      }
      listeners.add(test)
      test()
    })

  return {
    events,
    header,
    done,
    waitFor: async (predicate, timeoutMs = 15_000) => {
      await waitUntil(() => events.some(predicate), "a matching event", timeoutMs)
      return events.find(predicate)!
    },
    waitForCount: (count, timeoutMs = 15_000) => waitUntil(() => events.length >= count, `${count} events`, timeoutMs),
    statuses: () => events.map(statusOf),
    cancel: () => abort.abort(),
  }
}

export const describe = (events: ReadonlyArray<OrderEvent>) =>
  `[${events.map((event) => `${event.seq}:${statusOf(event)}${event.proposalId === "" ? "" : `(${event.proposalId})`}`).join(", ")}]`

export const unaryClient = (channel: Channel) => createClient(OrderNonStreamingServiceDefinition, channel)

/** Expects a gRPC call to fail with `code`; returns the error. */
export const expectGrpcError = async (call: Promise<unknown>, code: Status) => {
  try {
    await call
  } catch (error) {
    expect(error).toMatchObject({ code })
    return error as { code: Status; details: string }
  }
  throw new Error(`expected gRPC status ${Status[code]}`)
}

/** Seqs are 1, 2, 3, … with no gap and no duplicate. */
export const expectGapFree = (events: ReadonlyArray<OrderEvent>, from = 1) => {
  expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => from + index))
}
