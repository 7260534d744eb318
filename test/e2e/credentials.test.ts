/**
 * Broker and Redis credentials, end to end, on servers of the test's own (never the shared ones):
 *
 * - a Redis with `requirepass`, an ACL user and a TLS port (certificates from `scripts/certs.sh`):
 *   the processor connects over `rediss://` with `REDIS_PASSWORD` and `REDIS_TLS_CA_FILE`, the
 *   requestor as the ACL user named in `REDIS_URL`;
 * - a single-node KRaft Kafka of the local stack (`stack.sh`, own ports and data dir) with its
 *   opt-in SASL_SSL listener (SCRAM-SHA-512): both services with `KAFKA_SECURITY_PROTOCOL=SASL_SSL`
 *   and the `KAFKA_SASL_*` / `KAFKA_SSL_CA_FILE` settings;
 * - the order lifecycle runs through both (its messages counted on the SASL_SSL listener);
 * - wrong passwords make a service not ready, naming Redis and the broker;
 * - no password appears in any service's output (debug logging).
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { KafkaJS } from "@confluentinc/kafka-javascript"
import { ConfigProvider, Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaSecurityConfig, kafkaSecurityProperties } from "../../shared/src/broker/config.ts"
import { eventually, http, type Stack, startStack, stopStack, uniqueId } from "../support/e2e.ts"
import { freePort } from "../support/ports.ts"
import { type PrivateKafka, startPrivateKafka } from "../support/privateKafka.ts"
import { type PrivateRedis, startPrivateRedis } from "../support/privateRedis.ts"
import { repoRoot } from "../support/processes.ts"
import { type RunningRequestor, startRequestor } from "../support/services.ts"

const run = uniqueId("CRED")
const secret = () => randomBytes(18).toString("base64url")
const redisPassword = secret()
const aclPassword = secret()
const kafkaPassword = secret()
const passwords = [redisPassword, aclPassword, kafkaPassword]

const certsDir = mkdtempSync(join(tmpdir(), "dcent-credentials-"))
const ca = join(certsDir, "ca.crt")

let redis: PrivateRedis
let redisTlsPort: number
let kafka: PrivateKafka
let saslBootstrap: string
let stack: Stack | undefined
let wrong: RunningRequestor | undefined

const kafkaEnv = (password: string) => ({
  BROKER_URL: `kafka://${saslBootstrap}`,
  KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
  KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
  KAFKA_SASL_USERNAME: "dcent",
  KAFKA_SASL_PASSWORD: password,
  KAFKA_SSL_CA_FILE: ca,
})

/**
 * Messages on `topic` of the SASL_SSL Kafka (sum of its partitions' high watermarks), read with the
 * services' own client and settings (kcat's librdkafka 2.0 fails SCRAM against this broker).
 */
const messagesOn = async (topic: string): Promise<number> => {
  const security = Effect.runSync(
    kafkaSecurityConfig.parse(
      ConfigProvider.fromUnknown({
        KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
        KAFKA_SASL_USERNAME: "dcent",
        KAFKA_SASL_PASSWORD: kafkaPassword,
        KAFKA_SSL_CA_FILE: ca,
      }),
    ),
  )
  const admin = new KafkaJS.Kafka({
    "bootstrap.servers": saslBootstrap,
    log_level: 0,
    ...kafkaSecurityProperties(security),
  }).admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets.reduce((sum, partition) => sum + Number(partition.high), 0)
  } finally {
    await admin.disconnect()
  }
}

beforeAll(async () => {
  execFileSync("bash", [`${repoRoot}scripts/certs.sh`], { env: { ...process.env, CERTS_DIR: certsDir } })
  redisTlsPort = await freePort()
  redis = await startPrivateRedis({
    password: redisPassword,
    args: [
      "--requirepass",
      redisPassword,
      "--user",
      "app",
      "on",
      `>${aclPassword}`,
      "~*",
      "&*",
      "+@all",
      "--tls-port",
      String(redisTlsPort),
      "--tls-cert-file",
      join(certsDir, "redis.crt"),
      "--tls-key-file",
      join(certsDir, "redis.key"),
      "--tls-ca-cert-file",
      ca,
      "--tls-auth-clients",
      "no",
    ],
  })
  // The local stack's Kafka with its opt-in SASL_SSL listener (infra/local/stack.sh, KAFKA_SASL_SSL_PORT).
  kafka = await startPrivateKafka({ saslSsl: { certsDir, username: "dcent", password: kafkaPassword } })
  saslBootstrap = kafka.saslBootstrap as string
}, 180_000)

afterAll(async () => {
  await Promise.allSettled([stopStack(stack), wrong?.stop()])
  await Promise.allSettled([redis?.close(), kafka?.close()])
  rmSync(certsDir, { recursive: true, force: true })
})

