import { describe, expect, it } from "vitest"
import { murmur2, partitionOfKey } from "../../../src/broker/kafka-keyReader.ts"

// Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2).
const vectors: ReadonlyArray<readonly [string, number]> = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
]

describe("the key reader's partitioner (Kafka's murmur2, as librdkafka's murmur2_random)", () => {
  it.each(vectors)("murmur2(%j) = %d", (key, hash) => {
    expect(murmur2(new TextEncoder().encode(key))).toBe(hash)
  })

  it("a key's partition is the positive hash modulo the partition count", () => {
    expect(partitionOfKey("21", 3)).toBe((-973932308 & 0x7fffffff) % 3)
    for (const key of ["ORD-001", "E2E-1234567890-ORD", ""]) {
      const partition = partitionOfKey(key, 7)
      expect(partition).toBeGreaterThanOrEqual(0)
      expect(partition).toBeLessThan(7)
    }
  })
})
