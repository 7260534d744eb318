/**
 * In-process serialisation by key: effects given the same key run one at a time, in arrival
 * order; different keys run freely. An entry exists only while someone uses or waits for it, so
 * 100,000 idle keys cost nothing.
 *
 * Both services put one order's read-decide-commit steps behind it: within a process they queue
 * instead of conflicting; across processes the atomic commit's compare-and-set decides.
 */
import { Effect, Semaphore } from "effect"

export type SerialiseByKey = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

export const serialiseByKey = (): SerialiseByKey => {
  const entries = new Map<string, { readonly semaphore: Semaphore.Semaphore; users: number }>()
  return <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let entry = entries.get(key)
      if (entry === undefined) {
        entry = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
        entries.set(key, entry)
      }
      const held = entry
      held.users += 1
      return Semaphore.withPermit(held.semaphore)(effect).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            held.users -= 1
            if (held.users === 0) entries.delete(key)
          }),
        ),
      )
    })
}
