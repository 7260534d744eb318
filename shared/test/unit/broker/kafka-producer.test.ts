import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { BrokerUnavailable } from "../../../src/broker/errors.ts"
import type { ProducerClient } from "../../../src/broker/kafka-producer.ts"
import { makeWatchedProducer } from "../../../src/broker/kafka-producer.ts"

/**
 * A producer of the test's: it answers each send as told (`answer`), or holds it until the test
 * settles it by hand (`held`). The real producer's reports come from librdkafka; what is watched
 * here is only whether they come.
 */
class TestProducer implements ProducerClient {
  connected = false
  disconnected = false
  readonly held: Array<{ resolve: () => void; reject: (error: unknown) => void }> = []
  readonly answer: "hold" | "deliver" | "fatal"
  readonly connectFails: boolean
  constructor(answer: "hold" | "deliver" | "fatal", connectFails = false) {
    this.answer = answer
    this.connectFails = connectFails
  }
  connect = () =>
    (this.connectFails ? Promise.reject(new Error("connection refused")) : Promise.resolve()).then(() => {
      this.connected = true
    })
  send = () => {
    if (this.answer === "deliver") return Promise.resolve([])
    if (this.answer === "fatal") {
      return Promise.reject(Object.assign(new Error("Fatal idempotent producer error"), { code: -150, fatal: true }))
    }
    return new Promise<Array<never>>((resolve, reject) => this.held.push({ resolve: () => resolve([]), reject }))
  }
  flush = () => Promise.resolve()
  disconnect = () => {
    this.disconnected = true
    return Promise.resolve()
  }
}

const record = { topic: "SELLER_NOTIFY", messages: [{ key: "ORD-1", value: "x" }] }

/** A watched producer over `producers`, created in turn; 35 s without a report is a stall. */
const watch = (producers: ReadonlyArray<TestProducer>) => {
  let next = 0

  return makeWatchedProducer({
    // Past the list, producers that deliver (a test expecting no replacement then sees one).
    create: () => producers[next++] ?? new TestProducer("deliver"),
    connect: (client) =>
      Effect.tryPromise({
        try: () => client.connect(),
        catch: (cause) => new BrokerUnavailable({ url: "kafka://test", reason: String(cause) }),
      }),
    stallMs: 35_000,
    checkEveryMs: 1_000,
  })
}

/** Lets promise callbacks and forked fibers run. */
const settle = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe("makeWatchedProducer", () => {
  it.effect(
    "replaces a producer holding a send without any report past the stall time; later sends go to the new one",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const wedged = new TestProducer("hold")
          const fresh = new TestProducer("deliver")
          const producer = yield* watch([wedged, fresh])
          void producer.send(record).catch(() => undefined)
          yield* settle
          yield* TestClock.adjust("35 seconds")
          yield* settle
          expect(producer.replacements()).toBe(0)
          yield* TestClock.adjust("1 second")
          yield* settle
          expect(producer.replacements()).toBe(1)
          expect(fresh.connected).toBe(true)
          expect(wedged.disconnected).toBe(true)
          expect(yield* Effect.promise(() => producer.send(record))).toEqual([])
          expect(wedged.held).toHaveLength(1)
        }),
      ),
  )

  it.effect(
    "keeps a producer that keeps reporting, even failures (Kafka down: messages time out), and an idle one",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const slow = new TestProducer("hold")
          const producer = yield* watch([slow])
          yield* TestClock.adjust("10 minutes")
          // A send every 15 s, each failing 30 s later: sends always wait, and a report comes every 15 s.
          void producer.send(record).catch(() => undefined)
          for (let round = 0; round < 12; round++) {
            yield* settle
            yield* TestClock.adjust("15 seconds")
            void producer.send(record).catch(() => undefined)
            slow.held.shift()?.reject(Object.assign(new Error("Local: Message timed out"), { code: -192 }))
            yield* settle
          }
          yield* TestClock.adjust("15 seconds")
          slow.held.shift()?.reject(Object.assign(new Error("Local: Message timed out"), { code: -192 }))
          yield* settle
          yield* TestClock.adjust("1 minute")
          yield* settle
          expect(producer.replacements()).toBe(0)
          expect(slow.disconnected).toBe(false)
        }),
      ),
  )

  it.effect("replaces a producer after a fatal error", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fatal = new TestProducer("fatal")
        const fresh = new TestProducer("deliver")
        const producer = yield* watch([fatal, fresh])
        const failed = yield* Effect.promise(() =>
          producer.send(record).then(
            () => "delivered",
            () => "failed",
          ),
        )
        expect(failed).toBe("failed")
        yield* TestClock.adjust("1 second")
        yield* settle
        expect(producer.replacements()).toBe(1)
        expect(fatal.disconnected).toBe(true)
        expect(yield* Effect.promise(() => producer.send(record))).toEqual([])
      }),
    ),
  )

  it.effect("keeps the broken producer while its replacement cannot connect, and tries again", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wedged = new TestProducer("hold")
        const refused = new TestProducer("deliver", true)
        const fresh = new TestProducer("deliver")
        const producer = yield* watch([wedged, refused, fresh])
        void producer.send(record).catch(() => undefined)
        yield* settle
        yield* TestClock.adjust("36 seconds")
        yield* settle
        expect(producer.replacements()).toBe(0)
        expect(refused.disconnected).toBe(true)
        expect(wedged.disconnected).toBe(false)
        yield* TestClock.adjust("1 second")
        yield* settle
        expect(producer.replacements()).toBe(1)
        expect(fresh.connected).toBe(true)
        expect(wedged.disconnected).toBe(true)
      }),
    ),
  )

  it.effect("disconnects the current producer when its scope closes", () =>
    Effect.gen(function* () {
      const only = new TestProducer("deliver")
      yield* Effect.scoped(watch([only]))
      expect(only.connected).toBe(true)
      expect(only.disconnected).toBe(true)
    }),
  )
})
