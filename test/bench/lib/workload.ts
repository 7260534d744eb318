/**
 * What the generator submits: proposals and updates of proposals, spread round-robin over the
 * live orders, by the sellers every order selected. A proposal is never updated twice at once
 * (two updates of one proposal in flight would race for its version), and every submission
 * carries a price of its own (`ops.ts`), so an update always changes the proposal.
 */
import { priceOf } from "./ops.ts"

interface ProposalSlot {
  readonly id: string
  readonly seller: string
  busy: boolean
}

export interface Submission {
  readonly order: number
  /** Who submits it (its token, when the services authenticate). */
  readonly seller: string
  readonly kind: "new" | "update"
  /** The JSON body, once the opId (and so the price) is known. */
  readonly body: (opId: number) => string
  /** The proposal may be updated again. */
  readonly release: () => void
}

/** A delivery date a year ahead (dates in the past are accepted, but look odd in the topics). */
export const deliveryDate = new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 10)

export class Workload {
  private readonly proposals: Array<Array<ProposalSlot>>
  private cursor = 0
  private created = 0

  private readonly orderIds: ReadonlyArray<string>
  private readonly sellers: ReadonlyArray<string>
  /** Share of submissions that update an existing proposal (when one is free). */
  private readonly updateShare: number

  constructor(orderIds: ReadonlyArray<string>, sellers: ReadonlyArray<string>, updateShare: number) {
    this.orderIds = orderIds
    this.sellers = sellers
    this.updateShare = updateShare
    this.proposals = orderIds.map(() => [])
  }

  /** The next submission: to the next order, round-robin. */
  next(): Submission {
    const order = this.cursor
    this.cursor = (this.cursor + 1) % this.orderIds.length
    return this.forOrder(order, Math.random() < this.updateShare ? "update" : "new")
  }

  /** A submission to `order`: an update of a free proposal if asked and there is one, else a new proposal. */
  forOrder(order: number, wanted: "new" | "update"): Submission {
    const orderId = this.orderIds[order] as string
    const slots = this.proposals[order] as Array<ProposalSlot>
    let slot = wanted === "update" ? slots.find((candidate) => !candidate.busy) : undefined
    const kind = slot === undefined ? "new" : "update"
    if (slot === undefined) {
      this.created += 1
      slot = {
        id: `${orderId}-P${slots.length + 1}`,
        seller: this.sellers[this.created % this.sellers.length] as string,
        busy: false,
      }
      slots.push(slot)
    }
    const chosen = slot
    chosen.busy = true
    return {
      order,
      seller: chosen.seller,
      kind,
      body: (opId) =>
        JSON.stringify({
          OrderReqID: orderId,
          Seller: chosen.seller,
          ProposalDictObj: { ProposalID: chosen.id, Price: priceOf(opId), DeliveryDate: deliveryDate, Currency: "EUR" },
        }),
      release: () => {
        chosen.busy = false
      },
    }
  }
}
