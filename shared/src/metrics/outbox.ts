/**
 * `dcent_outbox_lag_seconds` (age of the oldest unpublished entry, 0 when empty) and
 * `dcent_outbox_pending_entries`, read from the service's outbox stream on every scrape (the
 * outbox is shared by the service's replicas, so every replica reports the same values).
 */
import { Effect, Layer } from "effect"
import { OutboxRelay } from "../outbox/OutboxRelay.ts"
import { Metrics } from "./Metrics.ts"

export const OutboxMetricsLive: Layer.Layer<never, never, OutboxRelay | Metrics> = Layer.effectDiscard(
  Effect.gen(function* () {
    const relay = yield* OutboxRelay
    const { catalogue, onScrape } = yield* Metrics
    yield* onScrape(
      "outbox",
      Effect.all([relay.lag, relay.backlog], { concurrency: 2 }).pipe(
        Effect.tap(([lagMs, pending]) =>
          Effect.sync(() => {
            catalogue.outboxLag.set(lagMs / 1000)
            catalogue.outboxPending.set(pending)
          }),
        ),
      ),
    )
  }),
)
