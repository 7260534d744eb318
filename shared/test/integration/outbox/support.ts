/** Helpers of the outbox relay's integration tests. */
import type { RedisClient } from "../../../src/redis/Redis.ts"

/**
 * Counts the commands sent through `client.sendCommand` (by lower-case name) until removed: the
 * relay's commands on the shared connection, including each one inside a `MULTI`.
 */
export const countCommands = (client: RedisClient) => {
  const counts = new Map<string, number>()
  const original = client.sendCommand as (...args: Array<unknown>) => unknown
  client.sendCommand = function (this: RedisClient, ...args: Array<unknown>) {
    const name = (args[0] as { readonly name: string }).name.toLowerCase()
    counts.set(name, (counts.get(name) ?? 0) + 1)
    return original.apply(this, args)
  } as RedisClient["sendCommand"]
  return {
    count: (name: string) => counts.get(name) ?? 0,
    remove: () => {
      delete (client as { sendCommand?: unknown }).sendCommand
    },
  }
}
