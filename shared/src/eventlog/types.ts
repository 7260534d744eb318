/**
 * What a commit of the event log carries besides the events: state writes applied in the same
 * atomic step, and outbox entries (messages to publish once the commit is durable).
 */
import type { OutboxEntry } from "../outbox/entry.ts"

export type { OutboxEntry } from "../outbox/entry.ts"

/**
 * One state change committed together with the events. Keys are relative to the service's
 * Redis key prefix (like every other key of the `Redis` service).
 */
export type StateWrite =
  | { readonly op: "set"; readonly key: string; readonly value: string; readonly pxMs?: number }
  | { readonly op: "del"; readonly key: string }
  | { readonly op: "hset"; readonly key: string; readonly field: string; readonly value: string }
  | { readonly op: "hdel"; readonly key: string; readonly field: string }
  | { readonly op: "zadd"; readonly key: string; readonly score: number; readonly member: string }
  | { readonly op: "zrem"; readonly key: string; readonly member: string }
  | { readonly op: "sadd" | "srem"; readonly key: string; readonly member: string }

/** What a commit writes besides events: state writes and outbox entries, in the same atomic step. */
export interface StateCommit {
  readonly writes?: ReadonlyArray<StateWrite>
  /** Outbox entries not tied to an event (e.g. an acknowledgement, a failure message). */
  readonly extraOutbox?: ReadonlyArray<OutboxEntry>
}

/** What a commit of events (records `Rec`) writes besides them. */
export interface CommitOptions<Rec> extends StateCommit {
  /** Outbox entries for the committed events (called with the records once their seqs are known). */
  readonly outbox?: (records: ReadonlyArray<Rec>) => ReadonlyArray<OutboxEntry>
}

/**
 * A condition of `OrderEventLog.commitIf`, checked inside the atomic commit: hash field `field`
 * of `key` (relative to the service's prefix) must be one of `oneOf` (`""` = the field is absent).
 */
export interface CommitCondition {
  readonly key: string
  readonly field: string
  readonly oneOf: ReadonlyArray<string>
}

/**
 * A guard of `OrderEventLog.appendAt`, checked inside the atomic commit: string key `key`
 * (relative to the service's prefix) must still hold the value whose SHA-1 hex is `sha1`
 * (`""` = the key is absent). Lets a read-decide-commit step detect any concurrent change of the
 * state it read, also one that appended no event.
 */
export interface StateGuard {
  readonly key: string
  readonly sha1: string
}
