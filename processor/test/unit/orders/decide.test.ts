import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { decide } from "../../../src/orders/decide.ts"
import type { Command, DecideContext, Decision, Replies } from "../../../src/orders/decision.ts"
import type { DecisionError } from "../../../src/orders/errors.ts"
import type { OrderDetails, OrderState, SelectedSeller } from "../../../src/orders/model.ts"
import { Keys } from "../../../src/orders/model.ts"
import { decisionWrites } from "../../../src/orders/Orders.ts"

const t0 = Date.parse("2030-01-01T00:00:00.000Z")
const minute = 60_000
const expiryMs = 30 * minute

const context = (at = t0): DecideContext => {
  let n = 0
  return { now: new Date(at), newId: () => `id-${++n}`, orderExpiryMs: expiryMs }
}

const details: OrderDetails = {
  orderReqId: "ORD-1",
  sessionId: "SESSION-1",
  buyerId: "BUYER-1",
  notificationType: "GChat",
  industry: "Steel",
  location: { lat: 12.97, lng: 77.59 },
  priority: "HIGH",
  products: [],
  deliveryDate: "2030-02-01",
}

const sellers: Array<SelectedSeller> = [
  { SellerID: "S-1", Name: "One", DistanceKm: 1.5, DistanceSource: "straight_line" },
  { SellerID: "S-2", Name: "Two", DistanceKm: 4.2, DistanceSource: "straight_line" },
]

const knownSeller = { found: true, active: true, industries: ["steel"] } as const

/** Runs a command, expecting success; returns the decision and the state after it. */
const ok = <C extends Command>(state: OrderState | undefined, command: C, at = t0) => {
  const result = decide(state, command, context(at), "ORD-1")
  if (Result.isFailure(result)) throw new Error(`expected success, got ${result.failure.message}`)
  const decision = result.success as Decision<Replies[C["_tag"]]>
  return { decision, state: decision.state ?? state!, reply: decision.reply }
}

const fails = (state: OrderState | undefined, command: Command, at = t0): DecisionError => {
  const result = decide(state, command, context(at), "ORD-1")
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure
}

const statuses = (decision: Decision<unknown>) => decision.events.map((event) => event.status)

const opened = () => ok(undefined, { _tag: "Open", details }).state
const dispatched = () => ok(opened(), { _tag: "RecordSellersSelected", sellers }).state
const withProposal = (state = dispatched(), proposalId = "P-1", sellerId = "S-1", price = 100) =>
  ok(state, {
    _tag: "SubmitProposal",
    proposalId,
    sellerId,
    price,
    deliveryDate: "2030-02-01",
    seller: knownSeller,
  }).state
const locked = (state = withProposal(), proposalId = "P-1") =>
  ok(state, { _tag: "LockProposal", proposalId, ttlMs: 300_000 }).state
const pausedOrder = () => ok(withProposal(), { _tag: "Pause", transactionUuid: "tx-pause" }).state
const finalisedOrder = () => ok(withProposal(), { _tag: "Finalise", transactionUuid: "tx-fin" }).state

const content = { urls: [], messageType: "text" as const, text: "Please clarify delivery terms" }

describe("open", () => {
  it("creates a SUBMITTED order with an expiry, no event, an expiry timer, and asks for dispatch", () => {
    const { decision, reply, state } = ok(undefined, { _tag: "Open", details })
    expect(decision.events).toEqual([])
    expect(state.status).toBe("SUBMITTED")
    expect(state.expiresAt).toBe(new Date(t0 + expiryMs).toISOString())
    expect(state.lastSeq).toBe(0)
    expect(reply).toMatchObject({ created: true, needsDispatch: true })
    expect(decision.timers.set).toEqual([{ member: "expiry|ORD-1", dueAt: t0 + expiryMs }])
  })

  it("is idempotent: an existing order is left as it is (no write, no event)", () => {
    const { decision, reply } = ok(dispatched(), { _tag: "Open", details: { ...details, industry: "Other" } })
    expect(decision.state).toBeUndefined()
    expect(decision.events).toEqual([])
    expect(reply).toMatchObject({ created: false, needsDispatch: false })
  })

  it("asks for dispatch again when an existing SUBMITTED order was never dispatched", () => {
    expect(ok(opened(), { _tag: "Open", details }).reply.needsDispatch).toBe(true)
  })
})

