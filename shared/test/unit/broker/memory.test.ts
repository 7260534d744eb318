/**
 * Memory-adapter specifics beyond the shared contract (which `memory.contract.test.ts` runs); the
 * redelivery backoff and the handlers' work run on the test clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { Broker, type BrokerMessage } from "../../../src/broker/Broker.ts"
import { BrokerMemory } from "../../../src/broker/memory.ts"
import { allTopicNames } from "../../../src/broker/topics.ts"

const decoder = new TextDecoder()
const run = <A, E>(body: Effect.Effect<A, E, Broker | Scope.Scope>) =>
  body.pipe(Effect.provide(BrokerMemory.layerWith({ retryBackoff: { initialMs: 1, maxMs: 5 } })))

/** Moves the test clock on a millisecond at a time until `condition` holds (bounded). */
const until = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000 && !condition(); i++) yield* TestClock.adjust("1 millis")
    expect(condition()).toBe(true)
  })

describe("memory broker", () => {
  it.effect("pre-creates the eight topics", () =>
    run(
      Effect.gen(function* () {
        const broker = yield* Broker
        expect(broker.kind).toBe("memory")
        for (const topic of allTopicNames) yield* broker.publish(`${topic}.ORD-1`, "x")
      }),
    ),
  )

  it.effect("holds a key's later messages back while an earlier one is retried", () =>
    run(
      Effect.gen(function* () {
        const broker = yield* Broker
        const handled: Array<string> = []
        let failuresLeft = 3
        yield* broker.subscribe({
          subject: "BUYER_NOTIFY.>",
          group: "g",
          handler: (m: BrokerMessage) =>
            Effect.suspend(() => {
              const text = decoder.decode(m.payload)
              if (text === "1" && failuresLeft-- > 0) return Effect.fail("not yet")
              handled.push(text)
              return Effect.void
            }),
        })
        for (const text of ["1", "2", "3"]) yield* broker.publish("BUYER_NOTIFY.ORD-1", text)
        yield* until(() => handled.length === 3)
        expect(handled).toEqual(["1", "2", "3"])
      }),
    ),
  )

  it.effect("never hands one partition's messages to two members at once, also when a member joins", () =>
    run(
      Effect.gen(function* () {
        const broker = yield* Broker
        const inFlight = new Set<string>()
        const seen: Array<string> = []
        let overlap = false
        const handler = (m: BrokerMessage) =>
          Effect.gen(function* () {
            const partition = m.position.split(":")[0]!
            if (inFlight.has(partition)) overlap = true
            inFlight.add(partition)
            yield* Effect.sleep("1 millis")
            inFlight.delete(partition)
            seen.push(decoder.decode(m.payload))
          })
        yield* broker.subscribe({ subject: "SELLER_NOTIFY.>", group: "g", handler })
        for (let i = 0; i < 50; i++) yield* broker.publish(`SELLER_NOTIFY.ORD-${i % 7}`, `m${i}`)
        yield* broker.subscribe({ subject: "SELLER_NOTIFY.>", group: "g", handler })
        for (let i = 50; i < 100; i++) yield* broker.publish(`SELLER_NOTIFY.ORD-${i % 7}`, `m${i}`)
        yield* until(() => seen.length >= 100)
        expect(overlap).toBe(false)
        expect(new Set(seen).size).toBe(100)
        expect(seen).toHaveLength(100)
      }),
    ),
  )

  it.effect("keeps existing topics on ensureTopics and rejects invalid specs", () =>
    run(
      Effect.gen(function* () {
        const broker = yield* Broker
        yield* broker.ensureTopics([{ name: "extra", partitions: 2, replicationFactor: 1 }])
        yield* broker.ensureTopics([{ name: "extra", partitions: 5, replicationFactor: 1 }])
        yield* broker.publish("extra.k", "x")
        const invalid = yield* Effect.flip(broker.ensureTopics([{ name: "a.b", partitions: 1, replicationFactor: 1 }]))
        expect(invalid.message).toContain("may only contain")
        const zero = yield* Effect.flip(broker.ensureTopics([{ name: "ok", partitions: 0, replicationFactor: 1 }]))
        expect(zero.message).toContain("partitions must be a positive integer")
      }),
    ),
  )
})
