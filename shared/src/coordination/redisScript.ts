/**
 * Lua scripts run with `EVALSHA`, falling back to `EVAL` when the server does not have the script
 * cached yet (`NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`).
 *
 * Keys must be passed as `keys` (never computed inside the script): ioredis applies the client's
 * `keyPrefix` to them, and Redis knows which keys a script touches.
 */
import { createHash } from "node:crypto"
import type { RedisClient } from "../redis/Redis.ts"

export interface RedisScript {
  readonly name: string
  readonly source: string
  readonly sha: string
}

export const redisScript = (name: string, source: string): RedisScript => ({
  name,
  source,
  sha: createHash("sha1").update(source).digest("hex"),
})

const isNoScript = (error: unknown) => error instanceof Error && error.message.startsWith("NOSCRIPT")

/** Runs `script` with `keys` (prefixed by the client) and `args`. */
export const runScript = async (
  client: RedisClient,
  script: RedisScript,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number>,
): Promise<unknown> => {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args)
  } catch (error) {
    if (!isNoScript(error)) throw error
    return await client.eval(script.source, keys.length, ...keys, ...args)
  }
}
