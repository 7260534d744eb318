/**
 * Pure helpers of the event log: Redis key names, the commit script's argument layout, and
 * parsing of stream ids and pub/sub notifications. Kept apart so they can be unit-tested.
 */
import { outboxEntryProblem, outboxStreamKey } from "../outbox/entry.ts"
import { keyShardOf, orderTag } from "../redis/keys.ts"
import type { CommitCondition, OutboxEntry, StateGuard, StateWrite } from "./types.ts"

export { outboxStreamKey } from "../outbox/entry.ts"

/**
 * The order's event stream (relative to the service's key prefix); entry id `{seq}-0`. Tagged with
 * the order's shard (`../redis/keys.ts`), like every key one commit touches.
 */
export const orderEventsKey = (logId: string): string => `order:${orderTag(logId)}:${logId}:events`

/**
 * The pub/sub channel announcing commits: `<logId>:<lastSeq>`, then one line per committed
 * event with its JSON (so a follow that is up to date takes the events from the message and
 * needs no read). Channel names are not prefixed by ioredis, so the service's prefix is part of
 * the name.
 */
export const eventsChannel = (keyPrefix: string): string => `${keyPrefix}events`

/** `12-0` → 12; `undefined` for anything else. */
export const seqOfStreamId = (id: string): number | undefined => {
  const match = /^(\d+)-\d+$/.exec(id)
  if (match === null) return undefined
  const seq = Number(match[1])
  return Number.isSafeInteger(seq) ? seq : undefined
}

export const notificationOf = (logId: string, lastSeq: number, eventsJson: ReadonlyArray<string> = []): string =>
  [`${logId}:${lastSeq}`, ...eventsJson].join("\n")

/**
 * Inverse of `notificationOf` (order ids may contain `:`; JSON text has no raw line breaks).
 * `eventsJson` are the committed events' JSON, oldest first (empty for an older message format).
 */
export const parseNotification = (
  message: string,
): { readonly logId: string; readonly seq: number; readonly eventsJson: ReadonlyArray<string> } | undefined => {
  const lines = message.split("\n")
  const header = lines[0] as string
  const at = header.lastIndexOf(":")
  if (at <= 0) return undefined
  const seq = Number(header.slice(at + 1))
  if (!Number.isSafeInteger(seq) || seq < 0) return undefined
  return { logId: header.slice(0, at), seq, eventsJson: lines.slice(1) }
}

/** Why `write` cannot be applied, or `undefined`. */
export const writeProblem = (write: StateWrite): string | undefined => {
  if (typeof write.key !== "string" || write.key === "") return `${write.op}: key must be a non-empty string`
  switch (write.op) {
    case "set":
      if (typeof write.value !== "string") return `set ${write.key}: value must be a string`
      if (write.pxMs !== undefined && !(Number.isSafeInteger(write.pxMs) && write.pxMs > 0)) {
        return `set ${write.key}: pxMs must be a positive integer, got ${write.pxMs}`
      }
      return undefined
    case "del":
      return undefined
    case "hset":
      return typeof write.field === "string" && typeof write.value === "string"
        ? undefined
        : `hset ${write.key}: field and value must be strings`
    case "hdel":
      return typeof write.field === "string" ? undefined : `hdel ${write.key}: field must be a string`
    case "zadd":
      if (!Number.isFinite(write.score)) return `zadd ${write.key}: score must be a finite number, got ${write.score}`
      return typeof write.member === "string" ? undefined : `zadd ${write.key}: member must be a string`
    case "zrem":
    case "sadd":
    case "srem":
      return typeof write.member === "string" ? undefined : `${write.op} ${write.key}: member must be a string`
    default:
      return `unknown write op ${JSON.stringify((write as { readonly op: unknown }).op)}`
  }
}

/** Three script arguments per write: `op, a, b`. */
export const writeArgs = (write: StateWrite): readonly [string, string, string] => {
  switch (write.op) {
    case "set":
      return ["set", write.value, write.pxMs === undefined ? "" : String(write.pxMs)]
    case "del":
      return ["del", "", ""]
    case "hset":
      return ["hset", write.field, write.value]
    case "hdel":
      return ["hdel", write.field, ""]
    case "zadd":
      return ["zadd", String(write.score), write.member]
    case "zrem":
    case "sadd":
    case "srem":
      return [write.op, write.member, ""]
  }
}

