/**
 * A pipeline's replies (one round trip, several commands): ioredis answers each command with
 * `[error, value]`; a read that needs all of them fails with the first command that failed.
 */
import type { ChainableCommander } from "ioredis"

/** Runs `pipeline` and returns its commands' values in order, or throws the first command's error. */
export const pipelineValues = async (pipeline: ChainableCommander): Promise<ReadonlyArray<unknown>> => {
  const replies = (await pipeline.exec()) ?? []
  const failed = replies.find(([error]) => error !== null)
  if (failed !== undefined) throw failed[0]
  return replies.map(([, value]) => value)
}
