/**
 * A topic read live by an independent consumer (`kcat -C -J -u`, no consumer group), from a
 * point in time on: each message of the run's orders is timestamped when it arrives, traced back
 * to its submission (`Price`, see `ops.ts`), and checked — per key (one key lives in one
 * partition) seqs never step back or repeat, no event id twice.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { servers } from "../../support/servers.ts"
import { nowMs, opIdOf } from "./ops.ts"

interface KcatLine {
  readonly key: string | null
  readonly payload: string | null
}

export interface TopicIntegrity {
  messages: number
  /** Messages of other events (not submissions') seen twice. */
  duplicates: number
  /** A key's seq lower than one seen before. */
  regressions: number
}

/** The topic's partition count, from kcat's metadata listing (1 when it cannot be read). */
const partitionCount = (topic: string): Promise<number> =>
  new Promise((resolve) => {
    const broker = `${servers.kafka.host}:${servers.kafka.port}`
    const child = spawn("kcat", ["-b", broker, "-L", "-t", topic, "-J"], { stdio: ["ignore", "pipe", "ignore"] })
    let out = ""
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
    })
    child.once("error", () => resolve(1))
    child.once("exit", () => {
      try {
        const metadata = JSON.parse(out) as { topics?: Array<{ partitions?: Array<unknown> }> }
        resolve(Math.max(1, metadata.topics?.[0]?.partitions?.length ?? 1))
      } catch {
        resolve(1)
      }
    })
  })

export class TopicTail {
  readonly integrity: TopicIntegrity = { messages: 0, duplicates: 0, regressions: 0 }
  private readonly lastSeq = new Map<string, number>()
  private readonly eventIds = new Set<string>()
  private stderr = ""
  private stderrLine = ""
  private buffer = ""
  /** Partitions kcat has reached the end of at least once: it reads them live from there on. */
  private readonly atEnd = new Set<number>()

  readonly topic: string
  private readonly child: ChildProcess
  private readonly isOurs: (key: string) => boolean
  private readonly onSubmission: (opId: number, at: number) => void
  private readonly onOther: (key: string, status: string, at: number) => void

  private constructor(
    topic: string,
    child: ChildProcess,
    isOurs: (key: string) => boolean,
    onSubmission: (opId: number, at: number) => void,
    onOther: (key: string, status: string, at: number) => void,
  ) {
    this.topic = topic
    this.child = child
    this.isOurs = isOurs
    this.onSubmission = onSubmission
    this.onOther = onOther
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.read(chunk))
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4_000)
      this.stderrLine += chunk
      let end = this.stderrLine.indexOf("\n")
      while (end >= 0) {
        const partition = /Reached end of topic \S+ \[(\d+)\]/.exec(this.stderrLine.slice(0, end))?.[1]
        if (partition !== undefined) this.atEnd.add(Number(partition))
        this.stderrLine = this.stderrLine.slice(end + 1)
        end = this.stderrLine.indexOf("\n")
      }
    })
  }

  /** Tails `topic` from `sinceMs` (epoch ms); `isOurs` picks the run's keys (order ids). */
  static start(
    topic: string,
    sinceMs: number,
    isOurs: (key: string) => boolean,
    onSubmission: (opId: number, at: number) => void,
    onOther: (key: string, status: string, at: number) => void = () => {},
  ): TopicTail {
    const broker = `${servers.kafka.host}:${servers.kafka.port}`
    // Not quiet: its "Reached end of topic … [p]" lines on stderr tell when it reads live (`live`).
    const child = spawn("kcat", ["-b", broker, "-C", "-t", topic, "-o", `s@${Math.floor(sinceMs)}`, "-J", "-u"], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    child.once("error", (error) => process.stderr.write(`kcat ${topic}: ${error.message}\n`))
    return new TopicTail(topic, child, isOurs, onSubmission, onOther)
  }

  private read(chunk: string) {
    const at = nowMs()
    this.buffer += chunk
    let end = this.buffer.indexOf("\n")
    while (end >= 0) {
      const line = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 1)
      end = this.buffer.indexOf("\n")
      if (line.trim() !== "") this.message(line, at)
    }
  }

  private message(line: string, at: number) {
    let parsed: KcatLine
    try {
      parsed = JSON.parse(line) as KcatLine
    } catch {
      return
    }
    if (parsed.key === null || !this.isOurs(parsed.key)) return
    const payload = JSON.parse(parsed.payload ?? "{}") as {
      EventID?: string
      Seq?: number
      Status?: string
      Price?: string
    }
    this.integrity.messages += 1
    const opId = opIdOf(String(payload.Status ?? ""), payload.Price)
    const seq = Number(payload.Seq ?? 0)
    const last = this.lastSeq.get(parsed.key) ?? 0
    if (seq > 0 && seq < last) this.integrity.regressions += 1
    else this.lastSeq.set(parsed.key, seq)
    if (opId >= 0) {
      // Submissions' messages are counted against their submission (the ledger).
      this.onSubmission(opId, at)
      return
    }
    const eventId = payload.EventID ?? ""
    if (this.eventIds.has(eventId)) this.integrity.duplicates += 1
    else this.eventIds.add(eventId)
    this.onOther(parsed.key, String(payload.Status ?? ""), at)
  }

  /**
   * Waits (at most `timeoutMs`) until kcat has reached the end of every partition of the topic
   * once: from then on nothing produced is missed. Before that, an empty partition's start
   * offset ("the end") may be resolved only after the first messages were produced — the load
   * must not start earlier. False when it did not happen in time.
   */
  async live(timeoutMs: number): Promise<boolean> {
    const partitions = await partitionCount(this.topic)
    const deadline = Date.now() + timeoutMs
    while (this.atEnd.size < partitions) {
      if (Date.now() > deadline || !this.alive) return false
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return true
  }

  /** Whether kcat is still running (it exits on a bad broker or topic). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** What kcat wrote on stderr besides its "Reached end of topic" progress lines. */
  get errorOutput(): string {
    return this.stderr
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.includes("Reached end of topic"))
      .join("\n")
  }

  async stop(): Promise<void> {
    if (!this.alive) return
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()))
    this.child.kill("SIGTERM")
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3_000)
    await exited
    clearTimeout(timer)
  }
}
