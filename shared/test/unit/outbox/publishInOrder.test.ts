/** One flight of the outbox relay: all at once in order, failures holding back their key, bounded, acknowledged. */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { publishInOrder } from "../../../src/outbox/publishInOrder.ts"

interface Item {
  readonly key: string
  readonly n: number
}

const items = (spec: ReadonlyArray<[string, number]>): Array<Item> => spec.map(([key, n]) => ({ key, n }))
const names = (list: ReadonlyArray<Item>) => list.map((item) => `${item.key}${item.n}`)

describe("publishInOrder", () => {
  it("starts every publish before any is answered, in the order given, and acknowledges them together", async () => {
    const started: Array<string> = []
    const acknowledged: Array<Array<string>> = []
    const gate = Deferred.makeUnsafe<void>()
    const batch = items([
      ["a", 1],
      ["b", 1],
      ["a", 2],
      ["c", 1],
      ["a", 3],
    ])
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* publishInOrder({
          items: batch,
          publish: (item) =>
            Effect.sync(() => started.push(`${item.key}${item.n}`)).pipe(Effect.andThen(Deferred.await(gate))),
          timeout: "5 seconds",
          acknowledge: (published) => Effect.sync(() => acknowledged.push(names(published))),
        }).pipe(Effect.forkChild)
        // all five started while none was answered
        while (started.length < 5) yield* Effect.yieldNow
        expect(started).toEqual(["a1", "b1", "a2", "c1", "a3"])
        expect(acknowledged).toEqual([])
        yield* Deferred.succeed(gate, undefined)
        return yield* Fiber.join(fiber)
      }),
    )
    expect(names(outcome.published)).toEqual(["a1", "b1", "a2", "c1", "a3"])
    expect(outcome.remaining).toEqual([])
    expect(acknowledged).toEqual([["a1", "b1", "a2", "c1", "a3"]])
  })

  it("does not send the rest of a key after an item of it was refused at once; other keys go on", async () => {
    const sent: Array<string> = []
    const outcome = await Effect.runPromise(
      publishInOrder({
        items: items([
          ["a", 1],
          ["b", 1],
          ["a", 2],
          ["b", 2],
          ["a", 3],
        ]),
        publish: (item) =>
          Effect.suspend(() => {
            sent.push(`${item.key}${item.n}`)
            return item.key === "a" && item.n === 2 ? Effect.fail("refused") : Effect.void
          }),
        timeout: "5 seconds",
        acknowledge: () => Effect.void,
      }),
    )
    expect(sent).toEqual(["a1", "b1", "a2", "b2"])
    expect(names(outcome.published)).toEqual(["a1", "b1", "b2"])
    // the failed item first, then what its key held back, in order
    expect(names(outcome.remaining)).toEqual(["a2", "a3"])
    expect(outcome.failed).toBe(1)
    expect(outcome.held).toBe(1)
  })

  it.effect("gives up on what is not answered within the timeout (on the test clock); it counts as failed", () =>
    Effect.gen(function* () {
      const flight = yield* Effect.forkChild(
        publishInOrder({
          items: items([
            ["a", 1],
            ["b", 1],
            ["a", 2],
          ]),
          publish: (item) => (item.key === "a" ? Effect.never : Effect.void),
          timeout: "50 millis",
          acknowledge: () => Effect.void,
        }),
      )
      yield* TestClock.adjust("49 millis")
      expect(flight.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const outcome = yield* Fiber.join(flight)
      expect(names(outcome.published)).toEqual(["b1"])
      expect(names(outcome.remaining)).toEqual(["a1", "a2"])
      expect(outcome.failed).toBe(2)
      expect(outcome.timedOut).toBe(2)
      expect(outcome.firstFailure).toBeUndefined()
    }),
  )

  it("acknowledges what the broker took when the flight is interrupted", async () => {
    const acknowledged: Array<Array<string>> = []
    await Effect.runPromise(
      Effect.gen(function* () {
        let answered = 0
        const fiber = yield* publishInOrder({
          items: items([
            ["a", 1],
            ["b", 1],
          ]),
          publish: (item) =>
            item.key === "a"
              ? Effect.sync(() => {
                  answered += 1
                })
              : Effect.never,
          timeout: "10 seconds",
          acknowledge: (published) => Effect.sync(() => acknowledged.push(names(published))),
        }).pipe(Effect.forkChild)
        while (answered < 1) yield* Effect.yieldNow
        yield* Fiber.interrupt(fiber)
      }),
    )
    expect(acknowledged).toEqual([["a1"]])
  })
})
