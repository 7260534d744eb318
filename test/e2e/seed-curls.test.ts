/**
 * The seed README's promise (spec: "The seed README's three curl examples must work exactly as
 * written against a stack started with the demo data"): both services on empty Redis databases,
 * the demo data loaded by `node demo/run.ts`, then the README's three `curl` commands run by the
 * real `curl`, text unchanged except `localhost:8000` / `localhost:8001` → the test's ports.
 *
 * The commands are kept verbatim below and compared with the seed file when it is checked out
 * beside the repository (`../shared/seeds/004_e6019eecb9ce7311.txt`). The HTTP status is taken
 * from a `.curlrc` (`write-out`), so the command line itself stays exactly as written.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually, http, type Stack, startStack, stopStack, withRedis } from "../support/e2e.ts"
import { repoRoot, runToExit } from "../support/processes.ts"

/** Dedicated databases, emptied first: ORD-001 / PROP-001 are fixed ids. */
const PROCESSOR_DB = 13
const REQUESTOR_DB = 14

const seedFile = join(repoRoot, "..", "shared", "seeds", "004_e6019eecb9ce7311.txt")

/** The three commands of the seed README's "5. Test the Services", verbatim. */
const seedCommands = {
  initiate: `curl -X POST "http://localhost:8000/api/v1/initiate" \\
  -H "Content-Type: application/json" \\
  -d '{
    "OrderReqId": "ORD-001",
    "SessionID": "SESSION-123", 
    "Notification type": "GChat"
  }'`,
  proposal: `curl -X POST "http://localhost:8001/api/v1/proposal-submissions" \\
  -H "Content-Type: application/json" \\
  -d '{
    "OrderReqID": "ORD-001",
    "Seller": "SELLER-001",
    "ProposalDictObj": {
      "ProposalID": "PROP-001",
      "Price": 1000.0,
      "DeliveryDate": "2025-11-01T00:00:00Z"
    }
  }'`,
  followUp: `curl -X POST "http://localhost:8000/api/v1/followup" \\
  -H "Content-Type: application/json" \\
  -d '{
    "OrderReqID": "ORD-001",
    "Audience": ["PROP-001"],
    "Message": {
      "content": {
        "URLs": [],
        "MessageType": "text",
        "Message": "Please clarify delivery terms"
      }
    }
  }'`,
}

let stack: Stack
let curlHome: string

interface CurlResult {
  readonly exitCode: number | null
  readonly status: number
  // biome-ignore lint/suspicious/noExplicitAny: the answer is checked field by field
  readonly body: any
  readonly text: string
  readonly stderr: string
}

/** Runs a seed command with bash, hosts substituted; status via the `.curlrc` write-out. */
const runCurl = (command: string): Promise<CurlResult> => {
  const substituted = command
    .replaceAll("http://localhost:8000", stack.requestor.httpUrl)
    .replaceAll("http://localhost:8001", stack.processor.httpUrl)
  expect(substituted).not.toContain("localhost")
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", substituted], {
      env: { PATH: process.env.PATH, CURL_HOME: curlHome, HOME: curlHome },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("error", reject)
    child.once("close", (exitCode) => {
      clearTimeout(timer)
      const marker = stdout.lastIndexOf("\nHTTP_STATUS=")
      const text = marker >= 0 ? stdout.slice(0, marker) : stdout
      const status = marker >= 0 ? Number(stdout.slice(marker + "\nHTTP_STATUS=".length).trim()) : Number.NaN
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {}
      resolve({ exitCode, status, body, text, stderr })
    })
  })
}

const describeCurl = (result: CurlResult) => `curl exit ${result.exitCode}, HTTP ${result.status}: ${result.text}`

beforeAll(async () => {
  await withRedis(PROCESSOR_DB, (redis) => redis.flushdb())
  await withRedis(REQUESTOR_DB, (redis) => redis.flushdb())
  stack = await startStack({ processorDb: PROCESSOR_DB, requestorDb: REQUESTOR_DB })
  curlHome = mkdtempSync(join(tmpdir(), "dcent-curl-"))
  // Read by curl before the command line: silent with errors, then the status after the body.
  writeFileSync(join(curlHome, ".curlrc"), 'silent\nshow-error\nwrite-out = "\\nHTTP_STATUS=%{http_code}"\n')
})

