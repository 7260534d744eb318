/** Helpers of the outbox relay's integration tests. */
import type { Redis as IORedis } from "ioredis"

/**
 * Counts the commands sent through `client.sendCommand` (by lower-case name) until removed: the
 * relay's commands on the shared connection, including each one inside a `MULTI`.
 */
export const countCommands = (client: IORedis) => {
  const counts = new Map<string, number>()
  const original = client.sendCommand
  client.sendCommand = function (this: IORedis, ...args: Parameters<IORedis["sendCommand"]>) {
    const name = args[0].name.toLowerCase()
    counts.set(name, (counts.get(name) ?? 0) + 1)
    return original.apply(this, args)
  }
  return {
    count: (name: string) => counts.get(name) ?? 0,
    remove: () => {
      delete (client as { sendCommand?: unknown }).sendCommand
    },
  }
}
