/**
 * Tells the selected sellers about an order (spec: "Processing on the processor", step 3).
 *
 * 1. `SELLER_NOTIFY` messages — one per selected seller, Key `PRP_REQUEST`, message key the
 *    `OrderReqID`, payload `{EventID, OrderReqID, SessionID, Key, Message, Timestamp, Seq,
 *    Status, SellerID, SellerName, DistanceKm, DistanceSource, DistanceFallbackReason?, Industry,
 *    Priority, NotificationType}`. They are returned as outbox entries, not published: the caller
 *    commits them with the `SellersSelected` event (`OrderEventLog.append(..., { outbox })`), so
 *    they go out exactly when the event exists. `EventID` is `${event EventID}:${SellerID}`,
 *    stable if the entries are built again.
 * 2. Google Chat — when the order's `NotificationType` is `GChat` and the seller has a
 *    `ChatWebhookURL`, a `{"text": …}` post naming the seller and the order. Each post is bounded
 *    (timeout per attempt, bounded retries with exponential backoff and jitter, a circuit breaker
 *    per webhook host), at most `concurrency` posts run at once (across all orders), and the
 *    outcome per seller (`sent`, `failed` + reason, `skipped` + reason) is returned for the
 *    caller to record. Webhook URLs carry credentials: they are never logged or put in a reason.
 */

import { Topics } from "@dcent/shared/broker/topics"
import type { OutboxEntry } from "@dcent/shared/eventlog/types"
import type { NotificationType, Priority } from "@dcent/shared/orders/domain"
import type { OrderEventRecord } from "@dcent/shared/orders/events"
import { MessageKeys, topicMessage } from "@dcent/shared/orders/topicMessage"
import { describeFailure, isTransientFailure, makeGuard } from "@dcent/shared/resilience/Resilience"
import { Context, type Duration, Effect, Layer, Semaphore } from "effect"
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientRequest, UrlParams } from "effect/http"
import { distanceOf, type SelectedSeller } from "../sellers/selectSellers.ts"

export type { OutboxEntry }

/** What the notifications need to know about the order. */
export interface OrderToNotify {
  readonly OrderReqID: string
  readonly SessionID: string
  readonly NotificationType: NotificationType
  readonly Industry: string
  readonly Priority: Priority
}

export interface NotifySelectedInput {
  readonly order: OrderToNotify
  readonly sellers: ReadonlyArray<SelectedSeller>
  /** The committed `SellersSelected` event: gives `Seq`, `Timestamp` and the base of `EventID`. */
  readonly event: Pick<OrderEventRecord, "eventId" | "seq" | "occurredAt" | "status">
}

export interface PostGoogleChatInput {
  readonly order: OrderToNotify
  readonly sellers: ReadonlyArray<SelectedSeller>
}

export type ChatPostResult =
  | { readonly SellerID: string; readonly status: "sent" }
  | { readonly SellerID: string; readonly status: "failed"; readonly reason: string }
  | { readonly SellerID: string; readonly status: "skipped"; readonly reason: string }

export interface SellerNotifierShape {
  /** One `SELLER_NOTIFY` outbox entry per seller, in the sellers' order (see `sellerNotifyEntries`). */
  readonly notifySelected: (input: NotifySelectedInput) => Effect.Effect<ReadonlyArray<OutboxEntry>>
  /** Posts to each seller's Google Chat webhook when the order asks for GChat; never fails. */
  readonly postGoogleChat: (input: PostGoogleChatInput) => Effect.Effect<ReadonlyArray<ChatPostResult>>
}

export interface SellerNotifierOptions {
  /** Bound on one webhook attempt (default 5 seconds). */
  readonly webhookTimeout?: Duration.Input
  /** Retries after a transient failure or HTTP 429 (default 2). */
  readonly retries?: number
  /** Delay before the first retry, doubled after each, ±20 % jitter (default 250 ms). */
  readonly retryBaseDelay?: Duration.Input
  /** Failed posts in a row to one webhook host that open its circuit (default 5). */
  readonly failureThreshold?: number
  /** How long an open circuit skips the host (default 30 seconds). */
  readonly openDuration?: Duration.Input
  /** Webhook posts running at once, across all orders (default 4). */
  readonly concurrency?: number
}

const formatKm = (km: number) => (km < 10 ? km.toFixed(2) : km.toFixed(1))

const sourceLabel: Record<SelectedSeller["DistanceSource"], string> = {
  road: "by road",
  straight_line: "straight line",
  straight_line_fallback: "straight line",
}

/** The human `Message` of a seller's `SELLER_NOTIFY` entry. */
export const sellerNotifyMessage = (order: OrderToNotify, seller: SelectedSeller): string =>
  `Order ${order.OrderReqID} (${order.Industry}, priority ${order.Priority}): ${seller.Name} (${seller.SellerID}) ` +
  `was selected, ${formatKm(seller.DistanceKm)} km away (${sourceLabel[seller.DistanceSource]}). ` +
  "Submit a proposal with POST /api/v1/proposal-submissions."

/**
 * The `SELLER_NOTIFY` outbox entries for a committed `SellersSelected` event; pure, so it can
 * be used inside `OrderEventLog.append`'s `outbox` callback.
 */
export const sellerNotifyEntries = (input: NotifySelectedInput): ReadonlyArray<OutboxEntry> =>
  input.sellers.map((seller) =>
    topicMessage({
      topic: Topics.SellerNotify,
      key: MessageKeys.ProposalRequest,
      orderReqId: input.order.OrderReqID,
      sessionId: input.order.SessionID,
      message: sellerNotifyMessage(input.order, seller),
      eventId: `${input.event.eventId}:${seller.SellerID}`,
      timestamp: input.event.occurredAt,
      seq: input.event.seq,
      fields: {
        Status: input.event.status,
        SellerID: seller.SellerID,
        SellerName: seller.Name,
        ...distanceOf(seller),
        Industry: input.order.Industry,
        Priority: input.order.Priority,
        NotificationType: input.order.NotificationType,
      },
    }),
  )

