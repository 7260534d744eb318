/**
 * In-process broker: for unit tests and an embedded single-process mode. It models Kafka's
 * semantics closely enough that code tested against it behaves the same on the real brokers:
 *
 * - topics have partitions; a message goes to partition `hash(key) % partitions`, so the order
 *   of one key is the order of one partition;
 * - a consumer group (name + subject pattern, see `group.ts`) has a committed offset per
 *   partition and spreads the partitions round-robin over its live members; each member
 *   handles one message at a time;
 * - a message is committed only after its handler succeeded; a failure (after a small backoff)
 *   or the member's scope closing before the ack means it is delivered again — the partition
 *   does not move on, so per-key order holds even across redeliveries;
 * - at most one message per partition is in flight in a group, also across rebalances.
 *
 * Nothing is persisted; the state lives as long as the layer.
 */
import { Cause, Effect, Layer, Queue } from "effect"
import {
  Broker,
  type BrokerMessage,
  type BrokerShape,
  type Headers,
  type PublishOptions,
  type SubscribeOptions,
  type TopicSpec,
} from "./Broker.ts"
import { BrokerError } from "./errors.ts"
import { effectiveGroupId, fnv1a } from "./group.ts"
import { redeliveryDelay } from "./options.ts"
import { matchesPattern, patternTopics, type SubjectPattern } from "./subject.ts"
import { allTopicNames } from "./topics.ts"
import { groupOrFail, headersOrFail, patternOrFail, subjectOrFail, toBytes, topicSpecsOrFail } from "./validate.ts"

export interface MemoryBrokerOptions {
  /** Topics that exist from the start. Default: the eight topics with 3 partitions each. */
  readonly topics?: ReadonlyArray<TopicSpec>
  /** Delay before a failed message is offered again: doubles per consecutive failure. */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number }
}

interface Stored {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly subject: string
  readonly key: string
  readonly headers: Headers
  readonly payload: Uint8Array
}

interface Member {
  readonly id: number
  readonly wake: () => void
  /** Index of the last partition served, for fairness between partitions. */
  cursor: number
}

interface Group {
  readonly id: string
  readonly pattern: SubjectPattern
  readonly topics: Set<string>
  readonly members: Array<Member>
  /** `topic/partition` → next offset to deliver (the committed position). */
  readonly committed: Map<string, number>
  /** `topic/partition` → highest offset handed to a handler (for `redelivered`). */
  readonly delivered: Map<string, number>
  /** `topic/partition` → member currently handling a message of that partition. */
  readonly inFlight: Map<string, Member>
  /** `topic/partition` → owning member (recomputed on join/leave). */
  owner: Map<string, Member>
}

const tpKey = (topic: string, partition: number) => `${topic}/${partition}`

const partitionFor = (key: string, partitions: number) => Number.parseInt(fnv1a(key), 16) % partitions

const defaultTopics: ReadonlyArray<TopicSpec> = allTopicNames.map((name) => ({
  name,
  partitions: 3,
  replicationFactor: 1,
}))