describe("sellers selected (dispatch)", () => {
  it("appends SellersSelected with the seller list and a notification intent, once", () => {
    const { decision, reply, state } = ok(opened(), { _tag: "RecordSellersSelected", sellers })
    expect(statuses(decision)).toEqual(["SellersSelected"])
    expect(JSON.parse(decision.events[0]!.details.Sellers!)).toEqual([
      { SellerID: "S-1", Name: "One", DistanceKm: 1.5, DistanceSource: "straight_line" },
      { SellerID: "S-2", Name: "Two", DistanceKm: 4.2, DistanceSource: "straight_line" },
    ])
    expect(decision.outbox).toEqual([{ _tag: "SellersSelected", eventIndex: 0, sellers }])
    expect(reply).toEqual({ outcome: "dispatched", seq: 1 })
    expect(state.dispatchedAt).toBeDefined()
    expect(state.lastSeq).toBe(1)

    const again = ok(state, { _tag: "RecordSellersSelected", sellers })
    expect(again.reply.outcome).toBe("already_dispatched")
    expect(again.decision.events).toEqual([])
    expect(again.decision.state).toBeUndefined()
  })

  it("records an empty selection without notifications", () => {
    const { decision } = ok(opened(), { _tag: "RecordSellersSelected", sellers: [] })
    expect(decision.events[0]!.details.Count).toBe("0")
    expect(decision.outbox).toEqual([])
  })

  it("defers a paused order (no event, resume enqueues it again)", () => {
    const state = ok(opened(), { _tag: "Pause", transactionUuid: "" }).state
    const { decision, reply } = ok(state, { _tag: "RecordSellersSelected", sellers })
    expect(reply.outcome).toBe("paused")
    expect(decision.state).toBeUndefined()
    const resumed = ok(state, { _tag: "Resume", transactionUuid: "" })
    expect(resumed.reply.needsDispatch).toBe(true)
  })

  it("marks a finalised order dispatched without notifying anyone", () => {
    const state = ok(opened(), { _tag: "Finalise", transactionUuid: "" }).state
    const { decision, reply } = ok(state, { _tag: "RecordSellersSelected", sellers })
    expect(reply.outcome).toBe("finalised")
    expect(decision.events).toEqual([])
    expect(decision.state?.dispatchedAt).toBeDefined()
  })

  it("fails for an unknown order", () => {
    expect(fails(undefined, { _tag: "RecordSellersSelected", sellers })._tag).toBe("OrderNotFound")
  })
})

