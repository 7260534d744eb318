/**
 * The topic messages of the spec ("Topics"): message key = `OrderReqID`; payload JSON
 * `{EventID, OrderReqID, SessionID, Key, Message, Timestamp, Seq, ...details}`; headers
 * `event-type` (= `Key`), `event-id` (= `EventID`), `content-type: application/json`, plus any
 * extra headers given (trace context).
 *
 * Reserved payload fields always win over details of the same name. For an event, the payload
 * also carries `Status` (the event status) and `ProposalID` / `FollowUpID` when set.
 *
 * The result is an `OutboxEntry`: hand it to the order event log's commit (`outbox` /
 * `extraOutbox`) so it is published once the change is committed.
 */
import type { TopicName } from "../broker/topics.ts"
import type { OutboxEntry } from "../outbox/entry.ts"
import type { StreamEntry } from "../outbox/OutboxRelay.ts"
import type { OrderEventRecord } from "./events.ts"

/** The "Key" column of the original dCent README's topic table: travels as header `event-type` and payload field `Key`. */
export const MessageKeys = {
  OrderSubmission: "ORD_SUBMISSION",
  OrderUpdates: "ORD_UPDATES",
  ProposalSubmission: "PRP_SUBMISSION",
  ProposalRequest: "PRP_REQUEST",
  ProposalUpdates: "PRP_UPDATES",
} as const

export type MessageKey = (typeof MessageKeys)[keyof typeof MessageKeys]

export interface TopicMessageInput {
  readonly topic: TopicName | (string & {})
  /** The key column of the original dCent README, e.g. `ORD_UPDATES`. */
  readonly key: MessageKey | (string & {})
  readonly orderReqId: string
  readonly sessionId: string
  readonly message: string
  /** Default: a fresh UUID. Give a stable id when the message may be built twice. */
  readonly eventId?: string
  /** ISO 8601, from the caller's `Clock` (so a `TestClock` drives it) or the event's `occurredAt`. */
  readonly timestamp: string
  /** The order's event seq this message belongs to; default 0 (not tied to a logged event). */
  readonly seq?: number
  readonly details?: Readonly<Record<string, string>>
  /** Extra payload fields that are not strings (e.g. the failed request); reserved fields still win. */
  readonly fields?: Readonly<Record<string, unknown>>
  /** Extra headers, e.g. `traceparent`. The three standard headers always win. */
  readonly headers?: Readonly<Record<string, string>>
}

export const reservedPayloadFields = [
  "EventID",
  "OrderReqID",
  "SessionID",
  "Key",
  "Message",
  "Timestamp",
  "Seq",
] as const

const reserved = new Set<string>(reservedPayloadFields)

/** Any topic message (acknowledgements and failures too). */
export const topicMessage = (input: TopicMessageInput): OutboxEntry => {
  const eventId = input.eventId ?? crypto.randomUUID()
  const payload: Record<string, unknown> = {
    EventID: eventId,
    OrderReqID: input.orderReqId,
    SessionID: input.sessionId,
    Key: input.key,
    Message: input.message,
    Timestamp: input.timestamp,
    Seq: input.seq ?? 0,
  }
  for (const source of [input.fields ?? {}, input.details ?? {}]) {
    for (const [name, value] of Object.entries(source)) {
      if (!reserved.has(name) && !(name in payload)) payload[name] = value
    }
  }
  return {
    topic: input.topic,
    key: input.orderReqId,
    headers: {
      ...input.headers,
      "event-type": input.key,
      "event-id": eventId,
      "content-type": "application/json",
    },
    payload: JSON.stringify(payload),
  }
}

export interface EventTopicMessageOptions {
  readonly topic: TopicName | (string & {})
  readonly key: MessageKey | (string & {})
  readonly sessionId: string
  /** Default: the event's message. */
  readonly message?: string
  /**
   * Default: the event's id. Give a derived stable id when one event fans out to several
   * messages on one topic (e.g. one `SELLER_NOTIFY` per seller: `${record.eventId}:${sellerId}`).
   */
  readonly eventId?: string
  /** Merged over the event's details. */
  readonly details?: Readonly<Record<string, string>>
  readonly headers?: Readonly<Record<string, string>>
}

/** The topic message for a committed event: `EventID`, `Seq`, `Timestamp` come from the record. */
export const eventTopicMessage = (record: OrderEventRecord, options: EventTopicMessageOptions): OutboxEntry =>
  topicMessage({
    topic: options.topic,
    key: options.key,
    orderReqId: record.orderReqId,
    sessionId: options.sessionId,
    message: options.message ?? record.message,
    eventId: options.eventId ?? record.eventId,
    timestamp: record.occurredAt,
    seq: record.seq,
    fields: {
      Status: record.status,
      ...(record.proposalId === undefined ? {} : { ProposalID: record.proposalId }),
      ...(record.followUpId === undefined ? {} : { FollowUpID: record.followUpId }),
    },
    details: { ...record.details, ...options.details },
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  })

/**
 * The failure-topic report of an outbox entry that can never be published (the relay's
 * `deadLetterReport`): keyed by the entry's key when that is a valid subject token (its
 * OrderReqID), else `unknown`; carries the reason and the entry as it was (`Request`), stamped
 * `at` (when the relay moved it). `EventID` is derived from the stream id: stable if reported twice.
 */
export const deadLetterReport = (
  entry: StreamEntry,
  reason: string,
  at: string,
  topic: TopicName | (string & {}),
  key: MessageKey | (string & {}) = "OUTBOX_DEAD_LETTER",
): OutboxEntry => {
  const fields = new Map<string, string>()
  const raw = entry.fields ?? []
  for (let i = 0; i + 1 < raw.length; i += 2) fields.set(raw[i] as string, raw[i + 1] as string)
  const originalKey = fields.get("key") ?? ""
  const orderReqId = /^[A-Za-z0-9_-]+$/.test(originalKey) ? originalKey : "unknown"
  return topicMessage({
    topic,
    key,
    orderReqId,
    sessionId: "",
    eventId: `outbox-dead:${entry.id}`,
    message: `outbox entry could not be published: ${reason}`,
    timestamp: at,
    fields: {
      Operation: "publish",
      Reason: reason,
      Request: {
        topic: fields.get("topic") ?? null,
        key: fields.get("key") ?? null,
        headers: fields.get("headers") ?? null,
        payload: fields.get("payload") ?? null,
      },
    },
  })
}

/** The relay's `deadLetterReport` for a service's failure topic and message key. */
export const deadLetterReportsOn =
  (topic: TopicName | (string & {}), key: MessageKey | (string & {})) =>
  (entry: StreamEntry, reason: string, at: string): OutboxEntry =>
    deadLetterReport(entry, reason, at, topic, key)
