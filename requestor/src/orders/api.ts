/**
 * The order endpoints of the requestor (paths as in the seed README), contract only; handlers
 * are in `http.ts`. Every failure answers with the common error body
 * `{"error": {"code", "message", "details": [{"path", "problem"}]}}` (`../http/errors.ts`, which
 * also maps the order failures to them), and every failed operation
 * (not the GETs) is also published to `REQ_failures` — by `Orders` for the failures of the
 * operations, by the group's middleware `OrderFailureReporting` (`failures.ts`) for requests
 * refused before them (schema errors, a body not sent as JSON).
 */
import { Authentication } from "@dcent/shared/auth/http"
import { RouteClasses } from "@dcent/shared/ratelimit/config"
import { RateLimitClass } from "@dcent/shared/ratelimit/http"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  BadRequestResponse,
  ConflictResponse,
  ForbiddenResponse,
  NotFoundResponse,
  UnavailableResponse,
  UpstreamFailedResponse,
} from "../http/errors.ts"
import {
  FinaliseBody,
  FollowUpBody,
  InitiateBody,
  OrderPathParams,
  PauseBody,
  RegisterOrderBody,
  ResumeBody,
  SeqString,
} from "./schemas.ts"
import {
  ActionResult,
  FollowUpResult,
  InitiateAccepted,
  InitiateAlreadyLive,
  OrderView,
  RegisterCreated,
  RegisterUpdated,
  TopicMessagesView,
} from "./views.ts"

const allErrors = [
  BadRequestResponse,
  ForbiddenResponse,
  NotFoundResponse,
  ConflictResponse,
  UnavailableResponse,
  UpstreamFailedResponse,
] as const

/** The SSE body (`text/event-stream`), for the OpenAPI document; the handler streams it. */
export const EventStreamBody = Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/event-stream" })).annotate({
  description:
    "Server-sent events: `id:` = seq, `event:` = the event status, `data:` = the event as JSON " +
    "(`OrderReqID, Seq, EventID, Status, ProposalID, FollowUpID, OccurredAt, Message, Details`); " +
    "comment lines every 15 s keep the connection open; the stream ends after `OrderFinalised`.",
})

// --- the group ----------------------------------------------------------------------------------

/**
 * Middleware of the order group (implemented in `./failures.ts`): a request that does not match
 * its schema becomes a 400 with field paths, and every refused POST/PUT is published to
 * `REQ_failures` (Key `ORD_SUBMISSION` for register/initiate, `ORD_UPDATES` for the others).
 */
export class OrderFailureReporting extends HttpApiMiddleware.Service<OrderFailureReporting>()(
  "dcent/requestor/OrderFailureReporting",
  { error: BadRequestResponse },
) {}

export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("register", "/api/v1/orders", {
      payload: RegisterOrderBody,
      success: [RegisterCreated, RegisterUpdated],
      error: [BadRequestResponse, ForbiddenResponse, ConflictResponse, UnavailableResponse],
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Register an order's details (before initiate)",
        description:
          "201 when registered, 200 when it existed (same details, or new details of an order not initiated yet); " +
          "409 when the order was initiated already and the details differ.",
      }),
    ),
    HttpApiEndpoint.get("getOrder", "/api/v1/orders/:OrderReqID", {
      params: OrderPathParams,
      success: OrderView,
      error: [BadRequestResponse, ForbiddenResponse, NotFoundResponse, UnavailableResponse],
    }).annotateMerge(
      OpenApi.annotations({
        summary: "The order's current state",
        description: "Status, expiry, selected sellers, proposals, follow-ups and the last seq, built from its events.",
      }),
    ),
    HttpApiEndpoint.get("messages", "/api/v1/orders/:OrderReqID/messages", {
      params: OrderPathParams,
      success: TopicMessagesView,
      error: [BadRequestResponse, ForbiddenResponse, NotFoundResponse, UnavailableResponse],
    }).annotateMerge(
      OpenApi.annotations({
        summary: "The messages on the eight topics keyed by the order (operators)",
        description:
          "Read back from the broker (each topic's latest 50,000 messages of the order's partition); the web " +
          "console's operator view. 503 when the broker cannot be read now.",
      }),
    ),
    HttpApiEndpoint.get("events", "/api/v1/orders/:OrderReqID/events", {
      params: OrderPathParams,
      query: { from_seq: Schema.optionalKey(SeqString) },
      headers: { "last-event-id": Schema.optionalKey(SeqString) },
      success: [EventStreamBody, HttpApiSchema.NoContent],
      error: [BadRequestResponse, ForbiddenResponse, NotFoundResponse, UnavailableResponse],
    })
      // A stream open: RATE_LIMIT_STREAM_* and a slot among the principal's open streams.
      .annotate(RateLimitClass, RouteClasses.Stream)
      .annotateMerge(
        OpenApi.annotations({
          summary: "The order's events as server-sent events (resumable)",
          description:
            "Resume after a seq with the `Last-Event-ID` header (set by EventSource on reconnects) or `?from_seq=`; " +
            "the header wins. 204 when the order is finalised and nothing follows that seq.",
        }),
      ),
    HttpApiEndpoint.post("initiate", "/api/v1/initiate", {
      payload: InitiateBody,
      success: [InitiateAccepted, InitiateAlreadyLive],
      error: allErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Initiate an order",
        description:
          "202 with the order and where to watch it; 200 when it is live already (idempotent: no second stream, " +
          "no second seller notification). Details come from `POST /api/v1/orders` or inline; 404 when neither.",
      }),
    ),
    HttpApiEndpoint.post("followUp", "/api/v1/followup", {
      payload: FollowUpBody,
      success: FollowUpResult,
      error: allErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Send a follow-up to the sellers of some proposals",
        description: "Idempotent by `TransactionUUID` (generated when absent).",
      }),
    ),
    HttpApiEndpoint.put("finalize", "/api/v1/finalize/:OrderReqID", {
      params: OrderPathParams,
      payload: [FinaliseBody, Schema.Null],
      success: ActionResult,
      error: allErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Finalise the order (optionally accepting one proposal)",
        description: "Body optional: `{ProposalID}` picks the winner; every other proposal is closed.",
      }),
    ),
    HttpApiEndpoint.put("pause", "/api/v1/pause/:OrderReqID", {
      params: OrderPathParams,
      payload: [PauseBody, Schema.Null],
      success: ActionResult,
      error: allErrors,
    }).annotateMerge(OpenApi.annotations({ summary: "Pause the order (body optional: `{Reason}`)" })),
    HttpApiEndpoint.put("resume", "/api/v1/resume/:OrderReqID", {
      params: OrderPathParams,
      payload: [ResumeBody, Schema.Null],
      success: ActionResult,
      error: allErrors,
    }).annotateMerge(OpenApi.annotations({ summary: "Resume a paused order (new expiry)" })),
  )
  // Report every problem of a bad body, not only the first.
  .annotate(HttpApi.PayloadParseOptions, { errors: "all" })
  .annotateMerge(OpenApi.annotations({ title: "Orders", description: "The buyer's order lifecycle" }))
  // Every order endpoint needs a credential (401 + WWW-Authenticate without one); the handlers
  // apply the policy (`../auth/policy.ts`, 403). The failure reporting is added after, so it wraps
  // the authentication and publishes its refusals to REQ_failures too.
  .middleware(Authentication)
  .middleware(OrderFailureReporting) {}
