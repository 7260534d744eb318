/**
 * A failed commit on the processor's REST path: an event log that gave up after conflicting
 * appends (`Contention`) or cannot reach Redis answers 503 + `Retry-After` (retry later), not
 * 500; an unreadable log is a bug (500). Served through the same routes and error rendering as
 * the processor (`apiRoutes`), with `Orders.run` failing as it does on an event-log failure.
 */
import { Authenticator } from "@dcent/shared/auth/Authenticator"
import { AuthenticationLive } from "@dcent/shared/auth/http"
import { EventLogError, type EventLogFailure } from "@dcent/shared/eventlog/errors"
import { apiRoutes } from "@dcent/shared/http/server"
import type { OutboxEntry } from "@dcent/shared/outbox/entry"
import { Effect, Layer, Option } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi } from "effect/http-api"
import { afterEach, describe, expect, it } from "vitest"
import { SellerFollowUpsApi } from "../../../src/orders/api.ts"
import { unavailableOrDefect } from "../../../src/orders/errors.ts"
import { SellerFailureReportingLive } from "../../../src/orders/failures.ts"
import { SellerFollowUpsHandlers } from "../../../src/orders/http.ts"
import { Orders } from "../../../src/orders/Orders.ts"

class FollowUpsOnlyApi extends HttpApi.make("processor").add(SellerFollowUpsApi) {}

/** The `PRP_FAILURES` reports the failed requests published. */
const published: Array<OutboxEntry> = []

/** `Orders` whose commit fails in the event log with `reason`, mapped as `Orders.run` maps it. */
const ordersFailingWith = (reason: EventLogFailure) =>
  Layer.succeed(Orders, {
    get: () => Effect.succeed(Option.none()),
    publish: (_orderReqId: string, entries: ReadonlyArray<OutboxEntry>) =>
      Effect.sync(() => void published.push(...entries)),
    run: (orderReqId: string) =>
      Effect.fail(
        new EventLogError({
          operation: "append",
          logId: orderReqId,
          reason,
          detail: "gave up after 5 conflicting concurrent appends",
        }),
      ).pipe(Effect.catch(unavailableOrDefect)),
  } as unknown as Orders["Service"])

const serve = (orders: Layer.Layer<Orders>) =>
  HttpRouter.toWebHandler(
    apiRoutes(
      FollowUpsOnlyApi,
      SellerFollowUpsHandlers.pipe(
        Layer.provide(SellerFailureReportingLive),
        Layer.provide(orders),
        Layer.provide(AuthenticationLive.pipe(Layer.provide(Authenticator.layerDisabled))),
      ),
    ).pipe(Layer.provide(HttpServer.layerServices)),
    { disableLogger: true },
  )

describe("an event-log failure on the processor's REST path", () => {
  let app: ReturnType<typeof serve> | undefined
  afterEach(async () => {
    await app?.dispose()
    app = undefined
    published.length = 0
  })

  const followUp = async (reason: EventLogFailure) => {
    app = serve(ordersFailingWith(reason))
    const response = await app.handler(
      new Request("http://processor.test/api/v1/followup", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ OrderReqID: "ORD-C1", ProposalID: "P-1", Seller: "S-1", Message: "ship Friday?" }),
      }),
    )
    const body = (await response.json()) as { error: unknown }
    return { status: response.status, headers: response.headers, body }
  }

  it("Contention (the commit gave up after conflicting appends) → 503 unavailable + Retry-After", async () => {
    const answer = await followUp("Contention")
    expect(answer.status).toBe(503)
    expect(answer.headers.get("retry-after")).toBe("1")
    expect(answer.body.error).toEqual({
      code: "unavailable",
      message:
        "redis is unavailable: event log append of ORD-C1 failed (Contention): gave up after 5 conflicting concurrent appends",
      details: [
        {
          path: "redis",
          problem: "event log append of ORD-C1 failed (Contention): gave up after 5 conflicting concurrent appends",
        },
      ],
    })
    // The failure report says the same.
    expect(published.map((entry) => JSON.parse(entry.payload))).toMatchObject([
      { HttpStatus: 503, Code: "unavailable" },
    ])
  })

  it("an outage → 503 + Retry-After; an unreadable log → 500", async () => {
    const outage = await followUp("Unavailable")
    expect(outage.status).toBe(503)
    expect(outage.headers.get("retry-after")).toBe("1")
    expect((await followUp("Corrupt")).status).toBe(500)
  })
})
