/**
 * One Redis configuration for every deployment: the durability and memory settings in
 * `infra/redis/redis.conf` (AOF fsynced on every write, noeviction) are what the local stack and
 * the chaos suite load, what Docker Compose mounts and what the Kubernetes dev overlay passes.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parseAllDocuments, parse as parseYaml } from "yaml"

const root = fileURLToPath(new URL("../..", import.meta.url))
const read = (path: string) => readFileSync(`${root}${path}`, "utf8")

/** `directive value` lines of a redis.conf, without comments. */
const directives = (conf: string): ReadonlyArray<readonly [string, string]> =>
  conf
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [name = "", ...value] = line.split(/\s+/)
      return [name, value.join(" ")] as const
    })

/** `--name value` pairs of a redis-server command line. */
const flags = (args: ReadonlyArray<string>): Map<string, string> => {
  const pairs = new Map<string, string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ""
    if (arg.startsWith("--")) pairs.set(arg.slice(2), args[i + 1] ?? "")
  }
  return pairs
}

const conf = directives(read("infra/redis/redis.conf"))

describe("infra/redis/redis.conf", () => {
  it("fsyncs every write before Redis answers and never evicts", () => {
    expect(conf).toEqual(
      expect.arrayContaining([
        ["appendonly", "yes"],
        ["appendfsync", "always"],
        ["maxmemory-policy", "noeviction"],
      ]),
    )
  })

  it("is what the local stack (and so the chaos suite) starts Redis with, with a maxmemory", () => {
    const stack = read("infra/local/stack.sh")
    const start = /start_redis\(\) \{[\s\S]*?\n\}/.exec(stack)?.[0] ?? ""
    expect(start).toContain('redis-server "$SCRIPT_DIR/../redis/redis.conf"')
    expect(start).toContain('--maxmemory "$REDIS_MAXMEMORY"')
    expect(start).not.toMatch(/--append|--maxmemory-policy/)
    expect(read("test/chaos/infra.ts")).not.toMatch(/CONFIG", "SET"|appendfsync", "/)
  })

  it("is mounted and loaded by Docker Compose", () => {
    const compose = parseYaml(read("infra/docker-compose.yml")) as {
      services: { redis: { command: Array<string>; volumes: Array<string> } }
    }
    const redis = compose.services.redis
    expect(redis.volumes).toContain("./redis/redis.conf:/usr/local/etc/redis/redis.conf:ro")
    expect(redis.command.slice(0, 2)).toEqual(["redis-server", "/usr/local/etc/redis/redis.conf"])
    expect(flags(redis.command).get("maxmemory")).toMatch(/^\d+[kmg]b$/)
  })

  it("is passed, directive by directive, by the Kubernetes dev overlay", () => {
    const docs = parseAllDocuments(read("infra/k8s/overlays/dev/redis.yaml")).map((doc) => doc.toJS())
    const statefulSet = docs.find((doc) => doc?.kind === "StatefulSet")
    const args: Array<string> = statefulSet.spec.template.spec.containers[0].args
    const passed = flags(args)
    for (const [name, value] of conf) expect(passed.get(name), name).toBe(value)
    expect(passed.get("maxmemory")).toMatch(/^\d+[kmg]b$/)
  })
})
