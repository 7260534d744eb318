/**
 * A single-node KRaft Kafka of the test's own whose client listener is SASL_SSL with
 * SCRAM-SHA-512 (what AWS MSK / Redpanda Cloud expose), on free ports with its own data
 * directory, from the jars `infra/local/stack.sh install` cached (the version of
 * `infra/local/kafka/pom.xml`). The SCRAM user is created when the storage is formatted. Its
 * certificate comes from `scripts/certs.sh` (`kafka.crt` / `kafka.key`, PEM key store). A
 * plaintext listener for the broker's own traffic is bound too, and never given to a client.
 *
 *   const kafka = await startSaslKafka({ certsDir, username: "dcent", password })
 *   kafka.bootstrap   // 127.0.0.1:<SASL_SSL port>
 *   await kafka.close()
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { acceptsTcp, freePorts } from "./ports.ts"
import { repoRoot } from "./processes.ts"

export interface SaslKafka {
  /** `127.0.0.1:<port>` of the SASL_SSL listener. */
  readonly bootstrap: string
  readonly close: () => Promise<void>
}

const running = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

const kafkaLibs = () => {
  const pom = readFileSync(join(repoRoot, "infra/local/kafka/pom.xml"), "utf8")
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1]
  if (version === undefined) throw new Error("no <kafka.version> in infra/local/kafka/pom.xml")
  return join(process.env.DCENT_CACHE_DIR ?? join(homedir(), ".cache", "dcent"), `kafka-${version}`, "libs")
}

export const startSaslKafka = async (options: {
  readonly certsDir: string
  readonly username: string
  readonly password: string
}): Promise<SaslKafka> => {
  const [saslPort, internalPort, controllerPort] = (await freePorts(3)) as [number, number, number]
  const dir = mkdtempSync(join(tmpdir(), "dcent-sasl-kafka-"))
  // A PEM key store: the key (PKCS#8, unencrypted) and the certificate in one file.
  const keystore = join(dir, "kafka.pem")
  writeFileSync(
    keystore,
    `${readFileSync(join(options.certsDir, "kafka.key"), "utf8")}${readFileSync(join(options.certsDir, "kafka.crt"), "utf8")}`,
  )
  const config = join(dir, "server.properties")
  writeFileSync(
    config,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=INTERNAL://127.0.0.1:${internalPort},SASL_SSL://127.0.0.1:${saslPort},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=INTERNAL://127.0.0.1:${internalPort},SASL_SSL://127.0.0.1:${saslPort}`,
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=INTERNAL",
      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL",
      "sasl.enabled.mechanisms=SCRAM-SHA-512",
      "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
      "listener.name.sasl_ssl.ssl.keystore.type=PEM",
      `listener.name.sasl_ssl.ssl.keystore.location=${keystore}`,
      `log.dirs=${join(dir, "data")}`,
      "num.partitions=1",
      "default.replication.factor=1",
      "min.insync.replicas=1",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "transaction.state.log.num.partitions=1",
      "share.coordinator.state.topic.replication.factor=1",
      "share.coordinator.state.topic.min.isr=1",
      "auto.create.topics.enable=false",
      "group.initial.rebalance.delay.ms=0",
      "",
    ].join("\n"),
  )
  const classpath = `${kafkaLibs()}/*`
  const tools = [
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${repoRoot}infra/local/kafka/log4j2-tools.properties`,
  ]
  const clusterId = execFileSync("java", [...tools, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"], {
    encoding: "utf8",
  }).trim()
  execFileSync(
    "java",
    [
      ...tools,
      "-cp",
      classpath,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId,
      "-c",
      config,
      "--add-scram",
      `SCRAM-SHA-512=[name=${options.username},password=${options.password}]`,
    ],
    { stdio: "ignore" },
  )

  let output = ""
  const child = spawn(
    "java",
    [
      "-Xms128m",
      "-Xmx384m",
      "-XX:+UseG1GC",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${repoRoot}infra/local/kafka/log4j2.properties`,
      "-cp",
      classpath,
      "kafka.Kafka",
      config,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  )
  running.add(child)
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true
      running.delete(child)
      resolve()
    }),
  )

  const close = async () => {
    if (!exited) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
      await exit
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + 120_000
  while (!(output.includes("Kafka Server started") && (await acceptsTcp("127.0.0.1", saslPort)))) {
    if (exited || Date.now() > deadline) {
      await close()
      throw new Error(
        `the SASL_SSL Kafka did not start${exited ? " (it exited)" : " within 120 s"}:\n${output.slice(-4000)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return { bootstrap: `127.0.0.1:${saslPort}`, close }
}
