/**
 * Event-stream metrics: `dcent_streams_open{stream}`, `dcent_stream_disconnects_total{stream,
 * reason}` and `dcent_event_delivery_latency_seconds{stage}` (from an event's `occurred_at` to
 * the moment this process hands it on).
 *
 * `trackEventStream` wraps an Effect `Stream` of events: it counts the stream open while it
 * runs, observes the delivery latency of every element, and counts why it ended:
 * `completed` after the order's terminal event, `error` on a failure, and for an interruption or
 * an end before the terminal event whatever the caller says that means at its place
 * (a watch interrupted because its client left → `client_closed`; one ended by the service
 * stopping → `shutdown`).
 */
import { Clock, Effect, Exit, Stream } from "effect"
import {
  type Catalogue,
  type DeliveryStage,
  type DisconnectReason,
  DisconnectReasons,
  type StreamKind,
} from "./catalogue.ts"

export interface StreamTracker {
  readonly opened: () => void
  readonly closed: (reason: DisconnectReason) => void
}

/** Open/close counting for one stream kind (label children created once). */
export const streamTracker = (catalogue: Catalogue, kind: StreamKind): StreamTracker => {
  const open = catalogue.streamsOpen.labels(kind)
  const disconnects = new Map<DisconnectReason, ReturnType<typeof catalogue.streamDisconnects.labels>>(
    Object.values(DisconnectReasons).map((reason) => [reason, catalogue.streamDisconnects.labels(kind, reason)]),
  )
  // Present from the start (0), so dashboards and alerts see the series before the first stream.
  open.set(0)
  return {
    opened: () => open.inc(),
    closed: (reason) => {
      open.dec()
      disconnects.get(reason)?.inc()
    },
  }
}

/**
 * Observes `now − occurredAt` for one delivery stage; ignores unparsable times and times before
 * `notBefore` (epoch ms). `now` (epoch ms) is the caller's Effect `Clock`, so a `TestClock` drives it.
 */
export const deliveryObserver = (catalogue: Catalogue, stage: DeliveryStage) => {
  const child = catalogue.eventDeliveryLatency.labels(stage)
  return (occurredAt: Date | string | number | undefined, now: number, notBefore = Number.NEGATIVE_INFINITY): void => {
    if (occurredAt === undefined) return
    const at =
      typeof occurredAt === "number"
        ? occurredAt
        : occurredAt instanceof Date
          ? occurredAt.getTime()
          : Date.parse(occurredAt)
    if (!Number.isFinite(at) || at < notBefore) return
    child.observe(Math.max(0, now - at) / 1000)
  }
}

export interface TrackEventStreamOptions<A> {
  readonly kind: StreamKind
  readonly stage: DeliveryStage
  readonly occurredAt: (element: A) => Date | string | undefined
  /** The order's last event (the stream is complete after it). */
  readonly isTerminal: (element: A) => boolean
  /** What an interruption before the terminal event means here. */
  readonly onInterrupt: DisconnectReason
  /** What an end before the terminal event means here. */
  readonly onEarlyEnd: DisconnectReason
  /**
   * Leave out events that occurred before the stream opened (a client replaying history from
   * `from_seq`): their age says when the client connected, not how fast delivery is.
   */
  readonly liveOnly?: boolean
}

/** The reason a stream ended, from how it exited. */
export const disconnectReason = (
  exit: Exit.Exit<unknown, unknown>,
  sawTerminal: boolean,
  options: Pick<TrackEventStreamOptions<unknown>, "onInterrupt" | "onEarlyEnd">,
): DisconnectReason => {
  if (sawTerminal) return DisconnectReasons.Completed
  if (Exit.isSuccess(exit)) return options.onEarlyEnd
  return exit.cause.reasons.every((reason) => reason._tag === "Interrupt")
    ? options.onInterrupt
    : DisconnectReasons.Error
}

/** Makes a wrapper that counts `stream` open while it runs and observes each element's delivery latency. */
export const trackEventStream = <A>(catalogue: Catalogue, options: TrackEventStreamOptions<A>) => {
  const tracker = streamTracker(catalogue, options.kind)
  const observe = deliveryObserver(catalogue, options.stage)
  return <E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
    Stream.unwrap(
      Clock.clockWith((clock) =>
        Effect.sync(() => {
          let sawTerminal = false
          const openedAt = options.liveOnly === true ? clock.currentTimeMillisUnsafe() : Number.NEGATIVE_INFINITY
          tracker.opened()
          return stream.pipe(
            Stream.map((element) => {
              observe(options.occurredAt(element), clock.currentTimeMillisUnsafe(), openedAt)
              if (options.isTerminal(element)) sawTerminal = true
              return element
            }),
            Stream.onExit((exit) => Effect.sync(() => tracker.closed(disconnectReason(exit, sawTerminal, options)))),
          )
        }),
      ),
    )
}
