import { describe, expect, it } from "vitest"
import {
  encodeCommit,
  eventsChannel,
  notificationOf,
  orderEventsKey,
  outboxStreamKey,
  parseNotification,
  seqOfStreamId,
  writeArgs,
  writeProblem,
} from "../../../src/eventlog/encoding.ts"
import { keyShardOf, orderTag } from "../../../src/redis/keys.ts"

describe("event log encoding", () => {
  it("names keys and the channel", () => {
    // Tagged with the order's shard (one hash slot per commit on a Redis Cluster).
    expect(keyShardOf("ORD-1")).toBe(2)
    expect(orderEventsKey("ORD-1")).toBe("order:{shard-2}:ORD-1:events")
    expect(outboxStreamKey(2)).toBe("outbox:{shard-2}")
    expect(eventsChannel("dcent:processor:")).toBe("dcent:processor:events")
  })

  it("parses stream ids", () => {
    expect(seqOfStreamId("12-0")).toBe(12)
    expect(seqOfStreamId("1-5")).toBe(1)
    expect(seqOfStreamId("x-0")).toBeUndefined()
    expect(seqOfStreamId("12")).toBeUndefined()
    expect(seqOfStreamId("99999999999999999999-0")).toBeUndefined()
  })

  it("round-trips notifications, also for order ids containing ':'", () => {
    expect(parseNotification(notificationOf("ORD-1", 5))).toEqual({ logId: "ORD-1", seq: 5, eventsJson: [] })
    expect(parseNotification(notificationOf("a:b:c", 12))).toEqual({ logId: "a:b:c", seq: 12, eventsJson: [] })
    // The committed events ride along, one JSON text per line (JSON escapes its own line breaks).
    const events = [JSON.stringify({ seq: 11, message: "two\nlines" }), JSON.stringify({ seq: 12 })]
    expect(parseNotification(notificationOf("a:b:c", 12, events))).toEqual({
      logId: "a:b:c",
      seq: 12,
      eventsJson: events,
    })
    expect(parseNotification("nonsense")).toBeUndefined()
    expect(parseNotification(":5")).toBeUndefined()
    expect(parseNotification("ORD:x")).toBeUndefined()
  })

  it("validates writes", () => {
    expect(writeProblem({ op: "set", key: "k", value: "v" })).toBeUndefined()
    expect(writeProblem({ op: "set", key: "k", value: "v", pxMs: 10 })).toBeUndefined()
    expect(writeProblem({ op: "set", key: "k", value: "v", pxMs: 0 })).toContain("pxMs")
    expect(writeProblem({ op: "set", key: "k", value: "v", pxMs: 1.5 })).toContain("pxMs")
    expect(writeProblem({ op: "del", key: "" })).toContain("key")
    expect(writeProblem({ op: "zadd", key: "z", score: Number.POSITIVE_INFINITY, member: "m" })).toContain("finite")
    expect(writeProblem({ op: "sadd", key: "s", member: "m" })).toBeUndefined()
    expect(writeProblem({ op: "bogus", key: "k" } as never)).toContain("unknown write op")
  })

  it("encodes writes as three script arguments", () => {
    expect(writeArgs({ op: "set", key: "k", value: "v" })).toEqual(["set", "v", ""])
    expect(writeArgs({ op: "set", key: "k", value: "v", pxMs: 500 })).toEqual(["set", "v", "500"])
    expect(writeArgs({ op: "del", key: "k" })).toEqual(["del", "", ""])
    expect(writeArgs({ op: "hset", key: "h", field: "f", value: "v" })).toEqual(["hset", "f", "v"])
    expect(writeArgs({ op: "hdel", key: "h", field: "f" })).toEqual(["hdel", "f", ""])
    expect(writeArgs({ op: "zadd", key: "z", score: 1.5, member: "m" })).toEqual(["zadd", "1.5", "m"])
    expect(writeArgs({ op: "zrem", key: "z", member: "m" })).toEqual(["zrem", "m", ""])
    expect(writeArgs({ op: "srem", key: "s", member: "m" })).toEqual(["srem", "m", ""])
  })

  it("lays out a commit's keys and arguments", () => {
    const encoded = encodeCommit({
      expectedLastSeq: 3,
      channel: "p:events",
      logId: "ORD-1",
      events: ['{"seq":4}', '{"seq":5}'],
      outbox: [{ topic: "T", key: "ORD-1", headers: { a: "b" }, payload: "P" }],
      writes: [{ op: "hset", key: "h:{shard-2}", field: "f", value: "v" }],
    })
    expect(encoded).toEqual({
      _tag: "Encoded",
      keys: ["order:{shard-2}:ORD-1:events", "outbox:{shard-2}", "h:{shard-2}"],
      args: [
        "3",
        "p:events",
        "ORD-1",
        "2",
        "1",
        "1",
        '{"seq":4}',
        '{"seq":5}',
        "T",
        "ORD-1",
        '{"a":"b"}',
        "P",
        "hset",
        "f",
        "v",
      ],
    })
    // Conditions: their keys after the writes' keys, then #conditions and (field, allowed JSON) each.
    expect(
      encodeCommit({
        expectedLastSeq: -1,
        channel: "c",
        logId: "O",
        events: [],
        outbox: [],
        writes: [{ op: "sadd", key: `s:${orderTag("O")}`, member: "O" }],
        conditions: [{ key: `order:${orderTag("O")}:O`, field: "status", oneOf: ["", "REGISTERED"] }],
      }),
    ).toEqual({
      _tag: "Encoded",
      keys: [orderEventsKey("O"), outboxStreamKey(keyShardOf("O")), `s:${orderTag("O")}`, `order:${orderTag("O")}:O`],
      args: ["-1", "c", "O", "0", "0", "1", "sadd", "O", "", "1", "status", '["","REGISTERED"]'],
    })
    expect(
      encodeCommit({
        expectedLastSeq: 0,
        channel: "c",
        logId: "O",
        events: [],
        outbox: [{ topic: "", key: "O", headers: {}, payload: "" }],
        writes: [],
      }),
    ).toEqual({ _tag: "Invalid", problem: "outbox: empty topic" })
    // A key outside the order's hash slot is refused (it would fail with CROSSSLOT on a cluster).
    expect(
      encodeCommit({
        expectedLastSeq: 0,
        channel: "c",
        logId: "ORD-1",
        events: [],
        outbox: [],
        writes: [{ op: "sadd", key: "live-orders", member: "ORD-1" }],
      }),
    ).toEqual({ _tag: "Invalid", problem: "key live-orders is not in the log's hash slot (no {shard-2})" })
  })
})