afterAll(async () => {
  await stopStack(stack)
  if (curlHome !== undefined) rmSync(curlHome, { recursive: true, force: true })
})

describe("the seed README's curl examples against a stack with the demo data", () => {
  it.runIf(existsSync(seedFile))("the commands here are the seed README's, character for character", () => {
    const seed = readFileSync(seedFile, "utf8")
    for (const command of Object.values(seedCommands)) expect(seed).toContain(command)
  })

  it("`node demo/run.ts` loads the demo sellers and orders into the test stack and exits 0", async () => {
    const result = await runToExit(
      join(repoRoot, "demo", "run.ts"),
      { REQUESTOR_URL: stack.requestor.httpUrl, PROCESSOR_URL: stack.processor.httpUrl },
      90_000,
    )
    const output = `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`
    expect(result.timedOut, output).toBe(false)
    expect(result.code, output).toBe(0)
  })

  it("the demo data is in place: the sellers on the processor, ORD-001 registered on the requestor", async () => {
    const seller = await http("GET", `${stack.processor.httpUrl}/api/v1/sellers/SELLER-001`)
    expect(seller.status, seller.text).toBe(200)
    expect(seller.body).toMatchObject({ SellerID: "SELLER-001", Active: true })
    const order = await http("GET", `${stack.requestor.httpUrl}/api/v1/orders/ORD-001`)
    expect(order.status, order.text).toBe(200)
    expect(order.body).toMatchObject({ OrderReqID: "ORD-001", Status: "REGISTERED" })
  })

  it("curl 1 (initiate ORD-001): 2xx, the order is submitted", async () => {
    const result = await runCurl(seedCommands.initiate)
    expect(result.exitCode, describeCurl(result)).toBe(0)
    expect(result.status, describeCurl(result)).toBeGreaterThanOrEqual(200)
    expect(result.status, describeCurl(result)).toBeLessThan(300)
    expect(result.body).toMatchObject({
      Message: "Order Submitted",
      Order: { OrderReqID: "ORD-001", SessionID: "SESSION-123", NotificationType: "GChat", Status: "SUBMITTED" },
    })
  })

  it("curl 2 (proposal PROP-001 from SELLER-001): 2xx, the answer says it was accepted for ORD-001", async () => {
    // A seller acts once notified: wait until the processor has the order and has selected its
    // sellers (the initiate's answer comes before the requestor's stream has opened it there).
    await eventually(
      () => http("GET", `${stack.processor.httpUrl}/api/v1/orders/ORD-001`),
      (order) => order.status === 200 && Number(order.body?.LastSeq) >= 1,
      { what: "ORD-001 open on the processor with its sellers selected" },
    )
    const result = await runCurl(seedCommands.proposal)
    expect(result.exitCode, describeCurl(result)).toBe(0)
    expect(result.status, describeCurl(result)).toBeGreaterThanOrEqual(200)
    expect(result.status, describeCurl(result)).toBeLessThan(300)
    expect(result.body).toMatchObject({
      Message: "Proposal Submitted",
      Outcome: "created",
      Proposal: {
        ProposalID: "PROP-001",
        OrderReqID: "ORD-001",
        SellerID: "SELLER-001",
        Price: 1000,
        Status: "SUBMITTED",
      },
    })
  })

  it("curl 3 (buyer follow-up to PROP-001): 2xx, delivered to the proposal's seller", async () => {
    const result = await runCurl(seedCommands.followUp)
    expect(result.exitCode, describeCurl(result)).toBe(0)
    expect(result.status, describeCurl(result)).toBeGreaterThanOrEqual(200)
    expect(result.status, describeCurl(result)).toBeLessThan(300)
    expect(result.body).toMatchObject({
      OrderReqID: "ORD-001",
      Results: [{ ProposalID: "PROP-001", Outcome: "DELIVERED" }],
    })

    // The buyer's view has the proposal and the follow-up.
    const order = await eventually(
      async () => (await http("GET", `${stack.requestor.httpUrl}/api/v1/orders/ORD-001`)).body,
      (body) => body?.Notes?.length === 1,
      { what: "ORD-001 with the follow-up" },
    )
    expect(order.Proposals.map((proposal: { ProposalID: string }) => proposal.ProposalID)).toEqual(["PROP-001"])
    expect(order.Notes[0]).toMatchObject({ Audience: ["PROP-001"], Message: "Please clarify delivery terms" })
  })
})