describe("Redis AUTH / ACL / rediss:// and Kafka SASL_SSL (SCRAM-SHA-512)", () => {
  it("the order lifecycle runs through a password-protected Redis and a SASL_SSL Kafka", async () => {
    stack = await startStack({
      processorDb: 12,
      requestorDb: 13,
      processorEnv: {
        ...kafkaEnv(kafkaPassword),
        REDIS_URL: `rediss://127.0.0.1:${redisTlsPort}/0`,
        REDIS_PASSWORD: redisPassword,
        REDIS_TLS_CA_FILE: ca,
        FIND_MAX_SEL: "1",
        LOG_LEVEL: "debug",
      },
      requestorEnv: {
        ...kafkaEnv(kafkaPassword),
        REDIS_URL: `redis://app:${aclPassword}@127.0.0.1:${redis.port}/1`,
        LOG_LEVEL: "debug",
      },
    })
    const industry = `Credentials ${run}`
    const origin = { Lat: 12.97, Lng: 77.59 }
    const orderId = `${run}-ORD`
    const seller = `${run}-S1`
    const sellers = await http("POST", `${stack.processor.httpUrl}/api/v1/sellers`, [
      { SellerID: seller, Name: "Credentials seller", Industries: [industry], Location: origin, Active: true },
    ])
    expect(sellers.status, sellers.text).toBe(201)
    const registered = await http("POST", `${stack.requestor.httpUrl}/api/v1/orders`, {
      OrderReqID: orderId,
      BuyerID: `${run}-BUYER`,
      Industry: industry,
      Location: origin,
      Products: ["Bolts"],
      DeliveryDate: "2030-02-01",
    })
    expect(registered.status, registered.text).toBe(201)
    const initiated = await http("POST", `${stack.requestor.httpUrl}/api/v1/initiate`, {
      OrderReqID: orderId,
      SessionID: `${run}-SESSION`,
      NotificationType: "Email",
    })
    expect(initiated.status, initiated.text).toBe(202)
    await eventually(
      () => http("GET", `${stack?.processor.httpUrl}/api/v1/orders/${orderId}`),
      (answer) => answer.status === 200 && answer.body.SelectedSellers.length === 1,
      { what: "the seller is selected" },
    )
    const proposal = await http("POST", `${stack.processor.httpUrl}/api/v1/proposal-submissions`, {
      OrderReqID: orderId,
      Seller: seller,
      ProposalDictObj: { ProposalID: `${run}-P1`, Price: 12, DeliveryDate: "2030-01-20" },
    })
    expect(proposal.status, proposal.text).toBe(201)
    const done = await http("PUT", `${stack.requestor.httpUrl}/api/v1/finalize/${orderId}`, { ProposalID: `${run}-P1` })
    expect(done.status, done.text).toBe(200)
    expect(done.body.Status).toBe("FINALISED")

    // The lifecycle's messages are on the SASL_SSL Kafka (a fresh one: they are this order's).
    await eventually(
      () => messagesOn("SELLER_NOTIFY"),
      (count) => count > 0,
      { what: "SELLER_NOTIFY on the SASL_SSL Kafka has the order's notifications", timeoutMs: 30_000, intervalMs: 500 },
    )
    // The state is in the private Redis (the requestor's keys in db 1, under its ACL user).
    const keys = execFileSync(
      "redis-cli",
      [
        "-p",
        String(redis.port),
        "--user",
        "app",
        "--pass",
        aclPassword,
        "-n",
        "1",
        "--scan",
        "--pattern",
        "dcent:requestor:*",
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    )
    expect(keys).toContain(orderId)
  })

  it("wrong passwords: not ready, naming Redis and the broker", async () => {
    wrong = await startRequestor({
      name: "requestor-wrong-credentials",
      env: {
        ...kafkaEnv("not-the-password"),
        REDIS_URL: `redis://127.0.0.1:${redis.port}/2`,
        REDIS_PASSWORD: "not-the-password",
        PROCESSOR_GRPC_URL: stack?.processor.grpcAddress ?? "127.0.0.1:1",
        LOG_LEVEL: "debug",
      },
    })
    const readyz = await eventually(
      () => http("GET", `${wrong?.httpUrl}/readyz`),
      (answer) => answer.status === 503 && /redis/.test(answer.text) && /broker|kafka/i.test(answer.text),
      { what: "readyz names Redis and the broker", timeoutMs: 30_000 },
    )
    expect(readyz.text).toMatch(/WRONGPASS|NOAUTH|auth/i)
    expect(readyz.text).not.toContain("not-the-password")
    expect(wrong.output()).not.toContain("not-the-password")
  })

  it("no password appears in any service's output", () => {
    const outputs = [stack?.processor.output() ?? "", stack?.requestor.output() ?? "", wrong?.output() ?? ""]
    expect(outputs[0]?.length).toBeGreaterThan(0)
    for (const output of outputs) {
      for (const password of passwords) expect(output).not.toContain(password)
    }
  })
})
