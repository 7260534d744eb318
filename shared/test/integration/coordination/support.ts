/**
 * What one "process" of the coordination tests runs on: a `Redis` connection on the test's key
 * prefix and its `WakeUps` — subscribed before the layer is ready (so a test can rely on a
 * wake-up), or `local` (no pub/sub: waiters only have their fallback poll).
 */
import { Effect, Layer } from "effect"
import { WakeUps, wakeUpsChannel } from "../../../src/coordination/WakeUps.ts"
import type { Redis } from "../../../src/redis/Redis.ts"
import { rawClient, redisLayer } from "../eventlog/support.ts"

export const processLayer = (keyPrefix: string, wakeUps: "pubsub" | "local" = "pubsub"): Layer.Layer<Redis | WakeUps> =>
  Layer.provideMerge(
    wakeUps === "local"
      ? WakeUps.layerLocalOnly
      : Layer.effect(
          WakeUps,
          WakeUps.make.pipe(Effect.tap((service) => service.subscribed.pipe(Effect.timeout("10 seconds")))),
        ).pipe(Layer.orDie),
    redisLayer(keyPrefix),
  )

/** Every wake-up published under `keyPrefix` (database 0) from now on, in order. */
export const recordWakeUps = async (keyPrefix: string) => {
  const client = await rawClient()
  const messages: Array<string> = []
  client.on("message", (_channel: string, message: string) => messages.push(message))
  await client.subscribe(wakeUpsChannel(keyPrefix, 0))
  return { messages, close: () => client.disconnect() }
}
