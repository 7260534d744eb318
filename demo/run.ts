/**
 * `make demo`: loads the sample sellers and registered orders (demo/data) into a running stack
 * (`make run`), then walks one order of its own through its whole life, printing every step and
 * every event the buyer's SSE stream delivers. ORD-001 is registered but left for the seed
 * README's curl examples, which work right after this script.
 *
 * Against a stack with `AUTH_MODE=jwt` and `AUTH_JWT_SECRET` (the same values in this
 * environment), every call carries a token of whoever makes it: the operator loads the sellers,
 * each order's buyer registers and acts on it, each seller submits and edits its own proposals.
 */
import { readFile } from "node:fs/promises"
import type { Role } from "../shared/src/auth/Principal.ts"
import { mintToken } from "../shared/src/auth/tokens.ts"

const requestorUrl = process.env.REQUESTOR_URL ?? `http://127.0.0.1:${process.env.REQUESTOR_HTTP_PORT ?? 8000}`
const processorUrl = process.env.PROCESSOR_URL ?? `http://127.0.0.1:${process.env.PROCESSOR_HTTP_PORT ?? 8001}`
const dataDir = new URL("./data/", import.meta.url)

type Json = Record<string, unknown>

/** An event as the requestor's SSE stream sends it (PascalCase wire names). */
interface StreamedEvent {
  readonly Seq: number
  readonly Status: string
  readonly Message: string
  readonly ProposalID?: string
  readonly Details?: Record<string, string>
}

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text)
const say = (text: string) => process.stdout.write(`${text}\n`)
const step = (title: string) => say(`\n${bold(`==> ${title}`)}`)

/** Who makes a call (with AUTH_MODE=jwt). */
interface As {
  readonly sub: string
  readonly role: Role
}

const secret = process.env.AUTH_MODE === "jwt" ? process.env.AUTH_JWT_SECRET : undefined

/** `Authorization: Bearer …` for `as` when the stack authenticates; nothing otherwise. */
const authHeaders = async (as: As | undefined): Promise<Record<string, string>> =>
  secret === undefined || secret === "" || as === undefined
    ? {}
    : {
        authorization: `Bearer ${await mintToken({
          secret,
          sub: as.sub,
          roles: [as.role],
          expiresInSeconds: 600,
          issuer: process.env.AUTH_JWT_ISSUER,
          audience: process.env.AUTH_JWT_AUDIENCE,
          nowMillis: Date.now(),
        })}`,
      }

const operator: As = { sub: "demo-operator", role: "operator" }
const buyerOf = (order: Json): As => ({ sub: String(order.BuyerID), role: "buyer" })
const sellerAs = (sellerId: string): As => ({ sub: sellerId, role: "seller" })

const call = async (method: string, url: string, body?: unknown, as?: As): Promise<{ status: number; body: Json }> => {
  const response = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(await authHeaders(as)),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  const parsed = text === "" ? {} : (JSON.parse(text) as Json)
  say(`    ${method} ${url.replace(/^https?:\/\/[^/]+/, "")} → ${response.status}`)
  return { status: response.status, body: parsed }
}

const expectStatus = (result: { status: number; body: Json }, ...accepted: ReadonlyArray<number>) => {
  if (!accepted.includes(result.status)) {
    throw new Error(`unexpected HTTP ${result.status}: ${JSON.stringify(result.body)}`)
  }
  return result.body
}

const readJson = async <A>(name: string): Promise<A> => JSON.parse(await readFile(new URL(name, dataDir), "utf8")) as A