describe("proposal submission", () => {
  const submit = (overrides: Partial<Extract<Command, { _tag: "SubmitProposal" }>> = {}) =>
    ({
      _tag: "SubmitProposal",
      proposalId: "P-1",
      sellerId: "S-1",
      price: 1000,
      deliveryDate: "2025-11-01T00:00:00Z",
      seller: knownSeller,
      ...overrides,
    }) as const

  it("a new proposal appends NewProposal and acknowledges it to the seller", () => {
    const { decision, reply, state } = ok(dispatched(), submit({ currency: "EUR" }))
    expect(statuses(decision)).toEqual(["NewProposal"])
    expect(decision.events[0]).toMatchObject({
      proposalId: "P-1",
      details: { SellerID: "S-1", Price: "1000", Currency: "EUR", DeliveryDate: "2025-11-01T00:00:00Z", Version: "1" },
    })
    expect(decision.outbox).toEqual([
      {
        _tag: "EventMessage",
        eventIndex: 0,
        topic: "SELLER_ACKNOWLEDGEMENTS",
        key: "PRP_SUBMISSION",
        sellerId: "S-1",
        message: "Proposal Submitted",
      },
    ])
    expect(reply).toMatchObject({ outcome: "created", seq: 2 })
    expect(state.proposals["P-1"]).toMatchObject({ status: "SUBMITTED", version: 1, price: 1000 })
  })

  it("the same ProposalID by the same seller with new content is a ProposalUpdate (version 2)", () => {
    const { decision, reply, state } = ok(withProposal(), submit({ price: 900 }))
    expect(statuses(decision)).toEqual(["ProposalUpdate"])
    expect(decision.events[0]!.details).toMatchObject({ Price: "900", PreviousPrice: "100", Version: "2" })
    expect(decision.outbox[0]).toMatchObject({ topic: "SELLER_ACKNOWLEDGEMENTS", message: "Proposal Updated" })
    expect(reply.outcome).toBe("updated")
    expect(state.proposals["P-1"]!.version).toBe(2)
  })

  it("an identical resubmission changes nothing and appends no event", () => {
    const state = withProposal(dispatched(), "P-1", "S-1", 1000)
    const { decision, reply } = ok(state, submit({ deliveryDate: "2030-02-01" }))
    expect(reply.outcome).toBe("unchanged")
    expect(decision.events).toEqual([])
    expect(decision.state).toBeUndefined()
  })

  it("an omitted currency keeps the previous one", () => {
    const first = ok(dispatched(), submit({ currency: "EUR" })).state
    expect(ok(first, submit()).reply.outcome).toBe("unchanged")
  })

  it("a different seller reusing the ProposalID is refused (409)", () => {
    const error = fails(withProposal(), submit({ sellerId: "S-2" }))
    expect(error).toMatchObject({ _tag: "WrongState", reason: "proposal_owned_by_another_seller" })
  })

  it("a paused order accepts no proposal, naming the reason", () => {
    expect(fails(pausedOrder(), submit({ proposalId: "P-9" }))).toMatchObject({
      _tag: "WrongState",
      reason: "order_paused",
      description: expect.stringContaining("paused (by the buyer)"),
    })
    const expired = ok(withProposal(), { _tag: "Expire" }, t0 + expiryMs + 1).state
    expect(fails(expired, submit()).message).toContain("paused (it expired)")
  })

  it("a finalised order accepts no proposal", () => {
    expect(fails(finalisedOrder(), submit())).toMatchObject({ _tag: "WrongState", reason: "order_finalised" })
  })

  it("an unknown order is not found", () => {
    expect(fails(undefined, submit())._tag).toBe("OrderNotFound")
  })

  it("after dispatch, only a selected seller may submit", () => {
    expect(fails(dispatched(), submit({ sellerId: "S-9" }))).toMatchObject({ _tag: "SellerNotEligible" })
    expect(fails(dispatched(), submit({ sellerId: "S-9", seller: { found: false } }))._tag).toBe("SellerNotFound")
  })

  it("before dispatch, an active directory seller of the order's industry may submit", () => {
    expect(ok(opened(), submit({ sellerId: "S-9" })).reply.outcome).toBe("created")
    expect(fails(opened(), submit({ seller: { found: false } }))._tag).toBe("SellerNotFound")
    expect(fails(opened(), submit({ seller: { found: true, active: false, industries: ["Steel"] } }))).toMatchObject({
      _tag: "SellerNotEligible",
      reason: "the seller is inactive",
    })
    expect(fails(opened(), submit({ seller: { found: true, active: true, industries: ["Food"] } }))).toMatchObject({
      _tag: "SellerNotEligible",
    })
  })

  it("an edit-locked proposal can be updated by its seller and stays locked", () => {
    const { state } = ok(locked(), submit({ price: 80 }))
    expect(state.proposals["P-1"]).toMatchObject({ status: "EDITLOCK", price: 80, version: 2 })
  })
})

