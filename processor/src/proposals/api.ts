/**
 * The proposals' REST contract (paths exactly as in the seed README):
 *
 *   POST   /api/v1/proposal-submissions   submit or update a proposal            201 new / 200 update or unchanged
 *   GET    /api/v1/orders/{OrderReqID}/proposals
 *   POST   /api/v1/edit-lock              lock a proposal while editing it       200
 *   POST   /api/v1/edit-lock/release      release the lock                       200
 *   DELETE /api/v1/edit-lock?OrderReqID=…&ProposalID=…   same as release
 *
 * Field schemas and the seller-facing middleware (`sellerFacing`) are the order contract's (`../orders/api.ts`).
 */
import { IsoDate } from "@dcent/shared/orders/wire"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ApiErrors } from "../http/errors.ts"
import {
  Currency,
  OrderReqID,
  orderIdFields,
  orderIdRequired,
  orderParams,
  Price,
  ProposalID,
  ProposalView,
  SellerID,
  sellerFacing,
} from "../orders/api.ts"

// --- proposals --------------------------------------------------------------------------------

export const ProposalDictObj = Schema.Struct({
  ProposalID,
  Price,
  DeliveryDate: IsoDate,
  Currency: Schema.optionalKey(Currency),
}).annotate({ identifier: "ProposalDictObj" })

export const ProposalSubmission = Schema.Struct({
  ...orderIdFields,
  Seller: SellerID.annotate({ description: "The submitting seller's SellerID" }),
  ProposalDictObj,
})
  .check(orderIdRequired)
  .annotate({
    identifier: "ProposalSubmission",
    description: "The seed README's body: `{OrderReqID, Seller, ProposalDictObj: {ProposalID, Price, DeliveryDate}}`",
  })
export type ProposalSubmission = typeof ProposalSubmission.Type

const submissionResult = <const O extends ReadonlyArray<string>>(outcomes: O) =>
  Schema.Struct({
    Message: Schema.String,
    Outcome: Schema.Literals(outcomes),
    /** The seq of the order event this submission appended; absent when nothing changed. */
    Seq: Schema.optionalKey(Schema.Int),
    Proposal: ProposalView,
  })

/** 201: a new proposal (`NewProposal`). */
export const ProposalCreated = submissionResult(["created"])
  .annotate({ identifier: "ProposalCreated", description: "A new proposal: a NewProposal event was appended" })
  .pipe(HttpApiSchema.status(201))

/** 200: an update (`ProposalUpdate`) or an identical resubmission (no event). */
export const ProposalAccepted = submissionResult(["updated", "unchanged"]).annotate({
  identifier: "ProposalResubmitted",
  description:
    "`updated`: same ProposalID by the same seller with new content, a ProposalUpdate event was appended; " +
    "`unchanged`: identical to the current version, no event",
})

export const ProposalList = Schema.Struct({
  OrderReqID: Schema.String,
  Proposals: Schema.Array(ProposalView),
}).annotate({ identifier: "ProposalList" })

// --- edit locks -------------------------------------------------------------------------------

export const EditLockBody = Schema.Struct({
  ...orderIdFields,
  ProposalID,
  TtlSeconds: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 86_400 })).annotate({
      description: "Lock lifetime in seconds (default EDIT_LOCK_TTL_SECONDS); locking again extends it",
    }),
  ),
})
  .check(orderIdRequired)
  .annotate({ identifier: "EditLockRequest" })

export const EditLockReleaseBody = Schema.Struct({ ...orderIdFields, ProposalID })
  .check(orderIdRequired)
  .annotate({ identifier: "EditLockRelease" })

export const EditLockResult = Schema.Struct({
  OrderReqID: Schema.String,
  ProposalID: Schema.String,
  /** `locked` (EditLock event), `extended` (already locked: new expiry, no event), `unlocked` (EditUnlock event), `not_locked`. */
  Outcome: Schema.Literals(["locked", "extended", "unlocked", "not_locked"]),
  Status: Schema.String,
  LockedUntil: Schema.optionalKey(Schema.String),
  Seq: Schema.optionalKey(Schema.Int),
  /** Buyer follow-ups queued during the lock and delivered by this release. */
  DeliveredFollowUps: Schema.optionalKey(Schema.Array(Schema.String)),
}).annotate({ identifier: "EditLockResult" })

// --- groups -----------------------------------------------------------------------------------

export class ProposalsApi extends HttpApiGroup.make("proposals")
  .add(
    HttpApiEndpoint.post("submit", "/api/v1/proposal-submissions", {
      payload: ProposalSubmission,
      success: [ProposalCreated, ProposalAccepted],
      error: ApiErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Submit a proposal (or update it: same ProposalID by the same seller)",
        description:
          "201 NewProposal; 200 ProposalUpdate, or `unchanged` (identical resubmission, no event). 404 unknown order " +
          "or seller; 403 the seller is not selected for the order (before dispatch finished: not an active seller " +
          "of the order's industry); 409 paused/finalised order or a ProposalID of another seller. Publishes " +
          "SELLER_ACKNOWLEDGEMENTS (PRP_SUBMISSION) with the event; failures go to PRP_FAILURES.",
      }),
    ),
    HttpApiEndpoint.get("list", "/api/v1/orders/:OrderReqID/proposals", {
      params: orderParams,
      success: ProposalList,
      error: ApiErrors,
    }).annotateMerge(OpenApi.annotations({ summary: "The proposals of an order, in submission order" })),
  )
  .annotateMerge(OpenApi.annotations({ title: "Proposals", description: "Sellers' proposals on orders" }))
  .pipe(sellerFacing) {}

export class EditLocksApi extends HttpApiGroup.make("editLocks")
  .add(
    HttpApiEndpoint.post("lock", "/api/v1/edit-lock", {
      payload: EditLockBody,
      success: EditLockResult,
      error: ApiErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Lock a proposal while its seller edits it (EditLock event)",
        description:
          "The lock expires after TtlSeconds (default EDIT_LOCK_TTL_SECONDS); locking again extends it. Buyer " +
          "follow-ups to a locked proposal are answered EditLock and delivered when it is unlocked.",
      }),
    ),
    HttpApiEndpoint.post("release", "/api/v1/edit-lock/release", {
      payload: EditLockReleaseBody,
      success: EditLockResult,
      error: ApiErrors,
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Release an edit lock (EditUnlock event, then the queued buyer follow-ups)",
        description: "Releasing a proposal that is not locked answers `not_locked` and changes nothing.",
      }),
    ),
    HttpApiEndpoint.delete("releaseByQuery", "/api/v1/edit-lock", {
      query: { OrderReqID, ProposalID },
      success: EditLockResult,
      error: ApiErrors,
    }).annotateMerge(OpenApi.annotations({ summary: "Release an edit lock (same as POST /api/v1/edit-lock/release)" })),
  )
  .annotateMerge(OpenApi.annotations({ title: "Edit locks", description: "Proposal edit locks with a TTL" }))
  .pipe(sellerFacing) {}
