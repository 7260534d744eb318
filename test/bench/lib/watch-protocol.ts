/** Messages between the bench (`watchers.ts`) and its watcher processes (`watch-worker.ts`), over IPC. */

export interface OpenMessage {
  readonly t: "open"
  /** Every order of the scenario; watchers name them by index. */
  readonly orderIds: ReadonlyArray<string>
  /** One entry per watcher: order index, channel (0 gRPC, 1 SSE), target index. */
  readonly orders: ReadonlyArray<number>
  readonly channels: ReadonlyArray<number>
  readonly targets: ReadonlyArray<number>
  /** `WatchOrder` addresses and requestor base URLs, by target index. */
  readonly watchAddresses: ReadonlyArray<string>
  readonly requestorUrls: ReadonlyArray<string>
  /** gRPC streams sharing one channel (one HTTP/2 connection). */
  readonly streamsPerChannel: number
  /** Watchers started per second (a herd of opens all at once measures the herd, not the holding). */
  readonly openRate: number
  /** The buyer's `Bearer …` for `WatchOrder` and SSE, when the services authenticate. */
  readonly authorization?: string | undefined
}

export interface CloseMessage {
  readonly t: "close"
}

export type ToWorker = OpenMessage | CloseMessage

export interface WorkerStats {
  /** Watchers started / that received their first event / currently connected. */
  readonly started: number
  readonly firstEvents: number
  readonly connected: number
  readonly reconnects: number
}

export interface BatchMessage {
  readonly t: "batch"
  /** Submission deliveries: `[opId, channel, receivedAt, ...]`. */
  readonly deliveries: ReadonlyArray<number>
  /** First event of a watcher: `[channel, receivedAt, ...]`. */
  readonly firsts: ReadonlyArray<number>
  readonly stats: WorkerStats
}

export interface ChannelIntegrity {
  /** An event with the seq just seen again. */
  duplicates: number
  /** An event with a lower seq than one seen before. */
  regressions: number
  /** A seq more than one past the last one (an event skipped). */
  gaps: number
}

export interface SummaryMessage {
  readonly t: "summary"
  /** By channel (0 gRPC, 1 SSE). */
  readonly integrity: ReadonlyArray<ChannelIntegrity>
  /** Stream failures by cause (`grpc UNAVAILABLE`, `sse 503`, ...). */
  readonly errors: Readonly<Record<string, number>>
  readonly stats: WorkerStats
}

export type FromWorker = BatchMessage | SummaryMessage