describe("edit lock", () => {
  it("locks: EditLock event, EDITLOCK status, a TTL timer", () => {
    const { decision, reply, state } = ok(withProposal(), { _tag: "LockProposal", proposalId: "P-1", ttlMs: 300_000 })
    expect(statuses(decision)).toEqual(["EditLock"])
    expect(decision.events[0]!.details).toMatchObject({ SellerID: "S-1", TtlSeconds: "300" })
    expect(decision.timers.set).toEqual([{ member: "editlock|ORD-1|P-1", dueAt: t0 + 300_000 }])
    expect(reply.outcome).toBe("locked")
    expect(state.proposals["P-1"]!.status).toBe("EDITLOCK")
  })

  it("locking again extends the lock without a new event", () => {
    const { decision, reply } = ok(locked(), { _tag: "LockProposal", proposalId: "P-1", ttlMs: 600_000 }, t0 + 1000)
    expect(decision.events).toEqual([])
    expect(reply.outcome).toBe("extended")
    expect(decision.timers.set).toEqual([{ member: "editlock|ORD-1|P-1", dueAt: t0 + 601_000 }])
  })

  it("is refused for an unknown proposal, a paused or finalised order", () => {
    expect(fails(withProposal(), { _tag: "LockProposal", proposalId: "P-X", ttlMs: 1 })._tag).toBe("ProposalNotFound")
    expect(fails(pausedOrder(), { _tag: "LockProposal", proposalId: "P-1", ttlMs: 1 })).toMatchObject({
      reason: "order_paused",
    })
    expect(fails(finalisedOrder(), { _tag: "LockProposal", proposalId: "P-1", ttlMs: 1 })).toMatchObject({
      reason: "order_finalised",
    })
  })

  it("release: EditUnlock, back to SUBMITTED, timer cleared", () => {
    const { decision, reply, state } = ok(locked(), { _tag: "UnlockProposal", proposalId: "P-1", reason: "released" })
    expect(statuses(decision)).toEqual(["EditUnlock"])
    expect(decision.events[0]!.details.Reason).toBe("released")
    expect(decision.timers.clear).toEqual(["editlock|ORD-1|P-1"])
    expect(reply.outcome).toBe("unlocked")
    expect(state.proposals["P-1"]!.status).toBe("SUBMITTED")
    expect(state.proposals["P-1"]!.lock).toBeUndefined()
  })

  it("releasing an unlocked proposal is a no-op", () => {
    const { decision, reply } = ok(withProposal(), { _tag: "UnlockProposal", proposalId: "P-1", reason: "released" })
    expect(reply.outcome).toBe("not_locked")
    expect(decision.state).toBeUndefined()
  })

  it("TTL: a due timer unlocks (Reason expired); a stale one reschedules itself", () => {
    const state = locked()
    const due = ok(state, { _tag: "UnlockProposal", proposalId: "P-1", reason: "expired" }, t0 + 300_000)
    expect(due.decision.events[0]!.details.Reason).toBe("expired")
    const early = ok(state, { _tag: "UnlockProposal", proposalId: "P-1", reason: "expired" }, t0 + 1000)
    expect(early.reply.outcome).toBe("not_due")
    expect(early.decision.state).toBeUndefined()
    expect(early.decision.timers.set).toEqual([{ member: "editlock|ORD-1|P-1", dueAt: t0 + 300_000 }])
  })
})

describe("buyer follow-up", () => {
  const followUp = (audience: Array<string>, transactionUuid = "tx-1") =>
    ({ _tag: "BuyerFollowUp", transactionUuid, audience, content }) as const

  it("delivers to an unlocked proposal: BuyerFollowUp event + SELLER_FOLLOWUP (PRP_UPDATES) to its seller", () => {
    const { decision, reply, state } = ok(withProposal(), followUp(["P-1"]))
    expect(statuses(decision)).toEqual(["BuyerFollowUp"])
    expect(decision.events[0]).toMatchObject({
      proposalId: "P-1",
      followUpId: reply.followUpId,
      details: { SellerID: "S-1", Text: content.text, MessageType: "text", URLs: "[]", TransactionUUID: "tx-1" },
    })
    expect(decision.outbox).toEqual([
      expect.objectContaining({ topic: "SELLER_FOLLOWUP", key: "PRP_UPDATES", sellerId: "S-1", eventIndex: 0 }),
    ])
    expect(reply.results).toEqual([{ proposalId: "P-1", outcome: "DELIVERED", seq: 3 }])
    expect(reply.seq).toBe(3)
    expect(state.notes).toHaveLength(1)
  })

  it("answers EditLock for a locked proposal, queues it, and delivers it at unlock", () => {
    const state = locked(withProposal(withProposal(), "P-2", "S-2"), "P-1")
    const { decision, reply, state: after } = ok(state, followUp(["P-1", "P-2"]))
    expect(reply.results).toEqual([
      { proposalId: "P-1", outcome: "EDIT_LOCK", seq: 0 },
      { proposalId: "P-2", outcome: "DELIVERED", seq: state.lastSeq + 1 },
    ])
    expect(statuses(decision)).toEqual(["BuyerFollowUp"])
    expect(decision.events[0]!.proposalId).toBe("P-2")
    expect(after.proposals["P-1"]!.pendingFollowUps).toHaveLength(1)

    const unlocked = ok(after, { _tag: "UnlockProposal", proposalId: "P-1", reason: "released" })
    expect(statuses(unlocked.decision)).toEqual(["EditUnlock", "BuyerFollowUp"])
    expect(unlocked.decision.events[1]).toMatchObject({
      proposalId: "P-1",
      followUpId: reply.followUpId,
      details: { DeliveredAfterUnlock: "true", SellerID: "S-1" },
    })
    expect(unlocked.decision.outbox).toEqual([
      expect.objectContaining({ topic: "SELLER_FOLLOWUP", sellerId: "S-1", eventIndex: 1 }),
    ])
    expect(unlocked.reply.delivered).toEqual([{ followUpId: reply.followUpId, seq: after.lastSeq + 2 }])
    expect(unlocked.state.proposals["P-1"]!.pendingFollowUps).toEqual([])
  })

  it("with every audience proposal locked, appends no event and answers seq 0", () => {
    const { decision, reply } = ok(locked(), followUp(["P-1"]))
    expect(decision.events).toEqual([])
    expect(reply).toMatchObject({ seq: 0, results: [{ proposalId: "P-1", outcome: "EDIT_LOCK", seq: 0 }] })
  })

  it("is idempotent by transaction uuid: the stored reply, marked duplicate, no new event", () => {
    const first = ok(withProposal(), followUp(["P-1"], "tx-same"))
    const again = ok(first.state, followUp(["P-1"], "tx-same"))
    expect(again.decision.events).toEqual([])
    expect(again.decision.state).toBeUndefined()
    expect(again.reply).toEqual({ ...first.reply, duplicate: true })
  })

  it("an unknown audience proposal fails the whole request (NOT_FOUND)", () => {
    expect(fails(withProposal(), followUp(["P-1", "P-X"]))).toMatchObject({
      _tag: "ProposalNotFound",
      proposalId: "P-X",
    })
  })

  it("an empty audience is invalid; a finalised order refuses", () => {
    expect(fails(withProposal(), followUp([]))._tag).toBe("InvalidRequest")
    expect(fails(finalisedOrder(), followUp(["P-1"]))).toMatchObject({ reason: "order_finalised" })
  })

  it("is accepted while the order is paused", () => {
    expect(ok(pausedOrder(), followUp(["P-1"])).reply.results[0]!.outcome).toBe("DELIVERED")
  })
})

