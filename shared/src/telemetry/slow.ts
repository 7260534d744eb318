/**
 * A warning when an effect is still running after a while, without cutting it short: for waits
 * that should end soon but have no deadline of their own (an order stream's open, its answer),
 * so a stuck one shows in the logs instead of staying silent.
 */
import { Duration, Effect } from "effect"

/** Runs `effect`; if it is still running after `after`, runs `warning` once beside it. */
export const warnWhenSlow =
  <X>(after: Duration.Input, warning: Effect.Effect<X>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.scoped(Effect.andThen(Effect.forkScoped(Effect.delay(warning, Duration.fromInputUnsafe(after))), effect))
