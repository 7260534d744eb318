/**
 * `make token ROLE=buyer SUB=BUYER-001`: prints an HS256 token signed with `AUTH_JWT_SECRET`
 * (claims `sub`, `roles`, `exp` = now + `TTL` seconds (3600), `iss`/`aud` from `AUTH_JWT_ISSUER` /
 * `AUTH_JWT_AUDIENCE` when set), for local use against a stack run with the same secret:
 *
 *   export AUTH_JWT_SECRET=$(openssl rand -hex 32)
 *   AUTH_MODE=jwt make run
 *   curl -H "Authorization: Bearer $(make -s token ROLE=buyer SUB=BUYER-001)" ...
 *
 * `ROLE` may list several, comma-separated (`buyer,operator`).
 *
 * `make api-key ROLE=service SUB=requestor` (`--api-key`): prints a new random API key and the
 * entry for `AUTH_API_KEYS_FILE` (its SHA-256, never the key itself).
 */
import { randomBytes } from "node:crypto"
import { hashApiKey } from "../shared/src/auth/apiKeys.ts"
import { isRole } from "../shared/src/auth/Principal.ts"
import { mintToken } from "../shared/src/auth/tokens.ts"

const fail = (message: string): never => {
  process.stderr.write(`token: ${message}\n`)
  process.exit(2)
}

const roles = (process.env.ROLE ?? "")
  .split(",")
  .map((role) => role.trim())
  .filter((role) => role !== "")
const sub = process.env.SUB?.trim() ?? ""
if (roles.length === 0 || !roles.every(isRole)) fail("ROLE= one or more of buyer, seller, operator, service")
if (sub === "") fail("SUB= the BuyerID or SellerID (e.g. SUB=BUYER-001)")
const validRoles = roles.filter(isRole)

if (process.argv.includes("--api-key")) {
  const key = randomBytes(32).toString("hex")
  process.stdout.write(`key:   ${key}\n`)
  process.stdout.write(`entry: ${JSON.stringify({ sha256: hashApiKey(key), sub, roles: validRoles })}\n`)
} else {
  const secret = process.env.AUTH_JWT_SECRET ?? ""
  if (secret === "") fail("AUTH_JWT_SECRET is not set (the services must run with the same one)")
  const ttl = Number(process.env.TTL ?? 3600)
  if (!Number.isInteger(ttl) || ttl <= 0) fail("TTL= a positive number of seconds")
  const token = await mintToken({
    secret,
    sub,
    roles: validRoles,
    expiresInSeconds: ttl,
    issuer: process.env.AUTH_JWT_ISSUER || undefined,
    audience: process.env.AUTH_JWT_AUDIENCE || undefined,
    nowMillis: Date.now(),
  })
  process.stdout.write(`${token}\n`)
}