/** Follows the buyer's SSE stream, printing each event and remembering it. */
const watch = (orderReqId: string, as: As) => {
  const events: Array<StreamedEvent> = []
  const waiters: Array<{ status: string; after: number; resolve: (event: StreamedEvent) => void }> = []
  const controller = new AbortController()

  const deliver = (event: StreamedEvent) => {
    events.push(event)
    const proposal = event.ProposalID ? ` [${event.ProposalID}]` : ""
    say(`    ${bold(`event #${event.Seq}`)} ${event.Status}${proposal}: ${event.Message}`)
    for (const waiter of [...waiters]) {
      if (waiter.status === event.Status && event.Seq > waiter.after) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(event)
      }
    }
  }

  const done = (async () => {
    const response = await fetch(`${requestorUrl}/api/v1/orders/${orderReqId}/events`, {
      headers: { accept: "text/event-stream", ...(await authHeaders(as)) },
      signal: controller.signal,
    })
    if (!response.ok || response.body === null) throw new Error(`SSE answered ${response.status}`)
    const decoder = new TextDecoder()
    let buffer = ""
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let boundary = buffer.indexOf("\n\n")
      while (boundary >= 0) {
        const frame = buffer.slice(0, boundary)
        buffer = buffer.slice(boundary + 2)
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n")
        if (data !== "") deliver(JSON.parse(data) as StreamedEvent)
        boundary = buffer.indexOf("\n\n")
      }
    }
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) say(`    SSE stream ended: ${String(error)}`)
  })

  /** The last seq seen so far, to wait for events caused by what happens next. */
  const lastSeq = () => events.at(-1)?.Seq ?? 0

  /** Resolves with the first event of `status` after seq `after` (already seen or still to come). */
  const waitFor = (status: string, after = 0, timeoutMs = 20_000): Promise<StreamedEvent> => {
    const seen = events.find((event) => event.Status === status && event.Seq > after)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${status} event after seq ${after} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      waiters.push({
        status,
        after,
        resolve: (event) => {
          clearTimeout(timer)
          resolve(event)
        },
      })
    })
  }

  return { events, lastSeq, waitFor, stop: () => controller.abort(), done }
}

/** Runs `action`, then waits for an event of each of `statuses` that it caused. */
const causing = async <A>(
  stream: ReturnType<typeof watch>,
  statuses: ReadonlyArray<string>,
  action: () => Promise<A>,
): Promise<A> => {
  const before = stream.lastSeq()
  const result = await action()
  for (const status of statuses) await stream.waitFor(status, before)
  return result
}

const requireStack = async () => {
  for (const [name, url] of [
    ["requestor", requestorUrl],
    ["processor", processorUrl],
  ] as const) {
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.ok,
      () => false,
    )
    if (!ready) {
      say(`The ${name} at ${url} is not ready. Start the stack first: \`make run\` (in another terminal).`)
      process.exit(1)
    }
  }
}

const timestamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:TZ.]/g, "")
    .slice(0, 14)