describe("seller follow-up", () => {
  const sellerFollowUp = (overrides: Partial<Extract<Command, { _tag: "SellerFollowUp" }>> = {}) =>
    ({ _tag: "SellerFollowUp", proposalId: "P-1", transactionUuid: "stx-1", content, ...overrides }) as const

  it("appends SellerFollowUp and stores the note; a repeat is a duplicate", () => {
    const { decision, reply, state } = ok(withProposal(), sellerFollowUp())
    expect(statuses(decision)).toEqual(["SellerFollowUp"])
    expect(decision.events[0]).toMatchObject({ proposalId: "P-1", followUpId: reply.followUpId })
    expect(state.proposals["P-1"]!.notes).toHaveLength(1)
    const again = ok(state, sellerFollowUp())
    expect(again.reply).toEqual({ ...reply, duplicate: true })
    expect(again.decision.events).toEqual([])
  })

  it("fails for an unknown proposal, another seller, a finalised order", () => {
    expect(fails(withProposal(), sellerFollowUp({ proposalId: "P-X" }))._tag).toBe("ProposalNotFound")
    expect(fails(withProposal(), sellerFollowUp({ sellerId: "S-2" }))._tag).toBe("SellerNotEligible")
    expect(fails(finalisedOrder(), sellerFollowUp())).toMatchObject({ reason: "order_finalised" })
  })
})

