/**
 * The book of every submission a scenario sends: when it was meant to go (open loop) or went,
 * its answer, and each delivery of its event per channel (each `WatchOrder` / SSE watcher of the
 * order, each topic). From it: latencies per phase and channel, and the delivery checks — an
 * accepted submission's event must reach every watcher of its order and every topic exactly once.
 */
import type { ChannelCheck } from "./report.ts"
import { Samples } from "./stats.ts"

/** What the answer said about the submission's event. */
export const Outcomes = { pending: 0, accepted: 1, refused: 2, unknown: 3 } as const
export type Outcome = (typeof Outcomes)[keyof typeof Outcomes]

export class Ledger {
  private readonly order: Array<number> = []
  private readonly phase: Array<number> = []
  private readonly intendedAt: Array<number> = []
  private readonly outcome: Array<Outcome> = []
  /** Per channel, per op. */
  private readonly delivered: Array<Array<number>>
  private readonly latency = new Map<string, Samples>()
  /** When the last delivery of each phase's submissions arrived, per channel (epoch ms). */
  private readonly lastAt = new Map<string, number>()
  /** Deliveries still owed to accepted submissions. */
  private owed = 0
  readonly channels: ReadonlyArray<string>
  private readonly expected: (channel: number, order: number) => number

  /**
   * `channels`: names (`WatchOrder`, `SSE`, topic names); `expected(channel, order)`: how many
   * deliveries an accepted submission to `order` owes on `channel`.
   */
  constructor(channels: ReadonlyArray<string>, expected: (channel: number, order: number) => number) {
    this.channels = channels
    this.expected = expected
    this.delivered = channels.map(() => [])
  }

  get size(): number {
    return this.order.length
  }

  /** A new submission to `order` in `phase`, meant to be sent at `intendedAt` (epoch ms); its opId. */
  add(order: number, phase: number, intendedAt: number): number {
    const opId = this.order.length
    this.order.push(order)
    this.phase.push(phase)
    this.intendedAt.push(intendedAt)
    this.outcome.push(Outcomes.pending)
    for (const list of this.delivered) list.push(0)
    return opId
  }

  settle(opId: number, outcome: Outcome): void {
    if (this.outcome[opId] !== Outcomes.pending) return
    this.outcome[opId] = outcome
    if (outcome !== Outcomes.accepted) return
    const order = this.order[opId] as number
    this.channels.forEach((_, channel) => {
      this.owed += Math.max(
        0,
        this.expected(channel, order) - ((this.delivered[channel] as Array<number>)[opId] as number),
      )
    })
  }

  /** One delivery of submission `opId`'s event on `channel`, received at `at` (epoch ms). */
  deliver(opId: number, channel: number, at: number): void {
    const list = this.delivered[channel]
    if (list === undefined || opId >= list.length) return // not this ledger's (another run's order)
    const before = list[opId] as number
    list[opId] = before + 1
    if (this.outcome[opId] === Outcomes.accepted && before < this.expected(channel, this.order[opId] as number))
      this.owed -= 1
    const phase = this.phase[opId] as number
    this.samples(phase, channel).push(at - (this.intendedAt[opId] as number))
    const key = `${phase}:${channel}`
    if (at > (this.lastAt.get(key) ?? 0)) this.lastAt.set(key, at)
  }

  /** When the last delivery of `phase`'s submissions on `channel` arrived (epoch ms), if any did. */
  lastDelivery(phase: number, channel: number): number | undefined {
    return this.lastAt.get(`${phase}:${channel}`)
  }

  /** Deliveries accepted submissions still wait for. */
  get outstanding(): number {
    return this.owed
  }

  samples(phase: number, channel: number): Samples {
    const key = `${phase}:${channel}`
    let samples = this.latency.get(key)
    if (samples === undefined) {
      samples = new Samples()
      this.latency.set(key, samples)
    }
    return samples
  }

  /** Expected / delivered / lost / duplicated on `channel` (watchers' seq checks are added by the caller). */
  check(channel: number): ChannelCheck {
    const list = this.delivered[channel] as Array<number>
    let expected = 0
    let delivered = 0
    let lost = 0
    let duplicated = 0
    for (let opId = 0; opId < list.length; opId += 1) {
      const got = list[opId] as number
      const owed = this.expected(channel, this.order[opId] as number)
      const outcome = this.outcome[opId]
      delivered += got
      if (outcome === Outcomes.accepted) {
        expected += owed
        lost += Math.max(0, owed - got)
        duplicated += Math.max(0, got - owed)
      } else if (outcome === Outcomes.unknown || outcome === Outcomes.pending) duplicated += Math.max(0, got - owed)
      // A refused submission's event should not exist at all.
      else duplicated += got
    }
    return {
      channel: this.channels[channel] as string,
      expected,
      delivered,
      lost,
      duplicated,
      outOfOrder: 0,
      gaps: 0,
    }
  }
}
