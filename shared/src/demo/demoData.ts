/**
 * The sample data of `demo/data/` at the repository root, read by the services when
 * `DEMO_DATA=true` (the processor loads the sellers, the requestor the orders) and validated with
 * the same schema as the REST endpoint that would receive it.
 */
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"

/** `demo/data/<name>` at the repository root. */
export const demoDataPath = (name: string): string =>
  fileURLToPath(new URL(`../../../demo/data/${name}`, import.meta.url))

/** Reads a JSON array from `path` and decodes each element with `item`; errors name the file. */
export const loadDemoArray = <A, I>(path: string, item: Schema.Codec<A, I>): Effect.Effect<ReadonlyArray<A>, Error> => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Array(item)))
  return Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) => new Error(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`),
  }).pipe(
    Effect.flatMap((text) =>
      decode(text).pipe(Effect.mapError((error) => new Error(`invalid demo data in ${path}: ${error.message}`))),
    ),
  )
}
