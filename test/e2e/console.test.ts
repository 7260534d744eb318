/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core (no browser is
 * downloaded), against both services as real processes with `AUTH_MODE=jwt`, the requestor
 * serving the built console under /console and proxying the seller's calls to the processor.
 * Everything a page shows came through the same authorization as any API client's calls.
 *
 *   a buyer initiates an order (a bad latitude first: the error sits next to the field) → a
 *   seller, in a second browser context, opens it from the orders it was selected for and submits a proposal → the buyer's page shows it within a
 *   second, without reload → the buyer's network is cut ("reconnecting…"), the seller updates the
 *   proposal, the network comes back → the timeline holds every seq once, in order → another
 *   buyer cannot open the order → the operator view shows the order's topic messages and the
 *   processor's event log. A screenshot of each view goes to test/e2e/.screenshots (git-ignored)
 *   and must not be blank.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mintToken } from "../../shared/src/auth/tokens.ts"
import { type AnyBody, redisDbUrl, type Stack, startReadyProcessor, stopStack, uniqueId } from "../support/e2e.ts"
import { waitForHttp } from "../support/processes.ts"
import { kafkaUrl } from "../support/servers.ts"
import { startRequestor } from "../support/services.ts"

const PROCESSOR_DB = 7
const REQUESTOR_DB = 8
const secret = "console-e2e-secret-0123456789abcdef0123456789"
const run = uniqueId("CON")
const orderId = `${run}-ORD`
const industry = `Console Supplies ${run}`
const buyerId = `${run}-BUYER`
const otherBuyerId = `${run}-BUYER-B`
const sellerId = `${run}-S1`
const proposalId = `${run}-P1`
const screenshots = join(import.meta.dirname, ".screenshots")
/** Chromium as the brief pins it: headless, no sandbox (root), nothing fetched in the background. */
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
]

let stack: Stack | undefined
let browser: Browser | undefined
let profile: string | undefined
const tokens: Record<string, string> = {}

const token = (sub: string, role: "buyer" | "seller" | "operator") =>
  mintToken({ secret, sub, roles: [role], expiresInSeconds: 3600, nowMillis: Date.now() })

const api = async (method: string, url: string, bearer: string, body?: unknown) => {
  const response = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  })
  return { status: response.status, body: (await response.json().catch(() => undefined)) as AnyBody }
}

/** A browser context signed in with `bearer` through the sign-in form. */
const signedIn = async (
  bearer: string,
  viewport = { width: 1100, height: 900 },
): Promise<{ context: BrowserContext; page: Page }> => {
  // bypassCSP: the accessibility check injects axe-core into the page.
  const context = await browser!.newContext({ viewport, bypassCSP: true })
  const page = await context.newPage()
  await page.goto(`${stack!.requestor.httpUrl}/console`)
  await page.getByLabel("Bearer token (JWT)").fill(bearer)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.locator("#principal").waitFor({ timeout: 10_000 })
  return { context, page }
}

/** A browser context signed in by picking a demo principal. */
const pickedPrincipal = async (sub: string) => {
  const context = await browser!.newContext({ viewport: { width: 1100, height: 900 }, bypassCSP: true })
  const page = await context.newPage()
  await page.goto(`${stack!.requestor.httpUrl}/console`)
  await page.locator(`button[data-principal="${sub}"]`).click()
  await page
    .locator("#principal")
    .filter({ hasNotText: "(local)" })
    .filter({ hasText: sub })
    .waitFor({ timeout: 10_000 })
  return { context, page }
}