export interface CommitInput {
  /** The log's last seq the events follow; -1 when there are no events (no check). */
  readonly expectedLastSeq: number
  readonly channel: string
  readonly logId: string
  /** The records' JSON, seqs `expectedLastSeq + 1 …` in order. */
  readonly events: ReadonlyArray<string>
  readonly outbox: ReadonlyArray<OutboxEntry>
  readonly writes: ReadonlyArray<StateWrite>
  /** Checked before anything is written; a failed one changes nothing (`commitIf`). */
  readonly conditions?: ReadonlyArray<CommitCondition>
  /** String keys that must still hold what the caller read (`appendAt`); a changed one changes nothing. */
  readonly guards?: ReadonlyArray<StateGuard>
}

export type EncodedCommit =
  | { readonly _tag: "Encoded"; readonly keys: ReadonlyArray<string>; readonly args: ReadonlyArray<string> }
  | { readonly _tag: "Invalid"; readonly problem: string }

/** Keys and arguments for `commitScript`, or why the input cannot be committed. */
export const encodeCommit = (input: CommitInput): EncodedCommit => {
  for (const write of input.writes) {
    const problem = writeProblem(write)
    if (problem !== undefined) return { _tag: "Invalid", problem }
  }
  for (const entry of input.outbox) {
    const problem = outboxEntryProblem(entry)
    if (problem !== undefined) return { _tag: "Invalid", problem }
  }
  const conditions = input.conditions ?? []
  for (const condition of conditions) {
    if (typeof condition.key !== "string" || condition.key === "" || typeof condition.field !== "string") {
      return { _tag: "Invalid", problem: "condition: key and field must be non-empty strings" }
    }
  }
  const guards = input.guards ?? []
  for (const guard of guards) {
    if (typeof guard.key !== "string" || guard.key === "" || typeof guard.sha1 !== "string") {
      return { _tag: "Invalid", problem: "guard: key must be a non-empty string and sha1 a string" }
    }
  }
  // One hash slot (Redis Cluster): every key of the commit carries the order's shard tag.
  const tag = orderTag(input.logId)
  const untagged = [...input.writes, ...conditions, ...guards].find((item) => !item.key.includes(tag))
  if (untagged !== undefined) {
    return { _tag: "Invalid", problem: `key ${untagged.key} is not in the log's hash slot (no ${tag})` }
  }
  const keys = [
    orderEventsKey(input.logId),
    outboxStreamKey(keyShardOf(input.logId)),
    ...input.writes.map((write) => write.key),
    ...conditions.map((condition) => condition.key),
    ...guards.map((guard) => guard.key),
  ]
  const args: Array<string> = [
    String(input.expectedLastSeq),
    input.channel,
    input.logId,
    String(input.events.length),
    String(input.outbox.length),
    String(input.writes.length),
    ...input.events,
  ]
  for (const entry of input.outbox) {
    args.push(entry.topic, entry.key, JSON.stringify(entry.headers ?? {}), entry.payload)
  }
  for (const write of input.writes) args.push(...writeArgs(write))
  if (conditions.length > 0 || guards.length > 0) {
    args.push(String(conditions.length))
    for (const condition of conditions) args.push(condition.field, JSON.stringify(condition.oneOf))
  }
  if (guards.length > 0) {
    args.push(String(guards.length))
    for (const guard of guards) args.push(guard.sha1)
  }
  return { _tag: "Encoded", keys, args }
}

/**
 * The commit, atomic because it is one script: checks that the log still ends at
 * `expectedLastSeq` (else returns `{0, actualLastSeq}` and changes nothing), checks the
 * conditions (hash field values; else returns `{2, lastSeq}` and changes nothing), checks the
 * guards (the SHA-1 of a string key's value, "" = absent; else returns `{3, lastSeq}` and changes
 * nothing: a compare-and-set on state the caller read), checks every key's
 * type before the first write (a script is not rolled back on error, so nothing may fail
 * half-way), then appends the events (`{seq}-0`), the outbox entries and the state writes, and
 * publishes `notificationOf(logId, lastSeq, events)` on the events channel. Returns
 * `{1, newLastSeq}`.
 *
 * KEYS: events stream, outbox stream, one key per write, one key per condition, one per guard.
 * ARGV: expected last seq (-1: no check), channel, order id, #events, #outbox, #writes, the
 * events' JSON, 4 values per outbox entry (topic, key, headers, payload), 3 per write (op, a, b),
 * then (only when there are conditions or guards) #conditions and 2 per condition (field, allowed
 * values as a JSON array, "" = absent), then (only when there are guards) #guards and 1 per guard
 * (the expected SHA-1 hex of the value, "" = absent).
 */
