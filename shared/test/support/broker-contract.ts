/**
 * The broker contract: one suite body, run unchanged against every adapter (memory in the unit
 * project, Kafka and NATS JetStream in the integration project).
 *
 * Every test builds a fresh broker layer and uses its own topics (created through
 * `ensureTopics`, names unique per run) and its own consumer groups, so runs never see each
 * other's data. "Not delivered" is checked by waiting `quietMs` after the expected messages
 * arrived.
 */
import { Deferred, Effect, Exit, type Layer, Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Broker, type BrokerMessage } from "../../src/broker/Broker.ts"

export interface BrokerContractTarget {
  readonly name: string
  /** A fresh layer for a reachable broker. Wildcard topic tokens should expand only to topics ensured through it. */
  readonly layer: () => Layer.Layer<Broker, unknown>
  /** A layer pointing at a closed port, and the URL its error must name; omitted for `memory`. */
  readonly unreachable?: { readonly url: string; readonly layer: () => Layer.Layer<Broker, unknown> }
  /** How long to wait for expected messages. */
  readonly deliveryMs: number
  /** How long to wait before concluding that an unexpected message will not come. */
  readonly quietMs: number
  /** vitest timeout per test. */
  readonly testTimeoutMs: number
  /** Deletes the topics the suite created (real brokers keep them otherwise). */
  readonly deleteTopics?: (topics: ReadonlyArray<string>) => Promise<void>
}

interface Received {
  readonly member: string
  readonly subject: string
  readonly text: string
  readonly redelivered: boolean
  readonly message: BrokerMessage
}

const decoder = new TextDecoder()

let counter = 0
/** Letters, digits and `_` only: valid as a Kafka topic, a JetStream stream and a consumer name. */
const unique = (label: string) =>
  `ct_${label}_${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 7)}`

const collector = () => {
  const items: Array<Received> = []
  const handler = (member: string) => (message: BrokerMessage) =>
    Effect.sync(() => {
      items.push({
        member,
        subject: message.subject,
        text: decoder.decode(message.payload),
        redelivered: message.redelivered,
        message,
      })
    })
  return { items, handler }
}

