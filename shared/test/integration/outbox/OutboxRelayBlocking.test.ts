/**
 * OutboxRelay waits for new entries with `XREADGROUP … BLOCK` on a dedicated connection instead
 * of polling: while idle it sends about one read per `blockMs`, an entry committed meanwhile is
 * published at once (long before that read would have timed out), and neither a drain nor the
 * shutdown waits for a blocked read. Commands are counted through the main client's
 * `sendCommand` (where the metrics hook sits), which the dedicated connection goes through too.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { Broker } from "../../../src/broker/Broker.ts"
import { makeMemoryBroker } from "../../../src/broker/memory.ts"
import { Topics } from "../../../src/broker/topics.ts"
import { makeDraft, type OrderEventRecord } from "../../../src/orders/events.ts"
import { OrderEventLog } from "../../../src/orders/OrderEventLog.ts"
import { eventTopicMessage, MessageKeys } from "../../../src/orders/topicMessage.ts"
import { OutboxRelay, type OutboxRelayOptions } from "../../../src/outbox/OutboxRelay.ts"
import { Redis } from "../../../src/redis/Redis.ts"
import { Drain } from "../../../src/runtime/Drain.ts"
import { deleteKeys, eventually, redisLayer, testPrefix } from "../eventlog/support.ts"
import { countCommands } from "./support.ts"

const scopes: Array<Scope.Closeable> = []
const prefixes: Array<string> = []
afterEach(async () => {
  await Promise.all(scopes.splice(0).map((scope) => Effect.runPromise(Scope.close(scope, Exit.void))))
  await Promise.all(prefixes.splice(0).map(deleteKeys))
})

/** Long BLOCK, no XAUTOCLAIM in the test's time: every read counted is a wait for new entries. */
const blockingRelay: OutboxRelayOptions = {
  consumerName: "relay-blocking",
  blockMs: 10_000,
  claimEveryMs: 600_000,
  retry: { initialMs: 10, maxMs: 100 },
}

const start = async (options: OutboxRelayOptions) => {
  const prefix = testPrefix("outbox-block")
  prefixes.push(prefix)
  const memory = await Effect.runPromise(makeMemoryBroker())
  const published: Array<string> = []
  const broker = {
    ...memory,
    publish: (...args: Parameters<typeof memory.publish>) =>
      memory.publish(...args).pipe(Effect.tap(() => Effect.sync(() => published.push(args[0])))),
  }
  const scope = Effect.runSync(Scope.make())
  scopes.push(scope)
  const context = await Effect.runPromise(
    Layer.buildWithScope(
      Layer.mergeAll(OrderEventLog.layer, OutboxRelay.layer(options)).pipe(
        Layer.provideMerge(
          Layer.mergeAll(redisLayer(prefix), Layer.succeed(Broker, broker), Drain.layerWith("10 seconds")),
        ),
      ),
      scope,
    ),
  )
  return { context, published, scope }
}

const appendOne = (log: OrderEventLog["Service"], order: string) =>
  log.append(order, [makeDraft("NewProposal", `proposal of ${order}`, { proposalId: "P-1", details: {} })], {
    outbox: (records: ReadonlyArray<OrderEventRecord>) =>
      records.map((record) =>
        eventTopicMessage(record, { topic: Topics.BuyerNotify, key: MessageKeys.OrderUpdates, sessionId: "S-1" }),
      ),
  })

describe("OutboxRelay blocking read", () => {
  it("sends no reads while idle and publishes a new entry as soon as it is committed", async () => {
    const { context, published } = await start(blockingRelay)
    const redis = Context.get(context, Redis)
    const log = Context.get(context, OrderEventLog)
    const relay = Context.get(context, OutboxRelay)
    await Effect.runPromise(
      Effect.gen(function* () {
        // Started: own pending entries read, now blocked on the first read of new entries.
        yield* Effect.sleep("500 millis")
        const commands = countCommands(redis.client)
        try {
          yield* Effect.sleep("2 seconds")
          // A 50 ms poll sends ~40 reads here; a blocked relay none (its read is still waiting).
          expect(commands.count("xreadgroup")).toBeLessThanOrEqual(1)
          const committed = Date.now()
          yield* appendOne(log, "ORD-BLOCK-1")
          // Within 2 s of a 10 s BLOCK: the waiting read returned with the entry.
          yield* eventually(
            () => published.length === 1,
            2_000,
            () => `${published.length}/1 published`,
          )
          expect(published).toEqual([`${Topics.BuyerNotify}.ORD-BLOCK-1`])
          expect(Date.now() - committed).toBeLessThan(2_000)
          // The entry's read plus the next wait, and the ack on the shared connection.
          yield* eventually(
            () => commands.count("xack") >= 1 && commands.count("xreadgroup") >= 1,
            2_000,
            () => "ack and the next blocking read",
          )
          expect(commands.count("xreadgroup")).toBeLessThanOrEqual(3)
          expect(yield* relay.backlog).toBe(0)
        } finally {
          commands.remove()
        }
      }),
    )
  }, 20_000)

  it("neither the drain nor the shutdown waits for a blocked read", async () => {
    const { context, scope } = await start(blockingRelay)
    const drain = Context.get(context, Drain)
    await Effect.runPromise(Effect.sleep("500 millis"))
    const reports = await Effect.runPromise(drain.run)
    const flush = reports.find((report) => report.name === "outbox relay flush")
    expect(flush?.outcome).toBe("done")
    // Woken (`CLIENT UNBLOCK`) instead of waiting out the 10 s BLOCK.
    expect(flush?.durationMs).toBeLessThan(2_000)
    const closing = Date.now()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    expect(Date.now() - closing).toBeLessThan(3_000)
  }, 20_000)
})