export const commitLua = `
local expected = tonumber(ARGV[1])
local nEvents = tonumber(ARGV[4])
local nOutbox = tonumber(ARGV[5])
local nWrites = tonumber(ARGV[6])
local outboxAt = 7 + nEvents
local writesAt = outboxAt + 4 * nOutbox

local types = {}
local function typeOf(key)
  if types[key] == nil then types[key] = redis.call('TYPE', key)['ok'] end
  return types[key]
end
local function expectType(key, wanted)
  local t = typeOf(key)
  if t ~= 'none' and t ~= wanted then
    return 'WRONGTYPE ' .. key .. ' holds a ' .. t .. ', not a ' .. wanted
  end
  return nil
end

local problem = expectType(KEYS[1], 'stream')
if problem then return redis.error_reply(problem) end
local last = 0
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top > 0 then last = tonumber(string.match(top[1][1], '^(%d+)')) end
if expected >= 0 and last ~= expected then return {0, last} end

local condsAt = writesAt + 3 * nWrites
local nConds = tonumber(ARGV[condsAt] or '0')
for c = 0, nConds - 1 do
  local key = KEYS[3 + nWrites + c]
  problem = expectType(key, 'hash')
  if problem then return redis.error_reply(problem) end
  local value = redis.call('HGET', key, ARGV[condsAt + 1 + 2 * c]) or ''
  local allowed = false
  for _, candidate in ipairs(cjson.decode(ARGV[condsAt + 2 + 2 * c])) do
    if candidate == value then allowed = true end
  end
  if not allowed then return {2, last} end
end

local guardsAt = condsAt + 1 + 2 * nConds
local nGuards = tonumber(ARGV[guardsAt] or '0')
for g = 0, nGuards - 1 do
  local key = KEYS[3 + nWrites + nConds + g]
  problem = expectType(key, 'string')
  if problem then return redis.error_reply(problem) end
  local value = redis.call('GET', key)
  local digest = ''
  if value then digest = redis.sha1hex(value) end
  if digest ~= ARGV[guardsAt + 1 + g] then return {3, last} end
end

if nOutbox > 0 then
  problem = expectType(KEYS[2], 'stream')
  if problem then return redis.error_reply(problem) end
end
local wanted = { hset = 'hash', hdel = 'hash', zadd = 'zset', zrem = 'zset', sadd = 'set', srem = 'set' }
for w = 0, nWrites - 1 do
  local op = ARGV[writesAt + 3 * w]
  local key = KEYS[3 + w]
  if wanted[op] then
    problem = expectType(key, wanted[op])
    if problem then return redis.error_reply(problem) end
    if op == 'hset' or op == 'zadd' or op == 'sadd' then types[key] = wanted[op] end
  elseif op == 'set' then
    types[key] = 'string'
  elseif op == 'del' then
    types[key] = 'none'
  else
    return redis.error_reply('unknown write op ' .. tostring(op))
  end
end

for e = 1, nEvents do
  redis.call('XADD', KEYS[1], (last + e) .. '-0', 'e', ARGV[6 + e])
end
for o = 0, nOutbox - 1 do
  local at = outboxAt + 4 * o
  redis.call('XADD', KEYS[2], '*', 'topic', ARGV[at], 'key', ARGV[at + 1], 'headers', ARGV[at + 2], 'payload', ARGV[at + 3])
end
for w = 0, nWrites - 1 do
  local at = writesAt + 3 * w
  local op, key, a, b = ARGV[at], KEYS[3 + w], ARGV[at + 1], ARGV[at + 2]
  if op == 'set' then
    if b ~= '' then redis.call('SET', key, a, 'PX', b) else redis.call('SET', key, a) end
  elseif op == 'del' then redis.call('DEL', key)
  elseif op == 'hset' then redis.call('HSET', key, a, b)
  elseif op == 'hdel' then redis.call('HDEL', key, a)
  elseif op == 'zadd' then redis.call('ZADD', key, a, b)
  elseif op == 'zrem' then redis.call('ZREM', key, a)
  elseif op == 'sadd' then redis.call('SADD', key, a)
  elseif op == 'srem' then redis.call('SREM', key, a)
  end
end
if nEvents > 0 then
  local lines = { ARGV[3] .. ':' .. (last + nEvents) }
  for e = 1, nEvents do lines[e + 1] = ARGV[6 + e] end
  redis.call('PUBLISH', ARGV[2], table.concat(lines, '\\n'))
end
return {1, last + nEvents}
`
