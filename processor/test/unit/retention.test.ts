import { liveOrdersKeyOf, retentionKeyOf } from "@dcent/shared/archive/Archiver"
import { describe, expect, it } from "vitest"
import type { OrderState } from "../../src/orders/model.ts"
import { endedAtOf, retentionWrites } from "../../src/orders/retention.ts"

const base = {
  details: {
    orderReqId: "ORD-1",
    sessionId: "S",
    buyerId: "B",
    notificationType: "SMS",
    industry: "Steel",
    location: { lat: 1, lng: 2 },
    priority: "LOW",
    products: [],
    deliveryDate: "2026-12-01",
  },
  status: "SUBMITTED",
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:05:00.000Z",
  selectedSellers: [],
  proposals: {},
  notes: [],
  transactions: {},
  lastSeq: 1,
} as unknown as OrderState

const finalised = { ...base, status: "FINALISED", finalisedAt: "2026-01-01T01:00:00.000Z" } as OrderState
const expired = { ...base, status: "PAUSED", pausedReason: "expired" } as OrderState
const pausedByBuyer = { ...base, status: "PAUSED", pausedReason: "buyer" } as OrderState

describe("retention of processor orders", () => {
  it("an order ends when finalised or paused by expiry, not when paused by the buyer", () => {
    expect(endedAtOf(base)).toBeUndefined()
    expect(endedAtOf(pausedByBuyer)).toBeUndefined()
    expect(endedAtOf(finalised)).toBe(Date.parse("2026-01-01T01:00:00.000Z"))
    expect(endedAtOf(expired)).toBe(Date.parse(base.updatedAt))
  })

  it("a new order joins live-orders; finalising leaves it and starts retention; a resume stops it", () => {
    expect(retentionWrites("ORD-1", undefined, base)).toEqual([
      { op: "sadd", key: liveOrdersKeyOf("ORD-1"), member: "ORD-1" },
    ])
    expect(retentionWrites("ORD-1", base, base)).toEqual([])
    expect(retentionWrites("ORD-1", base, finalised)).toEqual([
      { op: "srem", key: liveOrdersKeyOf("ORD-1"), member: "ORD-1" },
      { op: "zadd", key: retentionKeyOf("ORD-1"), score: Date.parse("2026-01-01T01:00:00.000Z"), member: "ORD-1" },
    ])
    expect(retentionWrites("ORD-1", base, expired)).toEqual([
      { op: "zadd", key: retentionKeyOf("ORD-1"), score: Date.parse(base.updatedAt), member: "ORD-1" },
    ])
    expect(retentionWrites("ORD-1", expired, base)).toEqual([
      { op: "zrem", key: retentionKeyOf("ORD-1"), member: "ORD-1" },
    ])
    expect(retentionWrites("ORD-1", base, pausedByBuyer)).toEqual([])
  })
})
