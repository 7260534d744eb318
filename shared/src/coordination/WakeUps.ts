/**
 * Wake-ups across processes over Redis pub/sub, so the coordination primitives wait for a change
 * instead of polling Redis for it (a queued job, a freed permit, a released lock).
 *
 * - One channel per service prefix and Redis database, `<prefix>wake-ups@<db>` (pub/sub ignores
 *   database numbers), and one subscriber connection per process (a duplicate of the service's
 *   connection), whatever the number of waiters.
 * - A message is a topic (`queue:<q>`, `semaphore:<name>`, `lock:<name>`), published by the Lua
 *   script that made the change, atomically with it: `PUBLISH <channel> <topic>`.
 * - A waiter `listen`s to a topic for a scope and calls `next(timeoutMs)` between attempts. `next`
 *   returns at once when a wake-up arrived since the previous `next` (or since `listen`), so one
 *   that arrives between a failed attempt and the wait is not missed; otherwise when one arrives
 *   or `timeoutMs` passed. Mode `one`: a message wakes one listener of the topic in each process
 *   (a new job, a freed permit: one taker is enough); `all`: every listener (a released lock).
 * - Pub/sub delivers at most once: a message sent while the subscriber is disconnected is lost.
 *   Waiters therefore keep a (slow) fallback poll, and every listener is woken after a reconnect.
 */
import { Context, Duration, Effect, Latch, Layer, Option, type Scope } from "effect"
import { Redis } from "../redis/Redis.ts"
import { subscribeToChannel } from "../redis/subscriber.ts"

export type WakeMode = "one" | "all"

export interface WakeUpListener {
  /** Resolves `true` when woken (now or since the previous `next`), `false` after `timeoutMs`. */
  readonly next: (timeoutMs: number) => Effect.Effect<boolean>
}

export interface WakeUpsShape {
  /** The channel to `PUBLISH` topics on (pass it to a Lua script); "" when nothing listens. */
  readonly channel: string
  /** Wake-ups of `topic` for the calling scope's lifetime. */
  readonly listen: (topic: string, mode: WakeMode) => Effect.Effect<WakeUpListener, never, Scope.Scope>
  /** Wakes listeners of `topic` in this process as `count` messages would (e.g. a fallback check). */
  readonly wakeLocal: (topic: string, count: number) => void
  /** Listeners of `topic` in this process waiting in `next` now. */
  readonly waiting: (topic: string) => number
  /** Succeeds once the subscription is active (tests; waiters never depend on it). */
  readonly subscribed: Effect.Effect<void>
}

/** The channel of wake-ups under `keyPrefix` in Redis database `db`. */
export const wakeUpsChannel = (keyPrefix: string, db: number): string => `${keyPrefix}wake-ups@${db}`

interface Listener {
  readonly mode: WakeMode
  /** Woken while not waiting: the next `next` returns at once. */
  pending: boolean
  /** Set while waiting in `next`. */
  resume: (() => void) | undefined
}

/** The listeners of this process, by topic, and how a wake-up reaches them. */
const makeRegistry = () => {
  const topics = new Map<string, Set<Listener>>()

  const wakeListener = (listener: Listener) => {
    const resume = listener.resume
    listener.resume = undefined
    if (resume === undefined) listener.pending = true
    else resume()
  }

  /** `all` listeners are all woken; `count` of the `one` listeners, the oldest waiting ones first. */
  const wake = (topic: string, count: number) => {
    const listeners = topics.get(topic)
    if (listeners === undefined) return
    let left = count
    const ones: Array<Listener> = []
    for (const listener of listeners) {
      if (listener.mode === "all") wakeListener(listener)
      else ones.push(listener)
    }
    // Oldest first: listeners are kept in the order they started listening.
    for (const listener of ones) {
      if (left <= 0) break
      if (listener.resume === undefined) continue
      wakeListener(listener)
      left -= 1
    }
    // The others are between attempts: the next one to wait tries again at once.
    for (const listener of ones) {
      if (left <= 0) break
      if (listener.pending || listener.resume !== undefined) continue
      listener.pending = true
      left -= 1
    }
  }

  const wakeEveryone = () => {
    for (const topic of topics.keys()) wake(topic, Number.POSITIVE_INFINITY)
  }

  const waiting = (topic: string) => {
    let count = 0
    for (const listener of topics.get(topic) ?? []) if (listener.resume !== undefined) count += 1
    return count
  }

  const woken = (listener: Listener) =>
    Effect.callback<void>((resume) => {
      if (listener.pending) {
        listener.pending = false
        resume(Effect.void)
        return
      }
      listener.resume = () => resume(Effect.void)
      return Effect.sync(() => {
        listener.resume = undefined
      })
    })

  const listen = (topic: string, mode: WakeMode) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const listener: Listener = { mode, pending: false, resume: undefined }
        let listeners = topics.get(topic)
        if (listeners === undefined) {
          listeners = new Set()
          topics.set(topic, listeners)
        }
        listeners.add(listener)
        return listener
      }),
      (listener) =>
        Effect.sync(() => {
          const listeners = topics.get(topic)
          listeners?.delete(listener)
          if (listeners?.size === 0) topics.delete(topic)
          // A wake-up this listener did not use goes to another one.
          else if (listener.pending && listener.mode === "one") wake(topic, 1)
        }),
    ).pipe(
      Effect.map(
        (listener): WakeUpListener => ({
          next: (timeoutMs) =>
            Number.isFinite(timeoutMs)
              ? woken(listener).pipe(
                  Effect.timeoutOption(Duration.millis(Math.max(0, timeoutMs))),
                  Effect.map(Option.isSome),
                )
              : woken(listener).pipe(Effect.as(true)),
        }),
      ),
    )

  return { wake, wakeEveryone, waiting, listen }
}

export class WakeUps extends Context.Service<WakeUps, WakeUpsShape>()("dcent/WakeUps") {
  static readonly make = Effect.gen(function* () {
    const redis = yield* Redis
    const registry = makeRegistry()
    const channel = wakeUpsChannel(
      redis.keyPrefix,
      redis.cluster ? 0 : ((redis.client.options as { readonly db?: number }).db ?? 0),
    )
    const subscribed = Latch.makeUnsafe(false)

    // One subscriber connection for every waiter of this process.
    yield* subscribeToChannel(redis, {
      channel,
      onMessage: (topic) => registry.wake(topic, 1),
      onSubscribed: () => {
        subscribed.openUnsafe()
        // Wake-ups may have been published while we were not subscribed.
        registry.wakeEveryone()
      },
    })

    return WakeUps.of({
      channel,
      listen: registry.listen,
      wakeLocal: registry.wake,
      waiting: registry.waiting,
      subscribed: subscribed.await,
    })
  })

  /** Pub/sub on the service's Redis: one subscriber connection for the process. */
  static readonly layer: Layer.Layer<WakeUps, never, Redis> = Layer.effect(WakeUps, WakeUps.make)

  /**
   * No pub/sub: nothing is published and listeners are only woken by `wakeLocal`, so waiters
   * fall back to polling (tests of that fallback; a Redis without pub/sub).
   */
  static readonly layerLocalOnly: Layer.Layer<WakeUps> = Layer.sync(WakeUps, () => {
    const registry = makeRegistry()
    return WakeUps.of({
      channel: "",
      listen: registry.listen,
      wakeLocal: registry.wake,
      waiting: registry.waiting,
      subscribed: Effect.void,
    })
  })
}