describe("pause, expiry and resume", () => {
  it("pause (buyer): OrderPaused reason buyer, every seller notified, expiry timer cleared", () => {
    // S-3 submitted before dispatch selected S-1 and S-2: every seller of the order hears it.
    const state = ok(withProposal(opened(), "P-3", "S-3"), { _tag: "RecordSellersSelected", sellers }).state
    const { decision, reply, state: after } = ok(state, { _tag: "Pause", transactionUuid: "tx-p", note: "budget" })
    expect(statuses(decision)).toEqual(["OrderPaused"])
    expect(decision.events[0]!.details).toEqual({ Reason: "buyer", Note: "budget" })
    expect(decision.outbox.map((intent) => intent._tag === "EventMessage" && [intent.topic, intent.sellerId])).toEqual([
      ["SELLER_NOTIFY", "S-1"],
      ["SELLER_NOTIFY", "S-2"],
      ["SELLER_NOTIFY", "S-3"],
    ])
    expect(decision.timers.clear).toEqual(["expiry|ORD-1"])
    expect(after).toMatchObject({ status: "PAUSED", pausedReason: "buyer" })
    expect(after.expiresAt).toBeUndefined()
    expect(reply.seq).toBe(after.lastSeq)
  })

  it("pause is idempotent per transaction; a different pause of a paused order is refused", () => {
    const first = ok(withProposal(), { _tag: "Pause", transactionUuid: "tx-p" })
    expect(ok(first.state, { _tag: "Pause", transactionUuid: "tx-p" }).reply).toEqual({
      ...first.reply,
      duplicate: true,
    })
    expect(fails(first.state, { _tag: "Pause", transactionUuid: "tx-q" })).toMatchObject({ reason: "order_paused" })
    expect(fails(finalisedOrder(), { _tag: "Pause", transactionUuid: "tx-q" })).toMatchObject({
      reason: "order_finalised",
    })
  })

  it("expiry pauses a due SUBMITTED order with reason expired", () => {
    const { decision, reply, state } = ok(withProposal(), { _tag: "Expire" }, t0 + expiryMs)
    expect(statuses(decision)).toEqual(["OrderPaused"])
    expect(decision.events[0]!.details.Reason).toBe("expired")
    expect(reply.outcome).toBe("paused")
    expect(state.pausedReason).toBe("expired")
  })

  it("a stale expiry timer reschedules itself; expiry of a paused or vanished order does nothing", () => {
    const early = ok(withProposal(), { _tag: "Expire" }, t0 + 1000)
    expect(early.reply.outcome).toBe("not_due")
    expect(early.decision.timers.set).toEqual([{ member: "expiry|ORD-1", dueAt: t0 + expiryMs }])
    expect(ok(pausedOrder(), { _tag: "Expire" }, t0 + expiryMs * 2).reply.outcome).toBe("not_submitted")
    expect(ok(undefined, { _tag: "Expire" }).reply.outcome).toBe("gone")
  })

  it("resume: OrderResumed with a new expiry, timer set, sellers notified", () => {
    const at = t0 + 5 * minute
    const { decision, reply, state } = ok(pausedOrder(), { _tag: "Resume", transactionUuid: "tx-r" }, at)
    expect(statuses(decision)).toEqual(["OrderResumed"])
    expect(reply.expiresAt).toBe(new Date(at + expiryMs).toISOString())
    expect(decision.timers.set).toEqual([{ member: "expiry|ORD-1", dueAt: at + expiryMs }])
    expect(decision.outbox.length).toBe(2)
    expect(state).toMatchObject({ status: "SUBMITTED", expiresAt: reply.expiresAt })
    expect(state.pausedReason).toBeUndefined()
    expect(reply.needsDispatch).toBe(false)
  })

  it("resume is refused unless paused", () => {
    expect(fails(withProposal(), { _tag: "Resume", transactionUuid: "" })).toMatchObject({ reason: "order_not_paused" })
    expect(fails(finalisedOrder(), { _tag: "Resume", transactionUuid: "" })).toMatchObject({
      reason: "order_finalised",
    })
  })
})

