/**
 * What the generator presents when the services run with `AUTH_MODE=jwt` (the bench passes
 * `AUTH_*` from its environment to the services it starts): HS256 bearer tokens signed with the
 * same `AUTH_JWT_SECRET`, one per principal — the operator who registers the sellers, the buyer
 * who initiates and watches every order, each seller for its own proposals. Minted once per
 * session, so the load measures the services' verification, not the generator's signing. Without
 * `AUTH_MODE=jwt` every header is absent.
 */
import { mintToken } from "@dcent/shared/auth/tokens"

export interface BenchCredentials {
  /** `Bearer …` of the operator, or undefined when the services do not authenticate. */
  readonly operator: string | undefined
  readonly buyer: string | undefined
  readonly seller: (sellerId: string) => string | undefined
}

export const noCredentials: BenchCredentials = { operator: undefined, buyer: undefined, seller: () => undefined }

/** Tokens for `buyerId` and `sellerIds` when `AUTH_MODE=jwt` and `AUTH_JWT_SECRET` are set here. */
export const benchCredentials = async (
  buyerId: string,
  sellerIds: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BenchCredentials> => {
  const secret = env.AUTH_JWT_SECRET
  if (env.AUTH_MODE !== "jwt" || secret === undefined || secret === "") return noCredentials
  const bearer = async (sub: string, role: "operator" | "buyer" | "seller") =>
    `Bearer ${await mintToken({
      secret,
      sub,
      roles: [role],
      expiresInSeconds: 6 * 3600,
      issuer: env.AUTH_JWT_ISSUER,
      audience: env.AUTH_JWT_AUDIENCE,
      nowMillis: Date.now(),
    })}`
  const sellers = new Map(await Promise.all(sellerIds.map(async (id) => [id, await bearer(id, "seller")] as const)))
  return {
    operator: await bearer("bench-operator", "operator"),
    buyer: await bearer(buyerId, "buyer"),
    seller: (sellerId) => sellers.get(sellerId),
  }
}