/** Writes the screenshot and checks it is not blank: well above a blank page's PNG of the same size. */
const screenshot = async (page: Page, name: string, blankBytes: number) => {
  const path = join(screenshots, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  // The README's images: `CONSOLE_README_SHOTS=docs/console npx vitest run test/e2e/console.test.ts`.
  const readme = process.env.CONSOLE_README_SHOTS
  if (readme !== undefined && ["buyer", "seller", "operator"].includes(name)) {
    await page.screenshot({ path: join(readme, `${name}.jpg`), type: "jpeg", quality: 40, fullPage: true })
  }
  expect(statSync(path).size, `${name}.png against a blank page's ${blankBytes} bytes`).toBeGreaterThan(blankBytes * 4)
}

const axeScript = createRequire(import.meta.url).resolve("axe-core/axe.min.js")

/** axe-core's WCAG 2 A/AA rules on the page as it is: no serious or critical violation (labels, contrast, roles). */
const accessible = async (page: Page, view: string) => {
  await page.addScriptTag({ path: axeScript })
  const violations = (await page.evaluate(
    `axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } }).then((r) => r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", ")))`,
  )) as ReadonlyArray<string>
  expect(violations, `${view}: axe violations`).toEqual([])
}

const timelineSeqs = (page: Page) =>
  page.locator("#timeline li").evaluateAll((items) => items.map((item) => Number(item.getAttribute("data-seq"))))

beforeAll(async () => {
  const options = { processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB }
  const env = { AUTH_MODE: "jwt", AUTH_JWT_SECRET: secret }
  const processor = await startReadyProcessor({ ...options, processorEnv: { ...env, FIND_MAX_SEL: "2" } })
  // Stopped by afterAll even when the requestor does not start.
  stack = { processor, options } as unknown as Stack
  const requestor = await startRequestor({
    env: {
      ...env,
      BROKER_URL: kafkaUrl,
      REDIS_URL: redisDbUrl(REQUESTOR_DB),
      PROCESSOR_GRPC_URL: processor.grpcAddress,
      PROCESSOR_HTTP_URL: processor.httpUrl,
      CONSOLE_DEMO_TOKENS: "true",
      LOG_LEVEL: "warning",
    },
  })
  stack = { processor, requestor, options }
  await waitForHttp(`${requestor.httpUrl}/readyz`, { process: requestor, status: 200, timeoutMs: 45_000 })
  tokens.buyer = await token(buyerId, "buyer")
  tokens.otherBuyer = await token(otherBuyerId, "buyer")
  tokens.seller = await token(sellerId, "seller")
  tokens.operator = await token(`${run}-OPS`, "operator")
  const sellers = [0, 1].map((n) => ({
    SellerID: n === 0 ? sellerId : `${run}-S2`,
    Name: `Console seller ${n + 1}`,
    Industries: [industry],
    Location: { Lat: 12.9716 + 0.01 * (n + 1), Lng: 77.5946 },
    Active: true,
  }))
  const registered = await api("POST", `${processor.httpUrl}/api/v1/sellers`, tokens.operator, sellers)
  expect(registered.status, JSON.stringify(registered.body)).toBeLessThan(300)
  mkdirSync(screenshots, { recursive: true })
  profile = mkdtempSync(join(tmpdir(), "dcent-console-chromium-"))
  // A fresh profile per run; playwright-core only drives the Debian package's binary.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [...chromiumArgs, `--disk-cache-dir=${join(profile, "cache")}`],
    timeout: 60_000,
  })
})

afterAll(async () => {
  await browser?.close().catch(() => undefined)
  await stopStack(stack)
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true })
})

