/**
 * Minting HS256 tokens with `AUTH_JWT_SECRET`: `make token ROLE=buyer SUB=BUYER-001` (local
 * use), the requestor's own service token for its calls to the processor, and tests.
 */
import { SignJWT } from "jose"
import type { Role } from "./Principal.ts"

export interface MintOptions {
  readonly secret: string
  readonly sub: string
  readonly roles: ReadonlyArray<Role>
  /** Lifetime (default 3600 s). */
  readonly expiresInSeconds?: number
  readonly issuer?: string | undefined
  readonly audience?: string | undefined
  /** "Now" in ms since the epoch (the caller's Clock). */
  readonly nowMillis: number
}

export const mintToken = (options: MintOptions): Promise<string> => {
  const now = Math.floor(options.nowMillis / 1000)
  let jwt = new SignJWT({ roles: [...options.roles] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 3600))
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer)
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience)
  return jwt.sign(new TextEncoder().encode(options.secret))
}
