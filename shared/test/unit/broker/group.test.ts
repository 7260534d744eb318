import { describe, expect, it } from "vitest"
import { effectiveGroupId, fnv1a, natsConsumerName } from "../../../src/broker/group.ts"
import { parsePattern } from "../../../src/broker/subject.ts"

describe("group naming", () => {
  it("keeps the plain group for <TOPIC>.> and scopes other patterns", () => {
    expect(effectiveGroupId("processor", parsePattern("SELLER_NOTIFY.>"))).toBe("processor")
    expect(effectiveGroupId("processor", parsePattern("SELLER_NOTIFY.*"))).toBe("processor@SELLER_NOTIFY.*")
    expect(effectiveGroupId("processor", parsePattern("*.>"))).toBe("processor@*.>")
  })

  it("makes valid, collision-free JetStream consumer names", () => {
    const valid = /^[A-Za-z0-9_-]{1,64}$/
    expect(natsConsumerName("processor", parsePattern("SELLER_NOTIFY.>"))).toBe("processor")
    const dotted = natsConsumerName("svc.a", parsePattern("T.>"))
    const underscored = natsConsumerName("svc_a", parsePattern("T.>"))
    expect(dotted).toMatch(valid)
    expect(dotted).not.toBe(underscored)
    const filtered = natsConsumerName("svc", parsePattern("T.ORD-1"))
    expect(filtered).toMatch(valid)
    expect(filtered).not.toBe(natsConsumerName("svc", parsePattern("T.ORD-2")))
    expect(natsConsumerName("x".repeat(200), parsePattern("T.>"))).toMatch(valid)
  })

  it("hashes stably", () => {
    expect(fnv1a("")).toBe("811c9dc5")
    expect(fnv1a("a")).toBe("e40c292c")
  })
})
