/**
 * One flight of the outbox relay: hands a batch of messages to the broker all at once, in the
 * order given, and reports which ones the broker acknowledged.
 *
 * - Every publish is started (a child fiber started immediately, so it runs up to the broker's
 *   client before the next one starts) without waiting for the previous one: the messages are
 *   produced in the order given and are all in flight together, so the Kafka producer sends
 *   them in a few batched requests instead of one request per message.
 * - Per key: an item whose publish has already failed when the next item of its key comes up
 *   (refused at once, e.g. the broker is not connected) holds back the later items of that key:
 *   they are not sent in this flight. Items already in flight when an earlier one of their key
 *   fails later are not recalled; the broker keeps the order of one key's messages in flight
 *   (see `OutboxRelay.ts`).
 * - The flight waits at most `timeout` for the acknowledgements; what is still unanswered then
 *   is interrupted and counts as failed.
 * - `acknowledge` receives the items the broker acknowledged, also when the flight is
 *   interrupted part-way (it runs as a finalizer, so it is not interrupted itself).
 */
import { type Cause, type Duration, Effect, type Exit, Fiber, Option } from "effect"

export interface FlightItem {
  /** Items of one key keep their relative order. */
  readonly key: string
}

export interface FlightOutcome<T, E> {
  /** Acknowledged by the broker, in the order given. */
  readonly published: ReadonlyArray<T>
  /** Not published, in the order given: the failed items and those held back behind them. */
  readonly remaining: ReadonlyArray<T>
  /** Items whose publish failed (or got no answer within the timeout). */
  readonly failed: number
  /** Items not sent because an earlier item of their key had failed already. */
  readonly held: number
  /** Items that got no answer within the timeout (counted in `failed`). */
  readonly timedOut: number
  /** The first failure (not a timeout), for the log. */
  readonly firstFailure: Cause.Cause<E> | undefined
}

export const publishInOrder = <T extends FlightItem, E, R, R2>(options: {
  readonly items: ReadonlyArray<T>
  readonly publish: (item: T) => Effect.Effect<void, E, R>
  readonly timeout: Duration.Input
  readonly acknowledge: (published: ReadonlyArray<T>) => Effect.Effect<void, never, R2>
}): Effect.Effect<FlightOutcome<T, E>, never, R | R2> =>
  Effect.suspend(() => {
    const { items } = options
    const exits: Array<Exit.Exit<void, E> | undefined> = new Array(items.length)
    let timedOut = 0

    let acknowledged: ReadonlyArray<T> = []

    const fly = Effect.gen(function* () {
      /** Keys with an item that failed before a later item of theirs came up. */
      const blocked = new Set<string>()
      const running: Array<Fiber.Fiber<void, E>> = []
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!
        if (blocked.has(item.key)) continue
        const fiber = yield* options.publish(item).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              exits[i] = exit
            }),
          ),
          Effect.forkChild({ startImmediately: true }),
        )
        const exit = exits[i]
        if (exit === undefined) running.push(fiber)
        else if (exit._tag === "Failure") blocked.add(item.key)
      }
      if (running.length === 0) return
      const answered = yield* Fiber.awaitAll(running).pipe(Effect.timeoutOption(options.timeout))
      if (Option.isNone(answered)) {
        timedOut = running.filter((fiber) => fiber.pollUnsafe() === undefined).length
        yield* Fiber.interruptAll(running)
      }
    })

    return fly.pipe(
      Effect.ensuring(
        Effect.suspend(() => {
          acknowledged = items.filter((_, i) => exits[i]?._tag === "Success")
          return options.acknowledge(acknowledged)
        }),
      ),
      Effect.map((): FlightOutcome<T, E> => {
        const remaining: Array<T> = []
        let failed = 0
        let firstFailure: Cause.Cause<E> | undefined
        for (let i = 0; i < items.length; i++) {
          const exit = exits[i]
          if (exit?._tag === "Success") continue
          remaining.push(items[i]!)
          if (exit === undefined) continue
          failed += 1
          if (firstFailure === undefined && !exit.cause.reasons.every((reason) => reason._tag === "Interrupt")) {
            firstFailure = exit.cause
          }
        }
        return {
          published: acknowledged,
          remaining,
          failed,
          held: remaining.length - failed,
          timedOut,
          firstFailure,
        }
      }),
    )
  })
