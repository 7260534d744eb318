/**
 * Authentication failures. Their messages say what is wrong with a credential, never the
 * credential itself (no token, no key, no secret in any error, log or span).
 */
import { Schema } from "effect"

/** Values of `Unauthenticated.reason` (and of `dcent_auth_denials_total{reason}` for a 401). */
export const UnauthenticatedReasons = {
  /** neither `Authorization: Bearer` nor `X-API-Key` */
  Missing: "missing_credentials",
  /** a token that does not verify: bad signature, `alg: none`, wrong issuer/audience, malformed, no `exp`, … */
  InvalidToken: "invalid_token",
  /** a token past its `exp` */
  Expired: "token_expired",
  /** an API key that is not in `AUTH_API_KEYS_FILE` */
  InvalidApiKey: "invalid_api_key",
} as const
export type UnauthenticatedReason = (typeof UnauthenticatedReasons)[keyof typeof UnauthenticatedReasons]

/** No valid credential: HTTP 401 with `WWW-Authenticate: Bearer`, gRPC `UNAUTHENTICATED`. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  reason: Schema.Literals([
    UnauthenticatedReasons.Missing,
    UnauthenticatedReasons.InvalidToken,
    UnauthenticatedReasons.Expired,
    UnauthenticatedReasons.InvalidApiKey,
  ]),
  /** What is wrong, for humans (never the credential). */
  detail: Schema.String,
}) {
  override get message() {
    return `unauthenticated (${this.reason}): ${this.detail}`
  }
}

/** An authenticated principal that may not do this: HTTP 403, gRPC `PERMISSION_DENIED`. */
export class PermissionDenied extends Schema.TaggedError<PermissionDenied>()("PermissionDenied", {
  /** Stable snake_case reason, e.g. `not_order_owner`, `role_not_allowed`, `seller_mismatch`. */
  reason: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return this.detail
  }
}

/** `AUTH_API_KEYS_FILE` cannot be read or is malformed (start-up fails naming the variable). */
export class ApiKeysFileError extends Schema.TaggedError<ApiKeysFileError>()("ApiKeysFileError", {
  path: Schema.String,
  problem: Schema.String,
}) {
  override get message() {
    return `AUTH_API_KEYS_FILE=${JSON.stringify(this.path)}: ${this.problem}`
  }
}

/** `AUTH_JWT_PUBLIC_KEY_FILE` cannot be read or is not a public key. */
export class PublicKeyFileError extends Schema.TaggedError<PublicKeyFileError>()("PublicKeyFileError", {
  path: Schema.String,
  problem: Schema.String,
}) {
  override get message() {
    return `AUTH_JWT_PUBLIC_KEY_FILE=${JSON.stringify(this.path)}: ${this.problem}`
  }
}
