/**
 * Input checks shared by the adapters, as `Effect`s failing with `BrokerError`, so that every
 * adapter rejects the same bad input with the same message.
 */
import { Effect } from "effect"
import type { Headers, TopicSpec } from "./Broker.ts"
import { BrokerError } from "./errors.ts"
import {
  InvalidSubject,
  parsePattern,
  parseSubject,
  type Subject,
  type SubjectPattern,
  topicNameProblem,
} from "./subject.ts"

const fromInvalid = (operation: string) => (cause: unknown) =>
  new BrokerError({
    operation,
    reason: cause instanceof InvalidSubject ? cause.message : String(cause),
  })

export const subjectOrFail = (operation: string, subject: string): Effect.Effect<Subject, BrokerError> =>
  Effect.try({ try: () => parseSubject(subject), catch: fromInvalid(operation) })

export const patternOrFail = (operation: string, pattern: string): Effect.Effect<SubjectPattern, BrokerError> =>
  Effect.try({ try: () => parsePattern(pattern), catch: fromInvalid(operation) })

/** Header names: an HTTP token (what NATS and Kafka both carry unchanged). */
const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

/** Why `headers` cannot be carried by every adapter, or `undefined`. */
export const headersProblem = (headers: Headers): string | undefined => {
  for (const [name, value] of Object.entries(headers)) {
    if (!headerName.test(name))
      return `header name ${JSON.stringify(name)} is not a token (letters, digits, -_.!#$%&'*+^|~\`)`
    if (typeof value !== "string") return `header ${JSON.stringify(name)} must be a string`
    if (/[\r\n]/.test(value)) return `header ${JSON.stringify(name)} contains a line break`
  }
  return undefined
}

export const headersOrFail = (operation: string, headers: Headers | undefined): Effect.Effect<Headers, BrokerError> => {
  if (headers === undefined) return Effect.succeed({})
  const problem = headersProblem(headers)
  return problem === undefined ? Effect.succeed(headers) : Effect.fail(new BrokerError({ operation, reason: problem }))
}

const encoder = new TextEncoder()

/** Strings are sent as their UTF-8 bytes. */
export const toBytes = (payload: Uint8Array | string): Uint8Array =>
  typeof payload === "string" ? encoder.encode(payload) : payload

export const topicSpecsOrFail = (
  topics: ReadonlyArray<TopicSpec>,
): Effect.Effect<ReadonlyArray<TopicSpec>, BrokerError> => {
  for (const spec of topics) {
    const problem = topicNameProblem(spec.name)
    if (problem !== undefined) return Effect.fail(new BrokerError({ operation: "ensureTopics", reason: problem }))
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
      return Effect.fail(
        new BrokerError({ operation: "ensureTopics", reason: `${spec.name}: partitions must be a positive integer` }),
      )
    }
    if (!Number.isInteger(spec.replicationFactor) || spec.replicationFactor < 1) {
      return Effect.fail(
        new BrokerError({
          operation: "ensureTopics",
          reason: `${spec.name}: replicationFactor must be a positive integer`,
        }),
      )
    }
    const minInsync = spec.minInsyncReplicas
    if (
      minInsync !== undefined &&
      (!Number.isInteger(minInsync) || minInsync < 1 || minInsync > spec.replicationFactor)
    ) {
      return Effect.fail(
        new BrokerError({
          operation: "ensureTopics",
          reason: `${spec.name}: minInsyncReplicas must be an integer from 1 to the replication factor`,
        }),
      )
    }
  }
  return Effect.succeed(topics)
}

export const groupOrFail = (group: string): Effect.Effect<string, BrokerError> =>
  group.length > 0 && !/[\r\n]/.test(group)
    ? Effect.succeed(group)
    : Effect.fail(new BrokerError({ operation: "subscribe", reason: "the consumer group must be a non-empty string" }))

/**
 * The topics a subscription to `pattern` reads: its one topic (which must exist), or every known
 * topic its wildcard matches (at least one). The Kafka and NATS adapters say which topics they know.
 */
export const subscribedTopicsOrFail = <E1, E2>(
  pattern: SubjectPattern,
  known: {
    readonly requireTopic: (operation: string, topic: string) => Effect.Effect<void, E1>
    readonly wildcardTopics: Effect.Effect<ReadonlyArray<string>, E2>
  },
): Effect.Effect<ReadonlyArray<string>, E1 | E2 | BrokerError> =>
  Effect.gen(function* () {
    if (pattern.topic !== undefined) {
      yield* known.requireTopic("subscribe", pattern.topic)
      return [pattern.topic]
    }
    const topics = yield* known.wildcardTopics
    if (topics.length === 0) {
      return yield* new BrokerError({
        operation: "subscribe",
        reason: `no known topic exists for ${pattern.pattern} (known: configured topics and those created with ensureTopics)`,
      })
    }
    return topics
  })