describe("finalise", () => {
  const threeProposals = () => withProposal(withProposal(withProposal(), "P-2", "S-2"), "P-3", "S-1")

  it("with a winner: ProposalAccepted for it, ProposalClosed for every other, then OrderFinalised", () => {
    const state = threeProposals()
    const {
      decision,
      reply,
      state: after,
    } = ok(state, { _tag: "Finalise", transactionUuid: "tx-f", proposalId: "P-2" })
    expect(decision.events.map((event) => [event.status, event.proposalId])).toEqual([
      ["ProposalClosed", "P-1"],
      ["ProposalAccepted", "P-2"],
      ["ProposalClosed", "P-3"],
      ["OrderFinalised", undefined],
    ])
    expect(decision.events[3]!.details.AcceptedProposalID).toBe("P-2")
    expect(reply.seq).toBe(state.lastSeq + 4)
    expect(after.status).toBe("FINALISED")
    expect(after.acceptedProposalId).toBe("P-2")
    expect(Object.values(after.proposals).map((proposal) => proposal.status)).toEqual(["CLOSED", "ACCEPTED", "CLOSED"])
    const notify = decision.outbox.filter(
      (intent) => intent._tag === "EventMessage" && intent.topic === "SELLER_NOTIFY",
    )
    // one per proposal + one per seller of the order for OrderFinalised
    expect(notify).toHaveLength(3 + 2)
    expect(decision.timers.clear).toContain("expiry|ORD-1")
  })

  it("without a winner closes every proposal", () => {
    const { decision } = ok(withProposal(), { _tag: "Finalise", transactionUuid: "" })
    expect(statuses(decision)).toEqual(["ProposalClosed", "OrderFinalised"])
  })

  it("works from PAUSED, clears edit locks and their timers", () => {
    const state = ok(locked(), { _tag: "Pause", transactionUuid: "" }).state
    const { decision, state: after } = ok(state, { _tag: "Finalise", transactionUuid: "" })
    expect(statuses(decision)).toEqual(["ProposalClosed", "OrderFinalised"])
    expect(decision.timers.clear).toEqual(expect.arrayContaining(["editlock|ORD-1|P-1", "expiry|ORD-1"]))
    expect(after.proposals["P-1"]!.lock).toBeUndefined()
  })

  it("is idempotent per transaction; refused once finalised; unknown or locked winner refused", () => {
    const first = ok(withProposal(), { _tag: "Finalise", transactionUuid: "tx-f" })
    expect(ok(first.state, { _tag: "Finalise", transactionUuid: "tx-f" }).reply).toEqual({
      ...first.reply,
      duplicate: true,
    })
    expect(fails(first.state, { _tag: "Finalise", transactionUuid: "tx-g" })).toMatchObject({
      reason: "order_finalised",
    })
    expect(fails(withProposal(), { _tag: "Finalise", transactionUuid: "", proposalId: "P-X" })._tag).toBe(
      "ProposalNotFound",
    )
    expect(fails(locked(), { _tag: "Finalise", transactionUuid: "", proposalId: "P-1" })).toMatchObject({
      reason: "proposal_locked",
    })
  })

  it("unknown orders are not found for every command but open and expire", () => {
    const commands: Array<Command> = [
      { _tag: "Finalise", transactionUuid: "" },
      { _tag: "Pause", transactionUuid: "" },
      { _tag: "Resume", transactionUuid: "" },
      { _tag: "BuyerFollowUp", transactionUuid: "", audience: ["P"], content },
      { _tag: "SellerFollowUp", transactionUuid: "", proposalId: "P", content },
      { _tag: "LockProposal", proposalId: "P", ttlMs: 1 },
      { _tag: "UnlockProposal", proposalId: "P", reason: "released" },
    ]
    for (const command of commands)
      expect(fails(undefined, command)).toMatchObject({ _tag: "OrderNotFound", orderReqId: "ORD-1" })
  })
})

describe("seq bookkeeping", () => {
  it("lastSeq advances by the number of events of each decision", () => {
    let state = dispatched()
    expect(state.lastSeq).toBe(1)
    state = withProposal(state)
    expect(state.lastSeq).toBe(2)
    state = locked(state)
    state = ok(state, { _tag: "BuyerFollowUp", transactionUuid: "", audience: ["P-1"], content }).state
    expect(state.lastSeq).toBe(3)
    state = ok(state, { _tag: "UnlockProposal", proposalId: "P-1", reason: "released" }).state
    expect(state.lastSeq).toBe(5)
  })
})

describe("the sellers' index of their live orders (decisionWrites)", () => {
  it("adds the order for each selected seller with SellersSelected and removes it when finalised", () => {
    const selected = ok(opened(), { _tag: "RecordSellersSelected", sellers }).decision
    const adds = decisionWrites("ORD-1", selected).filter((write) => write.key.startsWith("seller:"))
    expect(adds).toEqual([
      { op: "zadd", key: Keys.sellerOrdersOf("S-1", "ORD-1"), score: t0, member: "ORD-1" },
      { op: "zadd", key: Keys.sellerOrdersOf("S-2", "ORD-1"), score: t0, member: "ORD-1" },
    ])
    const finalised = ok(withProposal(), { _tag: "Finalise", transactionUuid: "tx-fin" }).decision
    expect(decisionWrites("ORD-1", finalised).filter((write) => write.key.startsWith("seller:"))).toEqual([
      { op: "zrem", key: Keys.sellerOrdersOf("S-1", "ORD-1"), member: "ORD-1" },
      { op: "zrem", key: Keys.sellerOrdersOf("S-2", "ORD-1"), member: "ORD-1" },
    ])
    const proposal = ok(dispatched(), {
      _tag: "SubmitProposal",
      proposalId: "P-9",
      sellerId: "S-1",
      price: 1,
      deliveryDate: "2030-02-01",
      seller: knownSeller,
    }).decision
    expect(decisionWrites("ORD-1", proposal).filter((write) => write.key.startsWith("seller:"))).toEqual([])
  })
})
