import { describe, expect, it } from "vitest"
import {
  formatSubject,
  InvalidSubject,
  isTopicName,
  matches,
  parsePattern,
  parseSubject,
  patternForTopic,
  patternTopics,
} from "../../../src/broker/subject.ts"

const reason = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidSubject)
    return (error as InvalidSubject).message
  }
  throw new Error("expected InvalidSubject")
}

describe("parseSubject", () => {
  it("splits the first token (topic) from the key, which may contain dots", () => {
    expect(parseSubject("SELLER_NOTIFY.ORD-001")).toEqual({
      subject: "SELLER_NOTIFY.ORD-001",
      topic: "SELLER_NOTIFY",
      key: "ORD-001",
    })
    expect(parseSubject("REQ_failures.ORD-1.retry.2")).toMatchObject({ topic: "REQ_failures", key: "ORD-1.retry.2" })
  })

  it("rejects empty input, empty tokens and missing keys", () => {
    expect(reason(() => parseSubject(""))).toContain("empty")
    expect(reason(() => parseSubject("T..k"))).toContain("token 2 is empty")
    expect(reason(() => parseSubject(".T.k"))).toContain("token 1 is empty")
    expect(reason(() => parseSubject("T.k."))).toContain("token 3 is empty")
    expect(reason(() => parseSubject("T"))).toContain("no key")
  })

  it("rejects wildcards when publishing", () => {
    expect(reason(() => parseSubject("T.*"))).toContain('wildcard "*" is not allowed when publishing')
    expect(reason(() => parseSubject("T.a.>"))).toContain('wildcard ">"')
    expect(reason(() => parseSubject("*.k"))).toContain("wildcard")
    expect(reason(() => parseSubject("T.a*b"))).toContain("wildcard character inside a token")
    expect(reason(() => parseSubject("T.a b"))).toContain("whitespace")
  })

  it("rejects topic names Kafka or JetStream cannot carry", () => {
    expect(reason(() => parseSubject("BAD/TOPIC.k"))).toContain("may only contain")
    expect(reason(() => parseSubject(`${"x".repeat(250)}.k`))).toContain("longer than 249")
    expect(isTopicName("SELLER_NOTIFY")).toBe(true)
    expect(isTopicName("ct-1_a")).toBe(true)
    expect(isTopicName("a.b")).toBe(false)
  })

  it("formats and validates", () => {
    expect(formatSubject("BUYER_NOTIFY", "ORD-9")).toBe("BUYER_NOTIFY.ORD-9")
    expect(() => formatSubject("BUYER_NOTIFY", "")).toThrow(InvalidSubject)
  })
})

describe("parsePattern", () => {
  it("accepts literal, * and > patterns", () => {
    expect(parsePattern("BUYER_NOTIFY.>")).toMatchObject({ topic: "BUYER_NOTIFY", keyPattern: ">", wholeTopic: true })
    expect(parsePattern("*.ORD-1")).toMatchObject({ topic: undefined, keyPattern: "ORD-1", wholeTopic: false })
    expect(parsePattern(">")).toMatchObject({ topic: undefined, keyPattern: ">", wholeTopic: true })
    expect(parsePattern("*.>")).toMatchObject({ topic: undefined, wholeTopic: true })
    expect(parsePattern("T.*.x")).toMatchObject({ topic: "T", keyPattern: "*.x", wholeTopic: false })
  })

  it("explains what is wrong", () => {
    expect(reason(() => parsePattern("T.>.x"))).toContain('">" must be the last token (found at token 2 of 3)')
    expect(reason(() => parsePattern("T..x"))).toContain("token 2 is empty")
    expect(reason(() => parsePattern("T"))).toContain('use "T.>"')
    expect(reason(() => parsePattern("*"))).toContain("no key part")
    expect(reason(() => parsePattern("T.a*"))).toContain("wildcard character inside a token")
    expect(reason(() => parsePattern("B@D.>"))).toContain("may only contain")
  })
})

describe("matching", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["T.k", "T.k", true],
    ["T.k", "T.k2", false],
    ["T.k", "U.k", false],
    ["T.*", "T.k", true],
    ["T.*", "T.k.x", false],
    ["T.*", "T", false],
    ["T.>", "T.k", true],
    ["T.>", "T.k.x.y", true],
    ["T.>", "T", false],
    ["*.k", "T.k", true],
    ["*.k", "U.k", true],
    ["*.k", "T.k.x", false],
    ["*.*.x", "T.k.x", true],
    ["T.*.x", "T.k.y", false],
    [">", "T.k", true],
    [">", "T.k.x", true],
    ["*.>", "T.k.x", true],
    ["T.>", "T..k", false],
  ]
  it.each(cases)("%s vs %s → %s", (pattern, subject, expected) => {
    expect(matches(pattern, subject)).toBe(expected)
  })
})

describe("topics of a pattern", () => {
  it("is the literal topic, or every known topic for a wildcard topic token", () => {
    expect(patternTopics(parsePattern("T.>"), ["A", "B"])).toEqual(["T"])
    expect(patternTopics(parsePattern("*.k"), ["A", "B", "A"])).toEqual(["A", "B"])
    expect(patternForTopic(parsePattern("*.ORD-1"), "SELLER_NOTIFY")).toBe("SELLER_NOTIFY.ORD-1")
    expect(patternForTopic(parsePattern(">"), "SELLER_NOTIFY")).toBe("SELLER_NOTIFY.>")
  })
})
