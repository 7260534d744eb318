/**
 * Lua scripts run with `EVALSHA`, falling back to `EVAL` when the server does not have the script
 * cached yet (`NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`).
 *
 * Keys must be passed as `keys` (never computed inside the script): ioredis applies the client's
 * `keyPrefix` to them, and Redis knows which keys a script touches.
 */
import { createHash } from "node:crypto"
import { Cluster } from "ioredis"
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

/** How long a commit on a Redis Cluster waits for a replica to have it (`WAIT 1 <ms>`). */
export const replicaWaitMs = 1_000

/**
 * `runScript`, then — on a Redis Cluster — `WAIT 1 replicaWaitMs` on the same node connection (one
 * pipeline, routed by the keys' slot): replication is asynchronous, and a master killed right
 * after answering would take the write with it when its replica is promoted. The reply comes once
 * a replica has the write (or after `replicaWaitMs` without one: the master has it in its AOF and
 * there is no replica to promote). On one node it is `runScript`.
 */
export const runScriptReplicated = async (
  client: RedisClient,
  script: RedisScript,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number>,
): Promise<unknown> => {
  if (!(client instanceof Cluster)) return runScript(client, script, keys, args)
  const once = async (command: "evalsha" | "eval") => {
    const pipeline = client.pipeline()
    if (command === "evalsha") pipeline.evalsha(script.sha, keys.length, ...keys, ...args)
    else pipeline.eval(script.source, keys.length, ...keys, ...args)
    pipeline.call("WAIT", 1, replicaWaitMs)
    const replies = (await pipeline.exec()) as Array<[Error | null, unknown]>
    const [error, result] = replies[0] as [Error | null, unknown]
    if (error !== null) throw error
    return result
  }
  try {
    return await once("evalsha")
  } catch (error) {
    if (!isNoScript(error)) throw error
    return await once("eval")
  }
}