/** The Google Chat text for one seller (Chat renders `*bold*`). */
export const googleChatText = (order: OrderToNotify, seller: SelectedSeller): string =>
  [
    `*New order request ${order.OrderReqID}* for ${seller.Name} (${seller.SellerID})`,
    `Industry: ${order.Industry} · Priority: ${order.Priority} · ` +
      `Distance: ${formatKm(seller.DistanceKm)} km (${sourceLabel[seller.DistanceSource]})`,
    `Submit your proposal with POST /api/v1/proposal-submissions and OrderReqID ${order.OrderReqID}.`,
  ].join("\n")

/** Query parameters of a webhook URL that are credentials (Google Chat: `key`, `token`). */
export const webhookSecretParams: ReadonlyArray<string> = ["key", "token"]

const isTooManyRequests = (error: unknown) =>
  HttpClientError.isHttpClientError(error) &&
  error.reason._tag === "StatusCodeError" &&
  error.reason.response.status === 429

/** Needs an `HttpClient`. */
export const makeSellerNotifier = Effect.fn("SellerNotifier.make")(function* (options: SellerNotifierOptions = {}) {
  const timeout = options.webhookTimeout ?? "5 seconds"
  const guard = yield* makeGuard({
    attemptTimeout: timeout,
    retries: options.retries ?? 2,
    retryBaseDelay: options.retryBaseDelay ?? "250 millis",
    failureThreshold: options.failureThreshold ?? 5,
    openDuration: options.openDuration ?? "30 seconds",
  })
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4))
  const permits = yield* Semaphore.make(concurrency)
  const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
  // Google Chat webhooks authenticate with `key` and `token` query parameters: keep them out of spans.
  const redactedParams = [...(yield* UrlParams.CurrentRedactedNames), ...webhookSecretParams]

  const notifySelected = (input: NotifySelectedInput) => Effect.sync(() => sellerNotifyEntries(input))

  const post = (order: OrderToNotify, seller: SelectedSeller, webhook: string) => {
    const request = HttpClientRequest.post(webhook).pipe(
      HttpClientRequest.bodyJsonUnsafe({ text: googleChatText(order, seller) }),
      HttpClientRequest.setHeader("content-type", "application/json; charset=UTF-8"),
    )
    return guard
      .run(`google-chat ${new URL(webhook).origin}`, client.execute(request), {
        isRetryable: (error) => isTransientFailure(error) || isTooManyRequests(error),
      })
      .pipe(
        Effect.as<ChatPostResult>({ SellerID: seller.SellerID, status: "sent" }),
        Effect.catch((error) =>
          Effect.succeed<ChatPostResult>({
            SellerID: seller.SellerID,
            status: "failed",
            reason: describeFailure(error, timeout),
          }),
        ),
        Effect.provideService(UrlParams.CurrentRedactedNames, redactedParams),
        Semaphore.withPermits(permits, 1),
        Effect.withSpan("SellerNotifier.postGoogleChat.seller", { attributes: { sellerId: seller.SellerID } }),
      )
  }

  const postGoogleChat = Effect.fn("SellerNotifier.postGoogleChat")(function* (input: PostGoogleChatInput) {
    const { order } = input
    yield* Effect.annotateCurrentSpan({ orderReqId: order.OrderReqID, sellers: input.sellers.length })
    const results = yield* Effect.forEach(
      input.sellers,
      (seller): Effect.Effect<ChatPostResult> => {
        if (order.NotificationType !== "GChat") {
          return Effect.succeed({
            SellerID: seller.SellerID,
            status: "skipped",
            reason: `notification type is ${order.NotificationType}`,
          })
        }
        if (seller.ChatWebhookURL === undefined) {
          return Effect.succeed({
            SellerID: seller.SellerID,
            status: "skipped",
            reason: "seller has no ChatWebhookURL",
          })
        }
        if (!URL.canParse(seller.ChatWebhookURL)) {
          return Effect.succeed({
            SellerID: seller.SellerID,
            status: "failed",
            reason: "ChatWebhookURL is not a valid URL",
          })
        }
        return post(order, seller, seller.ChatWebhookURL)
      },
      { concurrency },
    )
    const count = (status: ChatPostResult["status"]) => results.filter((result) => result.status === status).length
    const failed = results.filter((result) => result.status === "failed")
    yield* Effect.annotateCurrentSpan({ sent: count("sent"), failed: failed.length, skipped: count("skipped") })
    if (failed.length > 0) {
      yield* Effect.logWarning("google chat notifications failed").pipe(
        Effect.annotateLogs({
          orderReqId: order.OrderReqID,
          failed: failed.map((result) => `${result.SellerID}: ${result.reason}`).join("; "),
        }),
      )
    }
    return results
  })

  return SellerNotifier.of({ notifySelected, postGoogleChat })
})

export class SellerNotifier extends Context.Service<SellerNotifier, SellerNotifierShape>()(
  "dcent/processor/SellerNotifier",
) {
  /** Default timeouts, retries, breaker and concurrency; posts with Node's fetch. */
  static readonly layer: Layer.Layer<SellerNotifier> = Layer.effect(SellerNotifier, makeSellerNotifier()).pipe(
    Layer.provide(FetchHttpClient.layer),
  )

  static readonly layerWith = (options: SellerNotifierOptions): Layer.Layer<SellerNotifier> =>
    Layer.effect(SellerNotifier, makeSellerNotifier(options)).pipe(Layer.provide(FetchHttpClient.layer))
}
