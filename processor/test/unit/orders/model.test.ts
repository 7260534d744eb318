/**
 * `encodeOrderState` (the commit's fast path: `JSON.stringify`) writes what the schema would:
 * for any state the schema describes, the JSON documents are the same (key order aside), and what
 * it writes reads back through `OrderStateJson` to a state that is written the same way again.
 * The stored split (a head without proposals, one hash field per proposal) reads back to the same
 * state, and a commit writes only the proposals it changed.
 */
import { isDeepStrictEqual } from "node:util"
import { Arbitrary, Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  changedProposals,
  encodeOrderHead,
  encodeOrderState,
  OrderState,
  OrderStateJson,
  ownProposals,
  type Proposal,
  ProposalJson,
  setProposal,
  withProposals,
} from "../../../src/orders/model.ts"

const encodeWithSchema = Schema.encodeSync(OrderStateJson)
const decode = Schema.decodeUnknownSync(OrderStateJson)
const decodeProposal = Schema.decodeUnknownSync(ProposalJson)

const check = (property: (state: OrderState) => boolean) =>
  Effect.runPromise(Arbitrary.checkEffect(Arbitrary.schema(OrderState), property, { runs: 200, seed: 42 }))

/** NaN and ±Infinity have no JSON form (both encoders write `null`); states never hold them. */
const finite = (text: string) => !/[:,[]null\b/.test(text)

describe("encodeOrderState", () => {
  it("writes the same JSON document as OrderStateJson (key order aside), for any state", async () => {
    const result = await check((state) =>
      isDeepStrictEqual(JSON.parse(encodeOrderState(state)), JSON.parse(encodeWithSchema(state))),
    )
    expect(result._tag, Arbitrary.formatCheckFailure(result)).toBe("Passed")
  })

  it("reads back through OrderStateJson to a state written the same way again", async () => {
    const result = await check((state) => {
      const text = encodeOrderState(state)
      return !finite(text) || isDeepStrictEqual(JSON.parse(encodeOrderState(decode(text))), JSON.parse(text))
    })
    expect(result._tag, Arbitrary.formatCheckFailure(result)).toBe("Passed")
  })
})

/** The head and proposals a commit stores (see `encodeOrderHead`), read back as `Orders` does. */
const storedAndRead = (state: OrderState): OrderState => {
  const head = decode(encodeOrderHead(state))
  const proposals = Object.values(state.proposals).map((proposal) => decodeProposal(JSON.stringify(proposal)))
  // A Redis hash returns its fields in no particular order.
  return withProposals(head, proposals.reverse())
}

describe("the stored head and proposals", () => {
  it("read back to the state, proposals in submission order, for any state", async () => {
    let withSeveral = 0
    const result = await check((generated) => {
      // As decisions make them: keyed by their own id, submitted one after the other.
      const proposals: Record<string, Proposal> = {}
      for (const [index, proposal] of Object.values(generated.proposals).entries()) {
        if (proposals[proposal.proposalId] !== undefined) continue
        const submittedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString()
        proposals[proposal.proposalId] = { ...proposal, submittedAt }
      }
      const state = { ...generated, proposals }
      const text = encodeOrderState(state)
      if (!finite(text)) return true
      if (Object.keys(proposals).length > 1) withSeveral += 1
      const read = storedAndRead(state)
      return (
        isDeepStrictEqual(JSON.parse(encodeOrderState(read)), JSON.parse(text)) &&
        isDeepStrictEqual(Object.keys(read.proposals), Object.keys(proposals))
      )
    })
    expect(result._tag, Arbitrary.formatCheckFailure(result)).toBe("Passed")
    expect(withSeveral).toBeGreaterThan(10)
  })

  it("keep the head free of proposals", async () => {
    const result = await check((state) => Object.keys(JSON.parse(encodeOrderHead(state)).proposals).length === 0)
    expect(result._tag, Arbitrary.formatCheckFailure(result)).toBe("Passed")
  })
})

describe("changedProposals", () => {
  const proposal = (id: string, price: number): Proposal => ({
    proposalId: id,
    sellerId: "S1",
    price,
    deliveryDate: "2027-01-01",
    status: "SUBMITTED",
    version: 1,
    submittedAt: `2026-12-06T10:00:0${id.slice(1)}.000Z`,
    updatedAt: "2026-12-06T10:00:00.000Z",
    notes: [],
    pendingFollowUps: [],
  })
  it("lists only the proposals a decision replaced or added, and the removed ones", () => {
    const p1 = proposal("P1", 10)
    const p2 = proposal("P2", 20)
    const p3 = proposal("P3", 30)
    // Only `proposals` is read.
    const base = { proposals: { P1: p1, P2: p2, P3: p3 } } as unknown as OrderState
    const updated = { ...p2, price: 21, version: 2 }
    const p4 = proposal("P4", 40)
    const next = { proposals: { P1: p1, P2: updated, P4: p4 } } as unknown as OrderState
    const changes = changedProposals(base, next)
    expect(changes.set.map((one) => one.proposalId)).toEqual(["P2", "P4"])
    expect(changes.removed).toEqual(["P3"])
    expect(changedProposals(undefined, next).set.map((one) => one.proposalId)).toEqual(["P1", "P2", "P4"])
    expect(changedProposals(next, next)).toEqual({ set: [], removed: [] })
  })

  it("a record not owned is copied by setProposal: the state before stays as it was", () => {
    const p1 = proposal("P1", 10)
    const before = { proposals: { P1: p1 } } as unknown as OrderState
    const after = setProposal(before, proposal("P2", 20))
    expect(Object.keys(before.proposals)).toEqual(["P1"])
    expect(Object.keys(after.proposals)).toEqual(["P1", "P2"])
    expect(changedProposals(before, after).set.map((one) => one.proposalId)).toEqual(["P2"])
  })

  it("an owned record is changed in place, and the commit writes exactly what was set since it was owned", () => {
    const p1 = proposal("P1", 10)
    const p2 = proposal("P2", 20)
    const before = { proposals: { P1: p1, P2: p2 } } as unknown as OrderState
    ownProposals(before)
    const once = setProposal(before, { ...p2, price: 21, version: 2 })
    const twice = setProposal(once, proposal("P3", 30))
    // No copy: the same record, now holding both changes.
    expect(twice.proposals).toBe(before.proposals)
    expect(before.proposals.P2?.price).toBe(21)
    expect(changedProposals(before, twice).set.map((one) => `${one.proposalId}@${one.price}`)).toEqual([
      "P2@21",
      "P3@30",
    ])
    // Owned again by the next command: nothing changed yet.
    ownProposals(twice)
    expect(changedProposals(twice, twice)).toEqual({ set: [], removed: [] })
    const third = setProposal(twice, { ...p1, price: 11, version: 2 })
    expect(changedProposals(twice, third).set.map((one) => one.proposalId)).toEqual(["P1"])
  })
})
