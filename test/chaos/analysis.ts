/**
 * Counting, once everything has settled. Definitions (the table's columns):
 *
 * - **events**: the order's events per the processor's log (`LastSeq`: seqs 1…LastSeq), joined
 *   with the requestor's log read again from seq 0 (event ids, statuses, commit times);
 * - **acknowledged**: events a 2xx answer named by its `Seq` (proposal, update, follow-ups,
 *   finalise); each must be in the logs at that seq with the status/proposal the answer implied;
 * - **delivered**: events the order's live `WatchOrder` observer received (first arrival);
 * - **lost**: an event of the logs, or an acknowledged one, the observer never received (or an
 *   acknowledged seq that the logs hold as another event, or lack);
 * - **dup/ooo**: arrivals at the observer with a seq ≤ the last one seen (duplicate) or skipping
 *   seqs (out of order);
 * - **missing from topics**: a topic message the event must produce (the services' own rules:
 *   BUYER_NOTIFY / BUYER_FOLLOWUP by the requestor; SELLER_NOTIFY / SELLER_ACKNOWLEDGEMENTS /
 *   SELLER_FOLLOWUP per seller by the processor; one BUYER_ACKNOWLEDGEMENTS per initiated order)
 *   not found by `EventID` on its topic;
 * - **dup topic msgs**: extra messages with an `EventID` already seen on that topic (allowed);
 * - **recovery**: from the injection to the first delivery, at an observer, of an event whose
 *   acknowledged request was sent after the injection (the first complete round trip after the
 *   fault); **outage**: from the injection until the fault was over (process ready again, server
 *   answering, link healed).
 *
 * Each event is charged to the fault whose window (its injection until the next one) holds the
 * event's commit time; before the first injection, to `baseline`.
 */
import type { EventStatus } from "@dcent/shared/orders/events"
import { buyerNotifyStatuses } from "../../requestor/src/processor-streams/recording.ts"
import type { SeenEvent } from "../support/e2e.ts"
import { faultKinds, type Injection } from "./faults.ts"
import type { TopicMessage } from "./truth.ts"
import type { Acknowledged, OrderRun } from "./workload.ts"

export interface OrderTruth {
  readonly run: OrderRun
  readonly processorLastSeq: number
  readonly requestorLog: ReadonlyArray<SeenEvent>
}

export interface Row {
  readonly kind: string
  injections: number
  events: number
  acknowledged: number
  delivered: number
  lost: number
  duplicatedOrOutOfOrder: number
  missingFromTopics: number
  duplicateTopicMessages: number
  recoveryMs: Array<number>
  outageMs: Array<number>
  /** Injections after which no new round trip completed. */
  unrecovered: number
}

export interface Finding {
  readonly kind: string
  readonly orderReqId: string
  readonly what: string
}

export interface Analysis {
  /** Every injection with its recovery time (absent: no round trip completed after it). */
  readonly injections: ReadonlyArray<Injection & { readonly recoveryMs?: number }>
  readonly rows: ReadonlyArray<Row>
  readonly total: Row
  readonly findings: ReadonlyArray<Finding>
}

/** The topic messages (topic, EventID) one event must produce. */
export const expectedMessages = (
  event: SeenEvent,
  orderSellers: ReadonlyArray<string>,
): Array<{ topic: string; eventId: string }> => {
  const out: Array<{ topic: string; eventId: string }> = []
  if (event.status === "SellerFollowUp") out.push({ topic: "BUYER_FOLLOWUP", eventId: event.eventId })
  if (buyerNotifyStatuses.has(event.status as EventStatus)) out.push({ topic: "BUYER_NOTIFY", eventId: event.eventId })
  const seller = event.details.SellerID
  const perSeller = (topic: string, sellers: ReadonlyArray<string>) => {
    for (const id of sellers) out.push({ topic, eventId: `${event.eventId}:${id}` })
  }
  switch (event.status) {
    case "SellersSelected":
      perSeller(
        "SELLER_NOTIFY",
        (JSON.parse(event.details.Sellers ?? "[]") as Array<{ SellerID: string }>).map((s) => s.SellerID),
      )
      break
    case "NewProposal":
    case "ProposalUpdate":
      if (seller !== undefined) perSeller("SELLER_ACKNOWLEDGEMENTS", [seller])
      break
    case "BuyerFollowUp":
      if (seller !== undefined) perSeller("SELLER_FOLLOWUP", [seller])
      break
    case "ProposalClosed":
    case "ProposalAccepted":
      if (seller !== undefined) perSeller("SELLER_NOTIFY", [seller])
      break
    case "OrderFinalised":
    case "OrderPaused":
      perSeller("SELLER_NOTIFY", orderSellers)
      break
  }
  return out
}

