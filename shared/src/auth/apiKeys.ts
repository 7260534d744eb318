/**
 * API keys (`X-API-Key`) for service and operator clients, configured hashed in
 * `AUTH_API_KEYS_FILE`:
 *
 *   [{ "sha256": "<hex SHA-256 of the key>", "sub": "requestor", "roles": ["service"] },
 *    { "sha256": "…", "sub": "ops-console", "roles": ["operator"] }]
 *
 * Only the hashes are stored; a presented key is hashed and looked up. Keys are random (e.g.
 * `openssl rand -hex 32`, or `make api-key SUB=… ROLE=…`), so an unsalted SHA-256 is enough.
 */
import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { Effect, Schema } from "effect"
import { ApiKeysFileError } from "./errors.ts"
import { isRole, type Principal, Roles } from "./Principal.ts"

export const hashApiKey = (key: string): string => createHash("sha256").update(key, "utf8").digest("hex")

const Entry = Schema.Struct({
  sha256: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/, { message: "Expected 64 lower-case hex digits" })),
  sub: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128)),
  roles: Schema.Array(Schema.Literals(Roles)),
})
const Entries = Schema.Array(Entry)

/** Hash → principal. */
export type ApiKeyTable = ReadonlyMap<string, Principal>

/** Parses the file's text (JSON). The problem never echoes a hash. */
export const parseApiKeys = (path: string, text: string): Effect.Effect<ApiKeyTable, ApiKeysFileError> =>
  Effect.gen(function* () {
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => new ApiKeysFileError({ path, problem: "not valid JSON" }),
    })
    const entries = yield* Schema.decodeUnknownEffect(Entries)(json).pipe(
      Effect.mapError(
        () =>
          new ApiKeysFileError({
            path,
            problem: `expected a JSON array of {"sha256": "<64 hex>", "sub": "...", "roles": [${Roles.map((r) => `"${r}"`).join(", ")}]}`,
          }),
      ),
    )
    const table = new Map<string, Principal>()
    for (const entry of entries) {
      table.set(entry.sha256, { sub: entry.sub, roles: entry.roles.filter(isRole), via: "api_key" })
    }
    return table
  })

export const loadApiKeys = (path: string): Effect.Effect<ApiKeyTable, ApiKeysFileError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new ApiKeysFileError({ path, problem: cause instanceof Error ? cause.message : "cannot be read" }),
  }).pipe(Effect.flatMap((text) => parseApiKeys(path, text)))