const main = async () => {
  await requireStack()

  step("Load the sample sellers into the processor's directory")
  const sellers = await readJson<ReadonlyArray<Json>>("sellers.json")
  expectStatus(await call("POST", `${processorUrl}/api/v1/sellers`, sellers, operator), 200, 201)
  say(`    ${sellers.length} sellers: ${sellers.map((seller) => seller.SellerID).join(", ")}`)

  step("Register the sample orders with the requestor (ORD-001 is left for the seed README's curl examples)")
  const orders = await readJson<ReadonlyArray<Json>>("orders.json")
  for (const order of orders) {
    expectStatus(await call("POST", `${requestorUrl}/api/v1/orders`, order, buyerOf(order)), 200, 201, 409)
  }

  const template = orders[0] as Json
  const buyer = buyerOf(template)
  const orderReqId = `DEMO-${timestamp()}`
  step(`Register the demo's own order ${orderReqId}`)
  expectStatus(
    await call(
      "POST",
      `${requestorUrl}/api/v1/orders`,
      {
        ...template,
        OrderReqID: orderReqId,
        SessionID: "SESSION-DEMO",
      },
      buyer,
    ),
    200,
    201,
  )

  step("Watch the order as a buyer app would (SSE)")
  const stream = watch(orderReqId, buyer)

  step("Initiate it: the processor selects the nearest sellers of its industry")
  await causing(stream, ["SellersSelected"], async () =>
    expectStatus(
      await call(
        "POST",
        `${requestorUrl}/api/v1/initiate`,
        {
          OrderReqId: orderReqId,
          SessionID: "SESSION-DEMO",
          "Notification type": "Email",
        },
        buyer,
      ),
      200,
      202,
    ),
  )
  const order = expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderReqId}`, undefined, buyer), 200)
  const selectedSellers = ((order.SelectedSellers as ReadonlyArray<Json> | undefined) ?? []).map((seller) => ({
    id: String(seller.SellerID),
    km: Number(seller.DistanceKm),
  }))
  if (selectedSellers.length < 3) throw new Error(`expected at least 3 selected sellers, got ${selectedSellers.length}`)
  for (const seller of selectedSellers) say(`    ${seller.id} at ${seller.km.toFixed(1)} km`)
  type Selected = (typeof selectedSellers)[number]
  const [first, second, third] = selectedSellers as [Selected, Selected, Selected]
  const [p1, p2, p3] = [1, 2, 3].map((n) => `${orderReqId}-P${n}`) as [string, string, string]

  const submit = (seller: string, proposalId: string, price: number | string) =>
    call(
      "POST",
      `${processorUrl}/api/v1/proposal-submissions`,
      {
        OrderReqID: orderReqId,
        Seller: seller,
        ProposalDictObj: {
          ProposalID: proposalId,
          Price: price,
          DeliveryDate: "2026-12-15T00:00:00Z",
          Currency: "INR",
        },
      },
      sellerAs(seller),
    )
  const lock = { OrderReqID: orderReqId, ProposalID: p1 }

  step("Three sellers submit proposals")
  await causing(stream, ["NewProposal"], async () => expectStatus(await submit(first.id, p1, 182_500), 201))
  await causing(stream, ["NewProposal"], async () => expectStatus(await submit(second.id, p2, "176000.00"), 201))
  await causing(stream, ["NewProposal"], async () => expectStatus(await submit(third.id, p3, 190_000), 201))

  step(`${second.id} lowers its price (same ProposalID: an update, not a duplicate)`)
  await causing(stream, ["ProposalUpdate"], async () => expectStatus(await submit(second.id, p2, 171_250), 200))

  step(`${first.id} locks its proposal while editing it`)
  await causing(stream, ["EditLock"], async () =>
    expectStatus(await call("POST", `${processorUrl}/api/v1/edit-lock`, lock, sellerAs(first.id)), 200),
  )

  step("The buyer asks both proposals about delivery terms (the locked one answers EditLock)")
  const followUp = await causing(stream, ["BuyerFollowUp"], async () =>
    expectStatus(
      await call(
        "POST",
        `${requestorUrl}/api/v1/followup`,
        {
          OrderReqID: orderReqId,
          Audience: [p1, p2],
          Message: { content: { URLs: [], MessageType: "text", Message: "Can you deliver in two lots?" } },
        },
        buyer,
      ),
      200,
      201,
      202,
    ),
  )
  for (const result of (followUp.Results as ReadonlyArray<Json> | undefined) ?? []) {
    say(`    ${String(result.ProposalID)}: ${String(result.Outcome)}`)
  }

  step(`${first.id} releases the lock; the held follow-up is delivered`)
  await causing(stream, ["EditUnlock", "BuyerFollowUp"], async () =>
    expectStatus(await call("POST", `${processorUrl}/api/v1/edit-lock/release`, lock, sellerAs(first.id)), 200),
  )

  step(`${second.id} answers the follow-up`)
  await causing(stream, ["SellerFollowUp"], async () =>
    expectStatus(
      await call(
        "POST",
        `${processorUrl}/api/v1/followup`,
        {
          OrderReqID: orderReqId,
          ProposalID: p2,
          Message: { content: { URLs: [], MessageType: "text", Message: "Yes: 60% on 10 Dec, the rest on 15 Dec." } },
        },
        sellerAs(second.id),
      ),
      200,
      201,
    ),
  )

  step("The buyer pauses the order, then resumes it")
  await causing(stream, ["OrderPaused"], async () =>
    expectStatus(await call("PUT", `${requestorUrl}/api/v1/pause/${orderReqId}`, undefined, buyer), 200, 202),
  )
  await causing(stream, ["OrderResumed"], async () =>
    expectStatus(await call("PUT", `${requestorUrl}/api/v1/resume/${orderReqId}`, undefined, buyer), 200, 202),
  )

  step(`The buyer finalises with ${second.id}'s proposal: it is accepted, the others are closed`)
  await causing(stream, ["ProposalAccepted", "ProposalClosed", "OrderFinalised"], async () =>
    expectStatus(
      await call("PUT", `${requestorUrl}/api/v1/finalize/${orderReqId}`, { ProposalID: p2 }, buyer),
      200,
      202,
    ),
  )
  stream.stop()

  step("Final state")
  const final = expectStatus(await call("GET", `${requestorUrl}/api/v1/orders/${orderReqId}`, undefined, buyer), 200)
  say(`    status ${String(final.Status)}, ${stream.events.length} events, seq 1..${stream.events.at(-1)?.Seq}`)
  const gaps = stream.events.filter((event, index) => event.Seq !== index + 1)
  if (gaps.length > 0) throw new Error(`the stream skipped or repeated events: ${JSON.stringify(gaps)}`)
  say("\nDone. The seed README's curl examples (ORD-001, PROP-001 from SELLER-001) work now.")
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