const emptyRow = (kind: string): Row => ({
  kind,
  injections: 0,
  events: 0,
  acknowledged: 0,
  delivered: 0,
  lost: 0,
  duplicatedOrOutOfOrder: 0,
  missingFromTopics: 0,
  duplicateTopicMessages: 0,
  recoveryMs: [],
  outageMs: [],
  unrecovered: 0,
})

export const analyse = (
  injections: ReadonlyArray<Injection>,
  orders: ReadonlyArray<OrderTruth>,
  acknowledged: ReadonlyArray<Acknowledged>,
  messages: ReadonlyArray<TopicMessage>,
): Analysis => {
  const rows = new Map<string, Row>([["baseline", emptyRow("baseline")]])
  for (const kind of faultKinds) rows.set(kind, emptyRow(kind))
  const findings: Array<Finding> = []
  const sorted = [...injections].sort((a, b) => a.injectedAt - b.injectedAt)
  const kindAt = (t: number) => {
    let kind = "baseline"
    for (const injection of sorted) {
      if (injection.injectedAt <= t) kind = injection.kind
      else break
    }
    return kind
  }
  const row = (kind: string) => rows.get(kind) as Row
  const finding = (kind: string, orderReqId: string, what: string) => {
    if (findings.length < 500) findings.push({ kind, orderReqId, what })
  }

  // Topic messages by (topic, EventID).
  const counts = new Map<string, number>()
  const acksByOrder = new Map<string, number>()
  for (const message of messages) {
    const eventId = message.eventId || message.headerEventId
    const key = `${message.topic}|${eventId}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
    if (message.topic === "BUYER_ACKNOWLEDGEMENTS")
      acksByOrder.set(message.key, (acksByOrder.get(message.key) ?? 0) + 1)
  }
  const charged = new Set<string>()

  const acksOf = new Map<string, Array<Acknowledged>>()
  for (const ack of acknowledged) {
    const list = acksOf.get(ack.orderReqId) ?? []
    list.push(ack)
    acksOf.set(ack.orderReqId, list)
  }

  for (const { run, processorLastSeq, requestorLog } of orders) {
    const id = run.orderReqId
    const observer = run.observer
    const bySeq = new Map(requestorLog.map((event) => [event.seq, event]))
    const seen = new Set(observer.events.map((event) => event.seq))
    const acks = acksOf.get(id) ?? []
    const maxSeq = Math.max(processorLastSeq, requestorLog.at(-1)?.seq ?? 0, ...acks.map((ack) => ack.seq))
    const fallbackTime = observer.events.at(-1)?.receivedAtMs ?? run.startedAt
    const timeOf = (seq: number) => {
      const event = bySeq.get(seq)
      if (event !== undefined && event.occurredAt !== "") return Date.parse(event.occurredAt)
      return acks.find((ack) => ack.seq === seq)?.sentAt ?? fallbackTime
    }
    const sellers = new Set<string>()
    for (const event of requestorLog) {
      if (event.status === "SellersSelected") {
        for (const s of JSON.parse(event.details.Sellers ?? "[]") as Array<{ SellerID: string }>)
          sellers.add(s.SellerID)
      }
      if (event.details.SellerID !== undefined && event.proposalId !== "") sellers.add(event.details.SellerID)
    }
    for (let seq = 1; seq <= maxSeq; seq++) {
      const kind = kindAt(timeOf(seq))
      const r = row(kind)
      r.events += 1
      const event = bySeq.get(seq)
      if (seen.has(seq)) r.delivered += 1
      else {
        r.lost += 1
        finding(
          kind,
          id,
          `seq ${seq} (${event?.status ?? "not in the requestor's log"}) never reached the WatchOrder observer (processor LastSeq ${processorLastSeq}, observer last ${observer.lastSeq}, reconnects ${observer.reconnects}, last error ${observer.lastError})`,
        )
      }
      if (event === undefined) {
        finding(kind, id, `seq ${seq} is missing from the requestor's log (processor LastSeq ${processorLastSeq})`)
        continue
      }
      for (const expected of expectedMessages(event, [...sellers])) {
        const key = `${expected.topic}|${expected.eventId}`
        const count = counts.get(key) ?? 0
        if (count === 0) {
          r.missingFromTopics += 1
          finding(kind, id, `seq ${seq} ${event.status}: no ${expected.topic} message with EventID ${expected.eventId}`)
        } else if (count > 1 && !charged.has(key)) {
          charged.add(key)
          r.duplicateTopicMessages += count - 1
        }
      }
    }
    for (const ack of acks) {
      const r = row(kindAt(ack.sentAt))
      r.acknowledged += 1
      const event = bySeq.get(ack.seq)
      const wrong =
        event === undefined
          ? "absent from the requestor's log"
          : ack.status !== "OrderFinalised" && (event.status !== ack.status || event.proposalId !== ack.proposalId)
            ? `is ${event.status}/${event.proposalId} in the log`
            : ack.seq > processorLastSeq
              ? `beyond the processor's LastSeq ${processorLastSeq}`
              : undefined
      if (wrong !== undefined) {
        r.lost += 1
        finding(r.kind, id, `acknowledged ${ack.operation} seq ${ack.seq} (${ack.status}/${ack.proposalId}) ${wrong}`)
      }
    }
    for (const anomaly of observer.anomalies) {
      const r = row(kindAt(anomaly.at))
      r.duplicatedOrOutOfOrder += 1
      finding(r.kind, id, `observer got seq ${anomaly.seq} after ${anomaly.after} (${anomaly.kind})`)
    }
    if (run.initiatedAt !== undefined && (acksByOrder.get(id) ?? 0) === 0) {
      const r = row(kindAt(run.initiatedAt))
      r.missingFromTopics += 1
      finding(r.kind, id, "initiate acknowledged but no BUYER_ACKNOWLEDGEMENTS message")
    }
  }
  for (const [key, count] of counts) {
    if (count > 1 && !charged.has(key)) {
      // Duplicates of messages not tied to a stream event (e.g. BUYER_ACKNOWLEDGEMENTS).
      row("baseline").duplicateTopicMessages += count - 1
    }
  }

  // Recovery: the first round trip that started after the injection.
  const deliveredAt = new Map<string, number>()
  for (const { run } of orders) {
    for (const event of run.observer.events) {
      const key = `${run.orderReqId}|${event.seq}`
      if (!deliveredAt.has(key)) deliveredAt.set(key, event.receivedAtMs)
    }
  }
  const recoveries: Array<Injection & { readonly recoveryMs?: number }> = []
  for (const injection of sorted) {
    const r = row(injection.kind)
    r.injections += 1
    r.outageMs.push(injection.healedAt - injection.injectedAt)
    let first = Number.POSITIVE_INFINITY
    for (const ack of acknowledged) {
      if (ack.sentAt < injection.injectedAt) continue
      const at = deliveredAt.get(`${ack.orderReqId}|${ack.seq}`)
      if (at !== undefined && at < first) first = at
    }
    if (Number.isFinite(first)) {
      const recovery = Math.max(0, first - injection.injectedAt)
      r.recoveryMs.push(recovery)
      recoveries.push({ ...injection, recoveryMs: recovery })
    } else {
      r.unrecovered += 1
      recoveries.push({ ...injection })
    }
  }

  const list = [...rows.values()]
  const total = emptyRow("total")
  for (const r of list) {
    total.injections += r.injections
    total.events += r.events
    total.acknowledged += r.acknowledged
    total.delivered += r.delivered
    total.lost += r.lost
    total.duplicatedOrOutOfOrder += r.duplicatedOrOutOfOrder
    total.missingFromTopics += r.missingFromTopics
    total.duplicateTopicMessages += r.duplicateTopicMessages
    total.recoveryMs.push(...r.recoveryMs)
    total.outageMs.push(...r.outageMs)
    total.unrecovered += r.unrecovered
  }
  return { rows: list, total, findings, injections: recoveries }
}