/** Builds the in-memory broker service (its state lives as long as the returned value). */
export const makeMemoryBroker = (options: MemoryBrokerOptions = {}): Effect.Effect<BrokerShape> =>
  Effect.sync(() => {
    const backoff = options.retryBackoff ?? { initialMs: 10, maxMs: 1_000 }
    const topics = new Map<string, Array<Array<Stored>>>()
    const groups = new Map<string, Group>()
    let nextMemberId = 0

    const createTopic = (spec: TopicSpec) => {
      if (!topics.has(spec.name)) {
        topics.set(
          spec.name,
          Array.from({ length: spec.partitions }, () => []),
        )
      }
    }
    for (const spec of options.topics ?? defaultTopics) createTopic(spec)

    const wakeGroup = (group: Group) => {
      for (const member of group.members) member.wake()
    }

    const partitionsOf = (group: Group): Array<string> => {
      const keys: Array<string> = []
      for (const topic of [...group.topics].sort()) {
        const partitions = topics.get(topic)?.length ?? 0
        for (let p = 0; p < partitions; p++) keys.push(tpKey(topic, p))
      }
      return keys
    }

    const rebalance = (group: Group) => {
      const owner = new Map<string, Member>()
      if (group.members.length > 0) {
        for (const [i, tp] of partitionsOf(group).entries()) owner.set(tp, group.members[i % group.members.length]!)
      }
      group.owner = owner
      wakeGroup(group)
    }

    /** The next message `member` may handle, if any. */
    const pickNext = (group: Group, member: Member): Stored | undefined => {
      const owned = partitionsOf(group).filter((tp) => group.owner.get(tp) === member)
      for (let step = 1; step <= owned.length; step++) {
        const index = (member.cursor + step) % owned.length
        const tp = owned[index]!
        const holder = group.inFlight.get(tp)
        if (holder !== undefined && holder !== member) continue
        const [topic, partition] = [tp.slice(0, tp.lastIndexOf("/")), Number(tp.slice(tp.lastIndexOf("/") + 1))]
        const log = topics.get(topic)?.[partition]
        const position = group.committed.get(tp) ?? 0
        const message = log?.[position]
        if (message === undefined) continue
        member.cursor = index
        return message
      }
      return undefined
    }

    const publish: BrokerShape["publish"] = (subject: string, payload: Uint8Array | string, opts?: PublishOptions) =>
      Effect.gen(function* () {
        const parsed = yield* subjectOrFail("publish", subject)
        const headers = yield* headersOrFail("publish", opts?.headers)
        const partitions = topics.get(parsed.topic)
        if (partitions === undefined) {
          return yield* new BrokerError({
            operation: "publish",
            reason: `topic ${parsed.topic} does not exist (create it with ensureTopics)`,
          })
        }
        const partition = partitionFor(parsed.key, partitions.length)
        const log = partitions[partition]!
        log.push({
          topic: parsed.topic,
          partition,
          offset: log.length,
          subject: parsed.subject,
          key: parsed.key,
          headers: { ...headers },
          payload: Uint8Array.from(toBytes(payload)),
        })
        for (const group of groups.values()) if (group.topics.has(parsed.topic)) wakeGroup(group)
      }).pipe(Effect.withSpan("Broker.publish", { attributes: { "messaging.system": "memory", subject } }))

    const subscribe = <E, R>(opts: SubscribeOptions<E, R>) =>
      Effect.gen(function* () {
        const pattern = yield* patternOrFail("subscribe", opts.subject)
        yield* groupOrFail(opts.group)
        if (pattern.topic !== undefined && !topics.has(pattern.topic)) {
          return yield* new BrokerError({
            operation: "subscribe",
            reason: `topic ${pattern.topic} does not exist (create it with ensureTopics)`,
          })
        }
        const subscribed = patternTopics(pattern, topics.keys())
        if (subscribed.length === 0) {
          return yield* new BrokerError({ operation: "subscribe", reason: `no topic matches ${pattern.pattern}` })
        }

        const groupId = effectiveGroupId(opts.group, pattern)
        let group = groups.get(groupId)
        if (group === undefined) {
          group = {
            id: groupId,
            pattern,
            topics: new Set(),
            members: [],
            committed: new Map(),
            delivered: new Map(),
            inFlight: new Map(),
            owner: new Map(),
          }
          groups.set(groupId, group)
        }
        for (const topic of subscribed) {
          if (group.topics.has(topic)) continue
          group.topics.add(topic)
          topics.get(topic)?.forEach((log, p) => {
            group.committed.set(tpKey(topic, p), opts.fromBeginning === true ? 0 : log.length)
          })
        }

        const signal = yield* Queue.sliding<void>(1)
        const member: Member = { id: nextMemberId++, wake: () => void Queue.offerUnsafe(signal, undefined), cursor: -1 }
        const joined = group
        joined.members.push(member)
        rebalance(joined)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            joined.members.splice(joined.members.indexOf(member), 1)
            for (const [tp, holder] of joined.inFlight) if (holder === member) joined.inFlight.delete(tp)
            rebalance(joined)
          }),
        )

        let failures = 0
        const handleOne = (stored: Stored) => {
          const tp = tpKey(stored.topic, stored.partition)
          const redelivered = stored.offset <= (joined.delivered.get(tp) ?? -1)
          joined.delivered.set(tp, Math.max(stored.offset, joined.delivered.get(tp) ?? -1))
          joined.inFlight.set(tp, member)
          const message: BrokerMessage = {
            subject: stored.subject,
            topic: stored.topic,
            key: stored.key,
            headers: stored.headers,
            payload: stored.payload,
            position: `${stored.partition}:${stored.offset}`,
            redelivered,
          }
          const skip = !matchesPattern(pattern, stored.subject)
          return (skip ? Effect.void : opts.handler(message)).pipe(
            Effect.exit,
            Effect.flatMap((exit) => {
              if (exit._tag === "Success") {
                failures = 0
                joined.committed.set(tp, Math.max(joined.committed.get(tp) ?? 0, stored.offset + 1))
                return Effect.void
              }
              failures++
              const error = Cause.squash(exit.cause)
              return Effect.logWarning("broker handler failed; the message will be redelivered").pipe(
                Effect.annotateLogs({
                  subject: stored.subject,
                  position: message.position,
                  group: opts.group,
                  attempt: failures,
                  error: error instanceof Error ? error.message : String(error),
                }),
                Effect.andThen(Effect.sleep(redeliveryDelay(backoff, failures))),
              )
            }),
            Effect.ensuring(
              Effect.sync(() => {
                if (joined.inFlight.get(tp) === member) joined.inFlight.delete(tp)
                wakeGroup(joined)
              }),
            ),
            Effect.withSpan("Broker.handle", {
              attributes: { "messaging.system": "memory", subject: stored.subject, group: opts.group },
            }),
          )
        }

        const loop: Effect.Effect<never, never, R> = Effect.gen(function* () {
          while (true) {
            const next = pickNext(joined, member)
            if (next === undefined) yield* Queue.take(signal)
            else yield* handleOne(next)
          }
        })
        yield* Effect.forkScoped(loop)
        return { ready: Effect.void }
      })

    const ensureTopics: BrokerShape["ensureTopics"] = (specs) =>
      topicSpecsOrFail(specs).pipe(
        Effect.flatMap((valid) =>
          Effect.sync(() => {
            for (const spec of valid) createTopic(spec)
          }),
        ),
      )

    return {
      kind: "memory",
      publish,
      subscribe,
      ensureTopics,
      healthCheck: Effect.void,
    } satisfies BrokerShape
  })

const memoryLayer: Layer.Layer<Broker> = Layer.effect(Broker, makeMemoryBroker())

export const BrokerMemory = {
  /** A fresh in-memory broker per layer build, with the eight topics (3 partitions each). */
  layer: memoryLayer,
  /** Same, with options (topics to pre-create, retry backoff). */
  layerWith: (options: MemoryBrokerOptions): Layer.Layer<Broker> => Layer.effect(Broker, makeMemoryBroker(options)),
} as const
