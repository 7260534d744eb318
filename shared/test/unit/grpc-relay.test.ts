/**
 * `relayResponses`: what the server middlewares pass a call's responses through instead of an
 * async generator of their own. It must behave as `try { return yield* inner } finally { onEnd }`
 * did: same messages and return value, the prelude run on the first `next`, `onEnd` exactly once
 * when the responses end however they end, and never for responses that were not opened.
 */
import { describe, expect, it } from "vitest"
import { type RelayEnd, relayResponses } from "../../src/grpc/relay.ts"

const drain = async <T>(iterator: AsyncIterator<T, unknown>) => {
  const values: Array<T> = []
  while (true) {
    const result = await iterator.next()
    if (result.done === true) return { values, returned: result.value }
    values.push(result.value)
  }
}

/** Inner responses 1, 2 whose `finally` is observable: `closed()` once it ran. */
const closingInner = () => {
  let innerClosed = false
  async function* inner() {
    try {
      yield 1
      yield 2
    } finally {
      innerClosed = true
    }
  }
  return { inner, closed: () => innerClosed }
}

describe("relayResponses", () => {
  it("passes the messages and the return value, then ends once", async () => {
    const ends: Array<RelayEnd> = []
    async function* inner() {
      yield 1
      yield 2
      return 3
    }
    const relayed = relayResponses<number>(
      () => inner(),
      (end) => ends.push(end),
    )
    expect(await drain(relayed)).toEqual({ values: [1, 2], returned: 3 })
    expect(await relayed.next()).toEqual({ done: true, value: undefined })
    expect(ends).toEqual([{ failed: false }])
  })

  it("opens on the first next: a refusal there fails the call and ends it as failed", async () => {
    const ends: Array<RelayEnd> = []
    let opened = 0
    const refusal = new Error("refused")
    const relayed = relayResponses<number>(
      async () => {
        opened += 1
        throw refusal
      },
      (end) => ends.push(end),
    )
    expect(opened).toBe(0)
    await expect(relayed.next()).rejects.toBe(refusal)
    expect(opened).toBe(1)
    expect(ends).toEqual([{ failed: true, error: refusal }])
  })

  it("ends as failed when the inner responses fail mid-way", async () => {
    const ends: Array<RelayEnd> = []
    const failure = new Error("log unavailable")
    async function* inner() {
      yield 1
      throw failure
    }
    const relayed = relayResponses<number>(
      () => inner(),
      (end) => ends.push(end),
    )
    expect(await relayed.next()).toEqual({ done: false, value: 1 })
    await expect(relayed.next()).rejects.toBe(failure)
    expect(ends).toEqual([{ failed: true, error: failure }])
  })

  it("a caller's return closes the inner responses (their finally runs) and ends once", async () => {
    const ends: Array<RelayEnd> = []
    const { inner, closed } = closingInner()
    const relayed = relayResponses<number>(
      () => inner(),
      (end) => ends.push(end),
    )
    expect(await relayed.next()).toEqual({ done: false, value: 1 })
    await relayed.return(undefined)
    expect(closed()).toBe(true)
    await relayed.return(undefined)
    expect(ends).toEqual([{ failed: false }])
  })

  it("a caller's throw reaches the inner responses", async () => {
    const ends: Array<RelayEnd> = []
    const cause = new Error("write failed")
    let seen: unknown
    async function* inner() {
      try {
        yield 1
      } catch (error) {
        seen = error
        throw error
      }
    }
    const relayed = relayResponses<number>(
      () => inner(),
      (end) => ends.push(end),
    )
    await relayed.next()
    await expect(relayed.throw(cause)).rejects.toBe(cause)
    expect(seen).toBe(cause)
    expect(ends).toEqual([{ failed: true, error: cause }])
  })

  it("responses never iterated are not opened and not ended", async () => {
    const ends: Array<RelayEnd> = []
    let opened = 0
    const relayed = relayResponses<number>(
      () => {
        opened += 1
        return (async function* () {})()
      },
      (end) => ends.push(end),
    )
    await relayed.return(undefined)
    expect(await relayed.next()).toEqual({ done: true, value: undefined })
    expect(opened).toBe(0)
    expect(ends).toEqual([])
  })

  it("without onEnd, passes the inner results through as they are", async () => {
    async function* inner() {
      yield "a"
      return "b"
    }
    expect(await drain(relayResponses<string>(() => inner()))).toEqual({ values: ["a"], returned: "b" })
  })
})