/** Polls `condition` every 20 ms; fails with `describe()` in the message after `ms`. */
const waitFor = (ms: number, describeState: () => string, condition: () => boolean) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${ms} ms: ${describeState()}`))
      yield* Effect.sleep("20 millis")
    }
  })

export const brokerContract = (target: BrokerContractTarget) => {
  const run = <A, E>(body: Effect.Effect<A, E, Broker | Scope.Scope>): Promise<A> =>
    Effect.runPromise(body.pipe(Effect.scoped, Effect.provide(target.layer())) as Effect.Effect<A, unknown>)

  const created: Array<string> = []
  const ensure = (...names: Array<string>) =>
    Effect.gen(function* () {
      created.push(...names)
      const broker = yield* Broker
      yield* broker.ensureTopics(names.map((name) => ({ name, partitions: 3, replicationFactor: 1 })))
    })

  const timeout = target.testTimeoutMs

  describe(`broker contract: ${target.name}`, () => {
    afterAll(async () => {
      if (target.deleteTopics !== undefined && created.length > 0) await target.deleteTopics(created)
    })

    it(
      "answers healthCheck and rejects bad subjects, headers and unknown topics with BrokerError",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("bad")
            yield* ensure(topic)
            yield* broker.healthCheck

            const publishWildcard = yield* Effect.flip(broker.publish(`${topic}.*`, "x"))
            expect(publishWildcard._tag).toBe("BrokerError")
            expect(publishWildcard.message).toContain("wildcard")

            const noKey = yield* Effect.flip(broker.publish(topic, "x"))
            expect(noKey._tag).toBe("BrokerError")
            expect(noKey.message).toContain("no key")

            const emptyToken = yield* Effect.flip(broker.publish(`${topic}..k`, "x"))
            expect(emptyToken.message).toContain("empty")

            const badHeader = yield* Effect.flip(broker.publish(`${topic}.k`, "x", { headers: { "a b": "v" } }))
            expect(badHeader._tag).toBe("BrokerError")

            const started = Date.now()
            const unknown = unique("missing")
            const missing = yield* Effect.flip(broker.publish(`${unknown}.k`, "x"))
            expect(missing._tag).toBe("BrokerError")
            expect(missing.message).toContain(unknown)
            expect(Date.now() - started).toBeLessThan(5_000)

            const badPattern = yield* Effect.flip(
              broker.subscribe({ subject: `${topic}.>.x`, group: unique("g"), handler: () => Effect.void }),
            )
            expect(badPattern._tag).toBe("BrokerError")
            expect(badPattern.message).toContain('">" must be the last token')
          }),
        ),
      timeout,
    )

    it(
      "round-trips a binary payload and headers (including non-ASCII values)",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("rt")
            yield* ensure(topic)
            const got = collector()
            const sub = yield* broker.subscribe({
              subject: `${topic}.>`,
              group: unique("g"),
              fromBeginning: true,
              handler: got.handler("a"),
            })
            yield* sub.ready

            const payload = new Uint8Array([0, 1, 2, 127, 128, 254, 255, 0xc3, 0x28])
            const headers = {
              "content-type": "application/x-protobuf",
              "x-note": "héllo ✓ 日本語 — ünïcödé",
              traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            }
            yield* broker.publish(`${topic}.ORD-001`, payload, { headers })
            yield* broker.publish(`${topic}.ORD-002`, "plain text ✓")

            yield* waitFor(
              target.deliveryMs,
              () => JSON.stringify(got.items.map((r) => r.subject)),
              () => got.items.length >= 2,
            )
            const first = got.items.find((r) => r.subject === `${topic}.ORD-001`)!
            expect(first.message.topic).toBe(topic)
            expect(first.message.key).toBe("ORD-001")
            expect([...first.message.payload]).toEqual([...payload])
            expect(first.message.headers).toEqual(headers)
            expect(first.message.position).not.toBe("")
            expect(first.redelivered).toBe(false)

            const second = got.items.find((r) => r.subject === `${topic}.ORD-002`)!
            expect(second.text).toBe("plain text ✓")
            expect(second.message.headers).toEqual({})
          }),
        ),
      timeout,
    )

    it(
      "keeps per-key order: 200 messages over 5 keys, one consumer",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("order")
            yield* ensure(topic)
            const got = collector()
            const sub = yield* broker.subscribe({
              subject: `${topic}.>`,
              group: unique("g"),
              fromBeginning: true,
              handler: got.handler("a"),
            })
            yield* sub.ready

            const keys = ["K0", "K1", "K2", "K3", "K4"]
            // Keys in parallel, each key's 40 messages one after the other.
            yield* Effect.forEach(
              keys,
              (key) =>
                Effect.forEach(
                  Array.from({ length: 40 }, (_, i) => i),
                  (i) => broker.publish(`${topic}.${key}`, `${key}:${i}`),
                  { discard: true },
                ),
              { concurrency: "unbounded", discard: true },
            )

            yield* waitFor(
              target.deliveryMs,
              () => `${got.items.length}/200 received`,
              () => got.items.length >= 200,
            )
            yield* Effect.sleep(target.quietMs)
            expect(got.items).toHaveLength(200)
            for (const key of keys) {
              const sequence = got.items
                .filter((r) => r.subject === `${topic}.${key}`)
                .map((r) => Number(r.text.split(":")[1]))
              expect(sequence, `order of ${key}`).toEqual(Array.from({ length: 40 }, (_, i) => i))
            }
          }),
        ),
      timeout,
    )

    it(
      "matches wildcards: T.*, T.> with multi-token keys, *.<key> across topics",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const t1 = unique("w1")
            const t2 = unique("w2")
            yield* ensure(t1, t2)
            const star = collector()
            const tail = collector()
            const anyTopic = collector()
            for (const [subject, c] of [
              [`${t1}.*`, star],
              [`${t1}.>`, tail],
              ["*.KEY-1", anyTopic],
            ] as const) {
              const sub = yield* broker.subscribe({
                subject,
                group: unique("g"),
                fromBeginning: true,
                handler: c.handler(subject),
              })
              yield* sub.ready
            }

            const published = [
              `${t1}.KEY-1`,
              `${t1}.KEY-2`,
              `${t1}.KEY-1.sub.part`,
              `${t2}.KEY-1`,
              `${t2}.KEY-2`,
              `${t2}.KEY-1.sub`,
            ]
            for (const subject of published) yield* broker.publish(subject, subject)

            const expected = {
              star: [`${t1}.KEY-1`, `${t1}.KEY-2`],
              tail: [`${t1}.KEY-1`, `${t1}.KEY-1.sub.part`, `${t1}.KEY-2`],
              anyTopic: [`${t1}.KEY-1`, `${t2}.KEY-1`],
            }
            const state = () =>
              JSON.stringify({
                star: star.items.map((r) => r.subject),
                tail: tail.items.map((r) => r.subject),
                anyTopic: anyTopic.items.map((r) => r.subject),
              })
            yield* waitFor(
              target.deliveryMs,
              state,
              () =>
                star.items.length >= expected.star.length &&
                tail.items.length >= expected.tail.length &&
                anyTopic.items.length >= expected.anyTopic.length,
            )
            yield* Effect.sleep(target.quietMs)
            const subjects = (c: ReturnType<typeof collector>) => c.items.map((r) => r.subject).sort()
            expect(subjects(star)).toEqual(expected.star)
            expect(subjects(tail)).toEqual(expected.tail)
            expect(subjects(anyTopic)).toEqual(expected.anyTopic)
            for (const r of [...star.items, ...tail.items, ...anyTopic.items]) expect(r.text).toBe(r.subject)
          }),
        ),
      timeout,
    )

    it(
      "redelivers a message whose handler failed",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("retry")
            yield* ensure(topic)
            const attempts: Array<{ text: string; redelivered: boolean }> = []
            const handled: Array<string> = []
            const sub = yield* broker.subscribe({
              subject: `${topic}.>`,
              group: unique("g"),
              fromBeginning: true,
              handler: (message) =>
                Effect.suspend(() => {
                  const text = decoder.decode(message.payload)
                  attempts.push({ text, redelivered: message.redelivered })
                  if (text === "fails-once" && attempts.filter((a) => a.text === text).length === 1) {
                    return Effect.fail(new Error("handler failure on first attempt"))
                  }
                  handled.push(text)
                  return Effect.void
                }),
            })
            yield* sub.ready
            yield* broker.publish(`${topic}.K`, "fails-once")
            yield* broker.publish(`${topic}.K`, "after")

            yield* waitFor(
              target.deliveryMs,
              () => JSON.stringify(attempts),
              () => handled.includes("fails-once") && handled.includes("after"),
            )
            const tries = attempts.filter((a) => a.text === "fails-once")
            expect(tries.length).toBeGreaterThanOrEqual(2)
            expect(tries[0]!.redelivered).toBe(false)
            expect(tries[1]!.redelivered).toBe(true)
          }),
        ),
      timeout,
    )

    it(
      "redelivers to a new group member what a member whose scope closed had not acknowledged",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("dies")
            const group = unique("g")
            yield* ensure(topic)

            const taken = yield* Deferred.make<string>()
            const dyingScope = yield* Scope.make()
            const dying = yield* broker
              .subscribe({
                subject: `${topic}.>`,
                group,
                fromBeginning: true,
                handler: (message) =>
                  Deferred.succeed(taken, decoder.decode(message.payload)).pipe(Effect.andThen(Effect.never)),
              })
              .pipe(Scope.provide(dyingScope))
            yield* dying.ready
            yield* broker.publish(`${topic}.K`, "unacknowledged")
            expect(yield* Deferred.await(taken).pipe(Effect.timeout(target.deliveryMs))).toBe("unacknowledged")
            yield* Scope.close(dyingScope, Exit.void)

            const got = collector()
            const successor = yield* broker.subscribe({
              subject: `${topic}.>`,
              group,
              fromBeginning: true,
              handler: got.handler("successor"),
            })
            yield* successor.ready
            yield* waitFor(
              target.deliveryMs,
              () => JSON.stringify(got.items.map((r) => r.text)),
              () => got.items.some((r) => r.text === "unacknowledged"),
            )
          }),
        ),
      timeout,
    )

    it(
      "shares a group's messages between its members; another group sees them all",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("share")
            const group = unique("g")
            yield* ensure(topic)
            const shared = collector()
            const other = collector()
            const slow = (member: string) => (message: BrokerMessage) =>
              shared
                .handler(member)(message)
                .pipe(Effect.andThen(Effect.sleep("5 millis")))
            for (const member of ["a", "b"]) {
              const sub = yield* broker.subscribe({
                subject: `${topic}.>`,
                group,
                fromBeginning: true,
                handler: slow(member),
              })
              yield* sub.ready
            }
            const otherSub = yield* broker.subscribe({
              subject: `${topic}.>`,
              group: unique("other"),
              fromBeginning: true,
              handler: other.handler("other"),
            })
            yield* otherSub.ready

            const texts = Array.from({ length: 60 }, (_, i) => `m${i}`)
            yield* Effect.forEach(texts, (text, i) => broker.publish(`${topic}.ORD-${i}`, text), {
              concurrency: 8,
              discard: true,
            })

            const union = () => new Set(shared.items.map((r) => r.text))
            const state = () =>
              `group: ${union().size}/60 (a ${shared.items.filter((r) => r.member === "a").length}, b ${shared.items.filter((r) => r.member === "b").length}), other: ${new Set(other.items.map((r) => r.text)).size}/60`
            yield* waitFor(
              target.deliveryMs,
              state,
              () => union().size === 60 && new Set(other.items.map((r) => r.text)).size === 60,
            )
            yield* Effect.sleep(target.quietMs)
            const byA = shared.items.filter((r) => r.member === "a")
            const byB = shared.items.filter((r) => r.member === "b")
            expect(byA.length, state()).toBeGreaterThan(0)
            expect(byB.length, state()).toBeGreaterThan(0)
            expect([...union()].sort()).toEqual([...texts].sort())
            const bTexts = new Set(byB.map((r) => r.text))
            const both = byA.filter((r) => bTexts.has(r.text))
            const unexplained = both.filter(
              (r) => !r.redelivered && !byB.some((x) => x.text === r.text && x.redelivered),
            )
            expect(unexplained.map((r) => r.text)).toEqual([])
          }),
        ),
      timeout,
    )

    it(
      "starts a new group at the end unless fromBeginning",
      () =>
        run(
          Effect.gen(function* () {
            const broker = yield* Broker
            const topic = unique("latest")
            yield* ensure(topic)
            yield* broker.publish(`${topic}.K`, "before")
            const fromEnd = collector()
            const fromStart = collector()
            const endSub = yield* broker.subscribe({
              subject: `${topic}.>`,
              group: unique("g"),
              handler: fromEnd.handler("end"),
            })
            const startSub = yield* broker.subscribe({
              subject: `${topic}.>`,
              group: unique("g"),
              fromBeginning: true,
              handler: fromStart.handler("start"),
            })
            yield* endSub.ready
            yield* startSub.ready
            yield* broker.publish(`${topic}.K`, "after")
            yield* waitFor(
              target.deliveryMs,
              () =>
                JSON.stringify({ end: fromEnd.items.map((r) => r.text), start: fromStart.items.map((r) => r.text) }),
              () => fromEnd.items.length >= 1 && fromStart.items.length >= 2,
            )
            yield* Effect.sleep(target.quietMs)
            expect(fromEnd.items.map((r) => r.text)).toEqual(["after"])
            expect(fromStart.items.map((r) => r.text)).toEqual(["before", "after"])
          }),
        ),
      timeout,
    )

    const unreachable = target.unreachable
    it.skipIf(unreachable === undefined)(
      "fails with BrokerUnavailable naming the URL when the broker is unreachable",
      async () => {
        const { url, layer } = unreachable!
        const started = Date.now()
        const error = await Effect.runPromise(
          Effect.flip(
            Effect.gen(function* () {
              const broker = yield* Broker
              yield* broker.publish("BUYER_NOTIFY.ORD-1", "x")
            }).pipe(Effect.provide(layer())),
          ) as Effect.Effect<unknown>,
        )
        const elapsed = Date.now() - started
        expect(error).toMatchObject({ _tag: "BrokerUnavailable" })
        expect((error as Error).message).toContain(url)
        expect(elapsed).toBeLessThan(10_000)
      },
      timeout,
    )
  })
}
