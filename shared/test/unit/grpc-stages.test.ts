/**
 * `serverStages`: the gRPC servers' concerns as stages of one middleware. They must behave as the
 * same middlewares nested did: entered in order, ended innermost first and once, a refusal ending
 * only the stages entered before it, the handler given the context the stages built.
 */
import { type CallContext, Metadata, type ServerMiddlewareCall } from "nice-grpc-common"
import { describe, expect, it } from "vitest"
import type { RelayEnd } from "../../src/grpc/relay.ts"
import { type ServerStage, serverStages } from "../../src/grpc/stages.ts"

const drain = async <T>(iterator: AsyncIterator<T, unknown>) => {
  const values: Array<T> = []
  while (true) {
    const result = await iterator.next()
    if (result.done === true) return values
    values.push(result.value)
  }
}

const callContext = (): CallContext => ({
  metadata: Metadata(),
  peer: "ipv4:127.0.0.1:50000",
  header: Metadata(),
  sendHeader: () => {},
  trailer: Metadata(),
  signal: new AbortController().signal,
})

/** A server-streaming call whose handler yields `values` (or `handler`'s) and sees the context it was given. */
const streamingCall = (
  seen: Array<CallContext>,
  handler: () => AsyncGenerator<number, void> = async function* () {
    yield 1
    yield 2
  },
): ServerMiddlewareCall<string, number> => ({
  method: {
    path: "/dcent.test.v1.Test/Watch",
    requestStream: false,
    responseStream: true,
    options: {},
  },
  requestStream: false,
  responseStream: true,
  request: "watch",
  next: (_request, context) => {
    seen.push(context)
    return handler()
  },
})

/** A stage logging its entry and end into `log`. */
const logged = (name: string, log: Array<string>, enter?: () => void): ServerStage => ({
  enter: () => {
    log.push(`enter ${name}`)
    enter?.()
    return (end: RelayEnd) => log.push(`end ${name} ${end.failed ? "failed" : "ok"}`)
  },
})

describe("serverStages", () => {
  it("enters the stages in order, runs the handler, ends them innermost first, once", async () => {
    const log: Array<string> = []
    const seen: Array<CallContext> = []
    const responses = serverStages([logged("a", log), logged("b", log), logged("c", log)])(
      streamingCall(seen),
      callContext(),
    )
    expect(log).toEqual([]) // nothing runs before the first message is asked for
    expect(await drain(responses)).toEqual([1, 2])
    await responses.return(undefined)
    expect(log).toEqual(["enter a", "enter b", "enter c", "end c ok", "end b ok", "end a ok"])
    expect(seen).toHaveLength(1)
  })

  it("a refusal ends the stages entered before it, never the later ones nor the handler", async () => {
    const log: Array<string> = []
    const seen: Array<CallContext> = []
    const refusing = logged("b", log, () => {
      throw new Error("refused")
    })
    const responses = serverStages([logged("a", log), refusing, logged("c", log)])(streamingCall(seen), callContext())
    await expect(responses.next()).rejects.toThrow("refused")
    expect(log).toEqual(["enter a", "enter b", "end a failed"])
    expect(seen).toEqual([])
  })

  it("waits for a stage that answers with a promise, and a rejection refuses the call", async () => {
    const log: Array<string> = []
    const seen: Array<CallContext> = []
    const slow: ServerStage = {
      enter: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5))
        log.push("enter slow")
        return () => log.push("end slow")
      },
    }
    const accepted = serverStages([slow, logged("after", log)])(streamingCall(seen), callContext())
    expect(await drain(accepted)).toEqual([1, 2])
    expect(log).toEqual(["enter slow", "enter after", "end after ok", "end slow"])

    const rejecting: ServerStage = { enter: () => Promise.reject(new Error("unauthenticated")) }
    const refused = serverStages([logged("first", log), rejecting])(streamingCall(seen), callContext())
    await expect(refused.next()).rejects.toThrow("unauthenticated")
    expect(log.slice(-2)).toEqual(["enter first", "end first failed"])
    expect(seen).toHaveLength(1)
  })

  it("hands the handler the context a stage built, and the next stages see it too", async () => {
    const seen: Array<CallContext> = []
    const original = callContext()
    let seenByNext: CallContext | undefined
    const extending: ServerStage = { enter: (_call, context) => ({ context: { ...context, traceSpan: "span" } }) }
    const reading: ServerStage = {
      enter: (_call, context) => {
        seenByNext = context
        return undefined
      },
    }
    await drain(serverStages([extending, reading])(streamingCall(seen), original))
    expect((seen[0] as CallContext & { traceSpan?: string }).traceSpan).toBe("span")
    expect(seenByNext).toBe(seen[0])
    expect(seen[0]?.signal).toBe(original.signal)
  })

  it("a handler failing mid-stream ends every stage as failed", async () => {
    const log: Array<string> = []
    const failing = async function* () {
      yield 1
      throw new Error("log unavailable")
    }
    const responses = serverStages([logged("a", log), logged("b", log)])(streamingCall([], failing), callContext())
    expect(await responses.next()).toEqual({ done: false, value: 1 })
    await expect(responses.next()).rejects.toThrow("log unavailable")
    expect(log).toEqual(["enter a", "enter b", "end b failed", "end a failed"])
  })

  it("the caller going away closes the handler's responses and ends every stage once", async () => {
    const log: Array<string> = []
    let closed = false
    const endless = async function* () {
      try {
        while (true) yield 1
      } finally {
        closed = true
      }
    }
    const responses = serverStages([logged("a", log), logged("b", log)])(streamingCall([], endless), callContext())
    await responses.next()
    await responses.return(undefined)
    await responses.return(undefined)
    expect(closed).toBe(true)
    expect(log).toEqual(["enter a", "enter b", "end b ok", "end a ok"])
  })

  it("a stage still entering when the call ends is ended at once (what it took is given back)", async () => {
    const log: Array<string> = []
    let admit: () => void = () => {}
    const waiting: ServerStage = {
      enter: () =>
        new Promise((resolve) => {
          admit = () => resolve(() => log.push("slot released"))
        }),
    }
    const seen: Array<CallContext> = []
    const responses = serverStages([logged("a", log), waiting, logged("later", log)])(
      streamingCall(seen),
      callContext(),
    )
    const first = responses.next()
    await Promise.resolve()
    await responses.return(undefined)
    expect(log).toEqual(["enter a", "end a ok"])
    admit()
    expect(await first).toEqual({ done: true, value: undefined })
    expect(log).toEqual(["enter a", "end a ok", "slot released"])
    expect(seen).toEqual([]) // neither the later stages nor the handler ran
  })
})