export const percentile = (values: ReadonlyArray<number>, p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

const ms = (value: number | undefined) =>
  value === undefined ? "-" : value >= 10_000 ? `${(value / 1000).toFixed(1)}s` : `${Math.round(value)}ms`

/** The table, as printed at the end. */
export const formatTable = (analysis: Analysis): string => {
  const header = [
    "fault",
    "inj",
    "events",
    "acked",
    "delivered",
    "lost",
    "dup/ooo",
    "missing@topics",
    "dup topic msgs",
    "recovery p50",
    "recovery max",
    "outage p50",
    "outage max",
  ]
  // Kinds not injected in this run (CHAOS_KINDS) and with no events are left out.
  const shown = analysis.rows.filter((r) => r.kind === "baseline" || r.injections > 0 || r.events > 0)
  const lines = [...shown, analysis.total].map((r) => [
    r.kind,
    String(r.injections),
    String(r.events),
    String(r.acknowledged),
    String(r.delivered),
    String(r.lost),
    String(r.duplicatedOrOutOfOrder),
    String(r.missingFromTopics),
    String(r.duplicateTopicMessages),
    ms(percentile(r.recoveryMs, 50)),
    r.unrecovered > 0
      ? `${ms(Math.max(0, ...r.recoveryMs))} (+${r.unrecovered} none)`
      : ms(r.recoveryMs.length === 0 ? undefined : Math.max(...r.recoveryMs)),
    ms(percentile(r.outageMs, 50)),
    ms(r.outageMs.length === 0 ? undefined : Math.max(...r.outageMs)),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => (line[i] as string).length)))
  const fmt = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(" | ")} |`
  return [fmt(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(fmt)].join("\n")
}
