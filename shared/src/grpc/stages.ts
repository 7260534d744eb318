/**
 * The gRPC servers' concerns (error details, metrics, admission, authentication, rate limits,
 * tracing) as stages of one nice-grpc server middleware.
 *
 * Each `server.use(...)` layer costs every call a copy of the call object, a `next` closure and a
 * relay of its responses, held for as long as the call runs: with six layers, ~2.8 KB per
 * `WatchOrder` stream (measured with `test/bench/watch-cost.ts`), 140 MB on a requestor holding
 * 50,000 of them, and a promise hop per layer and message. Stages keep the concerns apart, each
 * in its own file, and a call pays one layer for all of them.
 *
 * A stage's `enter` runs before the handler, in the order given; it may refuse the call (throw,
 * or reject) and may hand the handler a context with more in it. What it returns to run when the
 * call ends (done, failed, or cancelled) runs in the reverse order — what nested middlewares'
 * `finally` blocks did — and only for stages that were entered.
 */
import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common"
import { type RelayEnd, relayResponses } from "./relay.ts"

/** What `enter` returns: nothing, what to run when the call ends, and/or the handler's context. */
export type StageEntry =
  | undefined
  | ((end: RelayEnd) => void)
  | { readonly onEnd?: ((end: RelayEnd) => void) | undefined; readonly context: CallContext }

export interface ServerStage {
  readonly enter: (
    call: ServerMiddlewareCall<unknown, unknown>,
    context: CallContext,
  ) => StageEntry | Promise<StageEntry>
}

const isPromise = (entry: StageEntry | Promise<StageEntry>): entry is Promise<StageEntry> =>
  typeof entry === "object" && typeof (entry as Promise<StageEntry>).then === "function"

const noResponses = async function* <Response>(): AsyncGenerator<Response, void, undefined> {}

/**
 * The stages as one server middleware (`server.use(serverStages([...]))`). Stages that answer
 * synchronously run in the same tick; the call waits only for those that return a promise.
 */
export const serverStages =
  (stages: ReadonlyArray<ServerStage>): ServerMiddleware =>
  <Request, Response>(call: ServerMiddlewareCall<Request, Response>, context: CallContext) => {
    let onEnds: Array<(end: RelayEnd) => void> | undefined
    // Set once the call ended; a stage still entering then (the caller went away while it
    // waited) is ended at once, so what it took (a stream slot) is given back.
    let ended: RelayEnd | undefined
    let callContext = context
    const entered = (entry: StageEntry) => {
      if (entry === undefined) return
      const onEnd = typeof entry === "function" ? entry : entry.onEnd
      if (onEnd !== undefined && ended !== undefined) onEnd(ended)
      else if (onEnd !== undefined) {
        onEnds ??= []
        onEnds.push(onEnd)
      }
      if (typeof entry !== "function") callContext = entry.context
    }
    const from = (index: number): ReturnType<typeof call.next> | Promise<ReturnType<typeof call.next>> => {
      for (let at = index; at < stages.length; at++) {
        const entry = (stages[at] as ServerStage).enter(call as ServerMiddlewareCall<unknown, unknown>, callContext)
        if (isPromise(entry)) {
          return entry.then((resolved) => {
            entered(resolved)
            // Ended while this stage waited: the later stages and the handler do not run.
            return ended === undefined ? from(at + 1) : noResponses<Response>()
          })
        }
        entered(entry)
      }
      return call.next(call.request, callContext)
    }
    return relayResponses(from.bind(undefined, 0), (end) => {
      ended = end
      if (onEnds === undefined) return
      for (let at = onEnds.length - 1; at >= 0; at--) (onEnds[at] as (end: RelayEnd) => void)(end)
      onEnds = undefined
    })
  }
