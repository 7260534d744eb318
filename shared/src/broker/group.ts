/**
 * Consumer-group naming.
 *
 * A group is scoped by its subject pattern: members share messages only when both the group name
 * and the pattern are equal. This matters for Kafka, where key filtering happens in the client:
 * two members of one Kafka group with different key patterns on the same topic would split the
 * partitions between them and each silently skip (commit) the other's messages. So the Kafka
 * group id (and the JetStream durable name) includes the pattern unless it is the plain
 * `<TOPIC>.>` form, which keeps the common case readable (`group.id = processor`).
 */
import type { SubjectPattern } from "./subject.ts"

/** 32-bit FNV-1a, as 8 hex digits: stable across processes and languages. */
export const fnv1a = (input: string): string => {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(input)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(16).padStart(8, "0")
}

/** The group identity used by the broker (Kafka `group.id`, memory adapter group key). */
export const effectiveGroupId = (group: string, pattern: SubjectPattern): string =>
  pattern.wholeTopic && pattern.topic !== undefined ? group : `${group}@${pattern.pattern}`

/** NATS consumer names may not contain `.`, `*`, `>`, whitespace, `/` or `\`; we keep `[A-Za-z0-9_-]`. */
const maxConsumerName = 64

/**
 * A valid JetStream durable name for `(group, pattern)`, unique per stream. Sanitised names and
 * non-`<TOPIC>.>` patterns get a hash suffix so that different inputs never collide.
 */
export const natsConsumerName = (group: string, pattern: SubjectPattern): string => {
  const sanitised = group.replace(/[^A-Za-z0-9_-]/g, "_")
  const exact = sanitised === group && pattern.wholeTopic && pattern.topic !== undefined
  if (exact && group.length <= maxConsumerName) return group
  const suffix = fnv1a(effectiveGroupId(group, pattern))
  return `${sanitised.slice(0, maxConsumerName - suffix.length - 1)}_${suffix}`
}
