/**
 * Lua scripts run with `EVALSHA`, falling back to `EVAL` when the server does not have the script
 * cached yet (`NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`).
 *
 * Keys must be passed as `keys` (never computed inside the script): ioredis applies the client's
 * `keyPrefix` to them, and Redis knows which keys a script touches.
 */
import { createHash } from "node:crypto"
import { Cluster } from "ioredis"
import { isSlotRedirect } from "../redis/errors.ts"
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

/** How a script is run: by its sha, or (after `NOSCRIPT`) with its source. */
type ScriptCall = (command: "evalsha" | "eval") => Promise<unknown>

/** `call` by sha first; once more with the source when Redis does not have the script cached. */
const evalShaOrSource = async (call: ScriptCall): Promise<unknown> => {
  try {
    return await call("evalsha")
  } catch (error) {
    if (!isNoScript(error)) throw error
    return await call("eval")
  }
}

/** Runs a script with `keys` (prefixed by the client) and `args`. */
export type ScriptRunner = (
  client: RedisClient,
  script: RedisScript,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number>,
) => Promise<unknown>

export const runScript: ScriptRunner = (client, script, keys, args) =>
  evalShaOrSource((command) =>
    command === "evalsha"
      ? client.evalsha(script.sha, keys.length, ...keys, ...args)
      : client.eval(script.source, keys.length, ...keys, ...args),
  )

/** How long a commit on a Redis Cluster waits for a replica to have it (`WAIT 1 <ms>`). */
export const replicaWaitMs = 1_000

/**
 * `runScript`, then — on a Redis Cluster — `WAIT 1 replicaWaitMs` on the same node connection (one
 * pipeline, routed by the keys' slot): replication is asynchronous, and a master killed right
 * after answering would take the write with it when its replica is promoted. The reply comes once
 * a replica has the write (or after `replicaWaitMs` without one: the master has it in its AOF and
 * there is no replica to promote). On one node it is `runScript`.
 */
export const runScriptReplicated: ScriptRunner = (client, script, keys, args) => {
  if (!(client instanceof Cluster)) return runScript(client, script, keys, args)
  return evalShaOrSource(async (command) => {
    const pipeline = client.pipeline()
    if (command === "evalsha") pipeline.evalsha(script.sha, keys.length, ...keys, ...args)
    else pipeline.eval(script.source, keys.length, ...keys, ...args)
    pipeline.call("WAIT", 1, replicaWaitMs)
    const replies = (await pipeline.exec()) as Array<[Error | null, unknown]>
    const [error, result] = replies[0] as [Error | null, unknown]
    if (error !== null) {
      // ioredis does not follow a redirect inside a pipeline: learn where the slot went before
      // the caller sends it again (`MOVED` is an outage to it, see `commandFailure`).
      if (isSlotRedirect(error)) client.refreshSlotsCache()
      throw error
    }
    return result
  })
}
