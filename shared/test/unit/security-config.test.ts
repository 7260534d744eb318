/**
 * The settings of issue 10's transport and credential parts, read from an environment:
 * `TLS_*` (`config/tls.ts`), the HTTP limits (`http/limits.ts`), Redis credentials
 * (`Redis.connection`) and Kafka security (`kafkaSecurityConfig`). A bad combination names the
 * variable to fix; no secret appears in a message or in what a `Redacted` prints.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Config, ConfigProvider, Effect, Exit, Redacted } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { kafkaSecurityConfig, kafkaSecurityProperties } from "../../src/broker/config.ts"
import { formatConfigError } from "../../src/config/errors.ts"
import { grpcChannelCredentials, grpcServerCredentials, servesTls, tlsConfig } from "../../src/config/tls.ts"
import { httpLimitsConfig, nodeServerOptions } from "../../src/http/limits.ts"
import { documentInputLimits } from "../../src/http/openApiSecurity.ts"
import { Redis } from "../../src/redis/Redis.ts"

const dir = mkdtempSync(join(tmpdir(), "dcent-security-config-"))
const pem = (name: string) => {
  const path = join(dir, name)
  writeFileSync(path, `-----BEGIN CERTIFICATE-----\nMIIB${name}\n-----END CERTIFICATE-----\n`)
  return path
}
const notPem = join(dir, "not.pem")
writeFileSync(notPem, "hello")

afterAll(() => rmSync(dir, { recursive: true, force: true }))

const parse = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.runSyncExit(config.parse(ConfigProvider.fromEnv({ env })))

const value = <A>(config: Config.Config<A>, env: Record<string, string>): A => {
  const exit = parse(config, env)
  if (Exit.isFailure(exit)) throw new Error(`unexpected failure: ${String(exit.cause)}`)
  return exit.value
}

const problem = <A>(config: Config.Config<A>, env: Record<string, string>): string => {
  const exit = parse(config, env)
  if (Exit.isSuccess(exit)) throw new Error("expected a configuration error")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error("expected a failure")
  return formatConfigError(reason.error as Config.ConfigError, env)
}

describe("TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE", () => {
  it("none set: plain TCP everywhere", () => {
    const tls = value(tlsConfig, {})
    expect(tls).toBeUndefined()
    expect(servesTls(tls)).toBe(false)
    expect(grpcServerCredentials(tls, { requireClientCertificate: true })).toBeUndefined()
    expect(grpcChannelCredentials(tls)).toBeUndefined()
  })

  it("reads the three files; the servers serve TLS", () => {
    const tls = value(tlsConfig, { TLS_CA_FILE: pem("ca"), TLS_CERT_FILE: pem("cert"), TLS_KEY_FILE: pem("key") })
    expect(tls?.ca?.toString()).toContain("MIIBca")
    expect(servesTls(tls)).toBe(true)
  })

  it("a certificate needs its key (and the reverse), naming the missing variable", () => {
    expect(problem(tlsConfig, { TLS_CERT_FILE: pem("cert") })).toContain("TLS_KEY_FILE is required with TLS_CERT_FILE")
    expect(problem(tlsConfig, { TLS_KEY_FILE: pem("key") })).toContain("TLS_CERT_FILE is required with TLS_KEY_FILE")
  })

  it("a missing or non-PEM file names the variable, never the content", () => {
    expect(problem(tlsConfig, { TLS_CA_FILE: join(dir, "absent.pem") })).toMatch(
      /^TLS_CA_FILE \(.*absent\.pem\): ENOENT/,
    )
    const message = problem(tlsConfig, { TLS_CA_FILE: notPem })
    expect(message).toContain("TLS_CA_FILE")
    expect(message).not.toContain("hello")
  })
})

describe("HTTP limits", () => {
  it("reads every bound and turns them into Node server options", () => {
    const limits = value(httpLimitsConfig, {
      HTTP_MAX_BODY_BYTES: "1000",
      HTTP_MAX_URL_LENGTH: "100",
      HTTP_MAX_HEADER_BYTES: "2000",
      HTTP_HEADERS_TIMEOUT_MS: "400",
      HTTP_REQUEST_TIMEOUT_MS: "800",
      HTTP_KEEP_ALIVE_TIMEOUT_MS: "300",
    })
    expect(nodeServerOptions(limits)).toEqual({
      maxHeaderSize: 2000,
      headersTimeout: 400,
      requestTimeout: 800,
      keepAliveTimeout: 300,
      connectionsCheckingInterval: 100,
    })
  })

  it("a headers timeout longer than the request timeout names both variables", () => {
    expect(problem(httpLimitsConfig, { HTTP_HEADERS_TIMEOUT_MS: "5000", HTTP_REQUEST_TIMEOUT_MS: "1000" })).toContain(
      "HTTP_HEADERS_TIMEOUT_MS (5000) must not exceed HTTP_REQUEST_TIMEOUT_MS (1000)",
    )
  })

  it("the OpenAPI transform documents 413 on bodies, 414 and 431 everywhere, and the JWT bearer format", () => {
    const spec = documentInputLimits({
      components: { schemas: { ErrorBody: {} }, securitySchemes: { bearer: { type: "http", scheme: "Bearer" } } },
      paths: { "/a": { get: { responses: {} }, post: { requestBody: {}, responses: { 200: {} } } } },
    })
    expect(spec.components.securitySchemes.bearer.bearerFormat).toBe("JWT")
    expect(Object.keys(spec.paths["/a"].get.responses).sort()).toEqual(["414", "431"])
    expect(Object.keys(spec.paths["/a"].post.responses).sort()).toEqual(["200", "413", "414", "431"])
  })
})

describe("Redis credentials", () => {
  it("REDIS_USERNAME / REDIS_PASSWORD beside the URL; the password stays redacted", () => {
    const { url, credentials } = value(Redis.connection, {
      REDIS_URL: "redis://127.0.0.1:6380/2",
      REDIS_USERNAME: "app",
      REDIS_PASSWORD: "s3cr3t-redis",
    })
    expect(url.port).toBe("6380")
    expect(credentials.username).toBe("app")
    expect(String(credentials.password)).not.toContain("s3cr3t-redis")
    expect(credentials.password === undefined ? undefined : Redacted.value(credentials.password)).toBe("s3cr3t-redis")
  })

  it("a CA file needs rediss://; rediss:// with one reads it", () => {
    expect(problem(Redis.connection, { REDIS_URL: "redis://h:6379", REDIS_TLS_CA_FILE: pem("redis-ca") })).toContain(
      "REDIS_TLS_CA_FILE needs a rediss:// REDIS_URL",
    )
    const { credentials } = value(Redis.connection, {
      REDIS_URL: "rediss://h:6379",
      REDIS_TLS_CA_FILE: pem("redis-ca"),
    })
    expect(credentials.tlsCa?.toString()).toContain("MIIBredis-ca")
  })

  it("a bad REDIS_URL is reported without the password it carries", () => {
    const message = problem(Redis.connection, { REDIS_URL: "http://user:hunter2@h:6379" })
    expect(message).toContain("REDIS_URL")
    expect(message).not.toContain("hunter2")
  })
})

describe("Kafka security", () => {
  it("PLAINTEXT by default", () => {
    expect(kafkaSecurityProperties(value(kafkaSecurityConfig, {}))).toEqual({ "security.protocol": "plaintext" })
  })

  it("SASL_SSL with SCRAM-SHA-512: the librdkafka properties, the password redacted until then", () => {
    const security = value(kafkaSecurityConfig, {
      KAFKA_SECURITY_PROTOCOL: "sasl_ssl",
      KAFKA_SASL_USERNAME: "dcent",
      KAFKA_SASL_PASSWORD: "s3cr3t-kafka",
      KAFKA_SSL_CA_FILE: pem("kafka-ca"),
    })
    expect(JSON.stringify(security)).not.toContain("s3cr3t-kafka")
    expect(kafkaSecurityProperties(security)).toEqual({
      "security.protocol": "sasl_ssl",
      "sasl.mechanisms": "SCRAM-SHA-512",
      "sasl.username": "dcent",
      "sasl.password": "s3cr3t-kafka",
      "ssl.ca.location": join(dir, "kafka-ca"),
    })
  })

  it.each([
    [{ KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_PASSWORD: "x" }, "KAFKA_SASL_USERNAME is required"],
    [{ KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_USERNAME: "u" }, "KAFKA_SASL_PASSWORD is required"],
    [{ KAFKA_SECURITY_PROTOCOL: "TLS" }, "KAFKA_SECURITY_PROTOCOL must be one of"],
    [{ KAFKA_SASL_MECHANISM: "GSSAPI" }, "KAFKA_SASL_MECHANISM must be one of"],
    [{ KAFKA_SSL_CA_FILE: pem("ca2") }, "KAFKA_SSL_CA_FILE needs KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL"],
    [{ KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CA_FILE: join(dir, "none.pem") }, "KAFKA_SSL_CA_FILE"],
  ])("%j → %s", (env, message) => {
    expect(problem(kafkaSecurityConfig, env as Record<string, string>)).toContain(message)
  })
})
