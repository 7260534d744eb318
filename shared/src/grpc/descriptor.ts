import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { DescriptorSetMissing } from "./errors.ts"

/** Written by `scripts/generate-proto.sh` (`buf build`): every file in proto/ plus its imports. */
export const descriptorSetPath = fileURLToPath(new URL("../generated/descriptor.binpb", import.meta.url))

export const loadDescriptorSet = (path: string = descriptorSetPath): Effect.Effect<Uint8Array, DescriptorSetMissing> =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (cause) =>
      new DescriptorSetMissing({ path, reason: cause instanceof Error ? cause.message : String(cause) }),
  }).pipe(Effect.map((buffer) => new Uint8Array(buffer)))
