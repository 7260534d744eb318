import { acceptsTcp } from "./ports.ts"
import { servers } from "./servers.ts"

/**
 * Integration tests need real Kafka, Redis, NATS and PostgreSQL (the archive). A missing server fails the whole run
 * with a message saying how to start it, rather than letting tests skip silently.
 */

export default async function requireServers() {
  const missing: Array<string> = []
  for (const [name, { host, port }] of Object.entries(servers)) {
    if (!(await acceptsTcp(host, port, 2_000))) missing.push(`${name} (${host}:${port})`)
  }
  if (missing.length > 0) {
    throw new Error(
      `integration tests need real servers; not reachable: ${missing.join(", ")}. ` +
        "Start them with `bash infra/local/stack.sh up` (or run `make test`, which does).",
    )
  }
}