describe("the web console in Chromium (AUTH_MODE=jwt, both services as processes)", () => {
  it("buyer initiates, a seller proposes, the buyer sees it live, resumes after a network cut; others are refused; the operator sees the topics", async () => {
    const requestorUrl = stack!.requestor.httpUrl
    const blank = await browser!.newPage({ viewport: { width: 1100, height: 900 } })
    await blank.goto("about:blank")
    const blankBytes = (await blank.screenshot({ fullPage: true })).length
    await blank.close()

    // The buyer: a bad latitude is reported next to its field, from the API's error details.
    const buyer = await signedIn(tokens.buyer!)
    await buyer.page.getByLabel("Order id").first().fill(orderId)
    await buyer.page.getByLabel("Industry").fill(industry)
    await buyer.page.getByLabel("Latitude").fill("999")
    await buyer.page.getByRole("button", { name: "Initiate order" }).click()
    const latitude = buyer.page.getByLabel("Latitude")
    await expect.poll(() => latitude.getAttribute("aria-invalid"), { timeout: 10_000 }).toBe("true")
    const latitudeError = await buyer.page.locator(`#${await latitude.getAttribute("id")}-error`).textContent()
    expect(latitudeError).not.toBe("")
    await screenshot(buyer.page, "buyer-form", blankBytes)
    await accessible(buyer.page, "buyer form with an error")
    await latitude.fill("12.9716")
    await buyer.page.getByRole("button", { name: "Initiate order" }).click()
    await buyer.page.waitForURL(new RegExp(`#/buyer/${orderId}$`), { timeout: 10_000 })
    await buyer.page.locator(`#sellers li[data-seller-id="${sellerId}"]`).waitFor({ timeout: 20_000 })
    expect(await buyer.page.locator("#sellers li").first().textContent()).toMatch(/km/)
    await buyer.page.locator('#stream-state[data-state="live"]').waitFor({ timeout: 10_000 })

    // The seller, in its own context, submits through the requestor's proxy to the processor.
    const seller = await signedIn(tokens.seller!)
    // The order is listed among those it was selected for.
    await seller.page.locator(`#seller-orders a[data-order-id="${orderId}"]`).click({ timeout: 10_000 })
    await seller.page.getByLabel("Proposal id").fill(proposalId)
    await seller.page.getByLabel("Price").fill("1250.50")
    await seller.page.getByLabel("Delivery date").fill("2030-01-15")
    await seller.page.getByRole("button", { name: "Submit proposal" }).click()
    await seller.page.locator(`#my-proposals tr[data-proposal-id="${proposalId}"]`).waitFor({ timeout: 10_000 })

    // Live on the buyer's page, no reload: bounded waits, not a measured time.
    await buyer.page.locator('#timeline li[data-status="NewProposal"]').waitFor({ timeout: 1_000 })
    await buyer.page.locator(`#proposals tr[data-proposal-id="${proposalId}"]`).waitFor({ timeout: 5_000 })

    // The buyer's network is cut; meanwhile the seller locks and updates the proposal.
    await buyer.context.setOffline(true)
    await buyer.page.locator('#stream-state[data-state="reconnecting"]').waitFor({ timeout: 10_000 })
    await seller.page.getByRole("button", { name: "Lock" }).click()
    await seller.page
      .locator(`[data-lock="${proposalId}"]`)
      .filter({ hasText: /s left/ })
      .waitFor({ timeout: 10_000 })
    await seller.page.getByLabel("Price").fill("1199")
    await seller.page.getByRole("button", { name: "Submit proposal" }).click()
    await seller.page.locator("#proposal-form .done").filter({ hasText: "updated" }).waitFor({ timeout: 10_000 })
    await seller.page.getByRole("button", { name: "Release" }).click()
    await screenshot(seller.page, "seller", blankBytes)
    await accessible(seller.page, "seller")
    await buyer.context.setOffline(false)
    await buyer.page.locator('#timeline li[data-status="ProposalUpdate"]').waitFor({ timeout: 15_000 })
    await buyer.page.locator('#stream-state[data-state="live"]').waitFor({ timeout: 10_000 })
    await buyer.page.locator('#timeline li[data-status="EditUnlock"]').waitFor({ timeout: 10_000 })

    // Every seq once, in order, matching the requestor's own count of the order's events.
    const order = await api("GET", `${requestorUrl}/api/v1/orders/${orderId}`, tokens.buyer!)
    expect(order.status).toBe(200)
    const lastSeq = order.body.LastSeq as number
    await expect
      .poll(() => timelineSeqs(buyer.page), { timeout: 10_000 })
      .toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1))
    expect(await buyer.page.locator("#timeline").getAttribute("data-duplicates")).toBe("0")
    await buyer.page
      .locator(`#proposals tr[data-proposal-id="${proposalId}"]`)
      .filter({ hasText: "1,199" })
      .waitFor({ timeout: 5_000 })
    await screenshot(buyer.page, "buyer", blankBytes)
    await accessible(buyer.page, "buyer order")

    // Another buyer: refused (403 not_order_owner), nothing of the order shown.
    const other = await signedIn(tokens.otherBuyer!)
    await other.page.goto(`${requestorUrl}/console/#/buyer/${orderId}`)
    await other.page.locator('#stream-state[data-state="refused"]').waitFor({ timeout: 10_000 })
    await expect.poll(() => other.page.locator("#order-errors").textContent(), { timeout: 10_000 }).toContain("403")
    expect(await other.page.locator("#proposals tr").count()).toBe(0)
    expect(await other.page.locator("#timeline li").count()).toBe(0)

    // A follow-up to the checked proposal, answered by the seller; pause, resume, finalise with the winner.
    await buyer.page.getByLabel(`Follow up on ${proposalId}`).check()
    await buyer.page.getByLabel("Follow-up to the checked proposals").fill("Can you deliver a week earlier?")
    await buyer.page.getByRole("button", { name: "Send follow-up" }).click()
    await buyer.page.locator('#timeline li[data-status="BuyerFollowUp"]').waitFor({ timeout: 10_000 })
    await seller.page.locator("#buyer-notes li").filter({ hasText: "a week earlier" }).waitFor({ timeout: 10_000 })
    await seller.page.getByLabel("Answer").fill("Yes, by 2030-01-08.")
    await seller.page.getByRole("button", { name: "Send answer" }).click()
    await buyer.page.locator('#timeline li[data-status="SellerFollowUp"]').waitFor({ timeout: 10_000 })
    await buyer.page.getByRole("button", { name: "Pause" }).click()
    await buyer.page.locator('#timeline li[data-status="OrderPaused"]').waitFor({ timeout: 10_000 })
    await buyer.page.getByRole("button", { name: "Resume" }).click()
    await buyer.page.locator('#timeline li[data-status="OrderResumed"]').waitFor({ timeout: 10_000 })
    await buyer.page.getByLabel("Winner").selectOption(proposalId)
    await buyer.page.getByRole("button", { name: "Finalise" }).click()
    await buyer.page.locator('#timeline li[data-status="ProposalAccepted"]').waitFor({ timeout: 10_000 })
    await buyer.page.locator('#timeline li[data-status="OrderFinalised"]').waitFor({ timeout: 10_000 })
    await buyer.page.locator('#stream-state[data-state="ended"]').waitFor({ timeout: 10_000 })
    const finalSeq = (await api("GET", `${requestorUrl}/api/v1/orders/${orderId}`, tokens.buyer!)).body
      .LastSeq as number
    expect(await timelineSeqs(buyer.page)).toEqual(Array.from({ length: finalSeq }, (_, i) => i + 1))

    // The operator: the processor's log, the buyer-facing log and the order's topic messages.
    // Signed in through the local picker: the requestor signs the demo operator's token (CONSOLE_DEMO_TOKENS).
    const operator = await pickedPrincipal("OPERATOR")
    await operator.page.goto(`${requestorUrl}/console/#/operator/${orderId}`)
    await expect
      .poll(
        async () =>
          `${await operator.page.locator("#story-status").textContent()} ${await operator.page.locator("#topic-messages li").count()}`,
        { timeout: 20_000 },
      )
      .toMatch(/^loaded .* [1-9]/)
    for (const topic of [
      "BUYER_ACKNOWLEDGEMENTS",
      "SELLER_NOTIFY",
      "SELLER_ACKNOWLEDGEMENTS",
      "BUYER_NOTIFY",
      "BUYER_FOLLOWUP",
      "SELLER_FOLLOWUP",
      "REQ_failures",
    ]) {
      await operator.page.locator(`#topic-messages li[data-topic="${topic}"]`).first().waitFor({ timeout: 20_000 })
    }
    await operator.page.locator(`#processor-log li[data-seq="${finalSeq}"]`).waitFor({ timeout: 10_000 })
    await operator.page.locator(`#buyer-log li[data-seq="${finalSeq}"]`).waitFor({ timeout: 10_000 })
    expect(await operator.page.locator("#processor-log li").count()).toBe(finalSeq)
    await operator.page.locator("#metrics .metric-table tr").nth(1).waitFor({ timeout: 10_000 })
    await screenshot(operator.page, "operator", blankBytes)
    await accessible(operator.page, "operator")

    // A phone's width: the buyer's order page is still usable (no horizontal page scroll).
    const phone = await signedIn(tokens.buyer!, { width: 390, height: 844 })
    await phone.page.goto(`${requestorUrl}/console/#/buyer/${orderId}`)
    await phone.page.locator(`#proposals tr[data-proposal-id="${proposalId}"]`).waitFor({ timeout: 10_000 })
    expect(await phone.page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390)
    await screenshot(phone.page, "buyer-phone", blankBytes)
    await accessible(phone.page, "buyer order on a phone")
  })

  it("serves the console, proxies only the processor's API with the caller's credential, and the new reads are authorized", async () => {
    const requestorUrl = stack!.requestor.httpUrl
    const page = await fetch(`${requestorUrl}/console`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toContain("text/html")
    expect(await page.text()).toContain("dCent console")
    const proxied = `${requestorUrl}/console/processor`
    expect((await fetch(`${proxied}/healthz`)).status).toBe(404)
    const anonymous = await fetch(`${proxied}/api/v1/orders/${orderId}`)
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/)
    const huge = await fetch(`${proxied}/api/v1/proposal-submissions`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.seller}`, "content-type": "application/json" },
      body: "x".repeat(2 * 1024 * 1024),
    })
    expect(huge.status).toBe(413)
    // Demo tokens: only for the demo principals.
    const demo = (sub: string) =>
      fetch(`${requestorUrl}/console/demo-token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sub }),
      })
    expect((await demo(buyerId)).status).toBe(400)
    const seller1 = (await (await demo("SELLER-001")).json()) as AnyBody
    expect(seller1.roles).toEqual(["seller"])
    expect((await api("GET", `${proxied}/api/v1/sellers/SELLER-002/orders`, seller1.token)).status).toBe(403)
    // Operators only: the order's topic messages and the processor's event log.
    expect((await api("GET", `${requestorUrl}/api/v1/orders/${orderId}/messages`, tokens.buyer!)).status).toBe(403)
    expect((await api("GET", `${proxied}/api/v1/orders/${orderId}/events`, tokens.seller!)).status).toBe(403)
    expect((await api("GET", `${proxied}/api/v1/orders/${orderId}/events`, tokens.buyer!)).status).toBe(403)
    const messages = await api("GET", `${requestorUrl}/api/v1/orders/${orderId}/messages`, tokens.operator!)
    expect(messages.status).toBe(200)
    expect(new Set(messages.body.Messages.map((m: AnyBody) => m.Topic)).has("SELLER_NOTIFY")).toBe(true)
    expect(messages.body.Messages.every((m: AnyBody) => m.Key === orderId)).toBe(true)
    // A seller's list of orders: itself or operators; the finalised order has left it.
    expect((await api("GET", `${proxied}/api/v1/sellers/${run}-S2/orders`, tokens.seller!)).status).toBe(403)
    const own = await api("GET", `${proxied}/api/v1/sellers/${sellerId}/orders`, tokens.seller!)
    expect(own.status).toBe(200)
    expect(own.body.Orders).toEqual([])
  })
})
