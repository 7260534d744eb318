/**
 * A nice-grpc middleware's pass-through of a call's responses without an `async function*` of its
 * own.
 *
 * A generator middleware (`return yield* call.next(...)` inside `try … finally`) keeps a suspended
 * generator — its frame, the call object, a request queue, promises — for as long as the call runs,
 * and resumes it for every message. A requestor holds 50,000 `WatchOrder` streams behind several
 * middlewares: that was kilobytes per stream and several promise hops per message and layer.
 * `relayResponses` forwards `next` / `return` / `throw` to the inner responses instead and calls
 * `onEnd` once when they end, as the generator's `finally` did. A relay with `onEnd` still waits
 * for each inner result (an async hop per message, a pending promise per idle stream): the
 * servers' concerns share one relay (`stages.ts`).
 */

/** How the call's responses ended, for `onEnd`. */
export type RelayEnd = { readonly failed: false } | { readonly failed: true; readonly error: unknown }

const ok: RelayEnd = { failed: false }

class Relay<T, R> implements AsyncGenerator<T, R, undefined> {
  private iterator: AsyncIterator<T, R, undefined> | undefined
  private started = false
  private ended = false
  // Dropped once called: what it closes over (the middleware's call) is not kept for the whole call.
  private open: (() => AsyncIterable<T, R, undefined> | Promise<AsyncIterable<T, R, undefined>>) | undefined
  private readonly onEnd: ((end: RelayEnd) => void) | undefined

  constructor(
    open: () => AsyncIterable<T, R, undefined> | Promise<AsyncIterable<T, R, undefined>>,
    onEnd: ((end: RelayEnd) => void) | undefined,
  ) {
    this.open = open
    this.onEnd = onEnd
  }

  [Symbol.asyncIterator]() {
    return this
  }

  async [Symbol.asyncDispose]() {
    await this.return()
  }

  next(): Promise<IteratorResult<T, R>> {
    const iterator = this.iterator
    if (iterator !== undefined) {
      // Nothing to do at the end: the inner responses as they are, no hop of our own.
      return this.onEnd === undefined ? iterator.next() : this.relay(iterator.next())
    }
    const open = this.open
    if (this.ended || open === undefined) return Promise.resolve({ done: true, value: undefined as R })
    this.started = true
    this.open = undefined
    // Runs what the generator ran before its first `yield*` (it may throw or reject: a refusal).
    return new Promise<AsyncIterable<T, R, undefined>>((resolve) => resolve(open()))
      .then((iterable) => {
        const opened = iterable[Symbol.asyncIterator]()
        if (this.ended) {
          // Returned while opening: close what was opened.
          return opened.return === undefined
            ? { done: true as const, value: undefined as R }
            : opened.return().then(() => ({ done: true as const, value: undefined as R }))
        }
        this.iterator = opened
        return opened.next()
      })
      .then(
        (result) => this.settle(result),
        (error: unknown) => this.fail(error),
      )
  }

  return(value?: R | PromiseLike<R>): Promise<IteratorResult<T, R>> {
    const iterator = this.iterator
    if (iterator === undefined || this.ended) {
      this.end(ok)
      return Promise.resolve(value).then((resolved) => ({ done: true as const, value: resolved as R }))
    }
    const returned =
      iterator.return === undefined
        ? Promise.resolve(value).then((resolved) => ({ done: true as const, value: resolved as R }))
        : iterator.return(value)
    return returned.then(
      (result) => {
        this.end(ok)
        return result
      },
      (error: unknown) => this.fail(error),
    )
  }

  throw(error: unknown): Promise<IteratorResult<T, R>> {
    const iterator = this.iterator
    if (iterator === undefined || this.ended || iterator.throw === undefined) {
      this.end({ failed: true, error })
      return Promise.reject(error)
    }
    return this.relay(iterator.throw(error))
  }

  /** One inner result passed on (no closures kept per call: one such wait per held stream). */
  private async relay(pending: Promise<IteratorResult<T, R>>): Promise<IteratorResult<T, R>> {
    try {
      return this.settle(await pending)
    } catch (error) {
      return this.fail(error)
    }
  }

  private settle(result: IteratorResult<T, R>): IteratorResult<T, R> {
    if (result.done === true) this.end(ok)
    return result
  }

  private fail(error: unknown): never {
    this.end({ failed: true, error })
    throw error
  }

  /** Once, and only for responses that started (a call never iterated ran nothing to undo). */
  private end(end: RelayEnd) {
    if (this.ended) return
    this.ended = true
    this.iterator = undefined
    if (!this.started) return
    this.onEnd?.(end)
  }
}

/** What a nice-grpc middleware returns: a server stream's responses, or a unary response as the return value. */
// biome-ignore lint/suspicious/noConfusingVoidType: nice-grpc's own middleware result type
export type CallResponses<Response> = AsyncGenerator<Response, Response | void, undefined>

/** What the inner middleware (or the handler) returns. */
// biome-ignore lint/suspicious/noConfusingVoidType: nice-grpc's own middleware result type
type InnerResponses<Response> = AsyncIterable<Response, Response | void, undefined>

/**
 * The responses `open()` returns, opened on the first `next()` (what runs before a generator's
 * first `yield*`: it may throw or reject), with `onEnd` called once when they end — done, failed,
 * or returned by the caller — if they were opened. Without `onEnd`, messages pass with no
 * promise of this layer.
 */
export const relayResponses = <Response>(
  open: () => InnerResponses<Response> | Promise<InnerResponses<Response>>,
  onEnd?: (end: RelayEnd) => void,
): CallResponses<Response> => new Relay(open, onEnd)
