/**
 * Authentication on the gRPC servers (a server stage, `../grpc/stages.ts`, run by `GrpcServer`
 * when the process has an `Authenticator`; the standard health and reflection services are
 * exempt).
 *
 * Credentials come from the call metadata: `authorization: Bearer <JWT>` or `x-api-key`.
 * Without a valid one the call fails before its handler runs with `UNAUTHENTICATED` (trailer
 * `dcent-error-code` = the reason), counted and logged. Handlers read who is calling with
 * `callPrincipal(context)`, which fails closed (`UNAUTHENTICATED`) when no middleware put one.
 *
 * On-behalf-of: a caller with the role `service` (the requestor) may name the buyer it calls for
 * in `dcent-on-behalf-of` (sub) and `dcent-on-behalf-roles` (comma-separated); the handler's
 * principal is then that one, so the processor enforces the buyer rules itself. Anyone else's
 * on-behalf metadata is ignored.
 */
import { type Context, Effect, Exit } from "effect"
import { type CallContext, Metadata, ServerError, Status } from "nice-grpc-common"
import { isHealthOrReflection } from "../grpc/calls.ts"
import { grpcError } from "../grpc/errorDetails.ts"
import type { ServerStage } from "../grpc/stages.ts"
import { AuthEntries, type Catalogue } from "../metrics/catalogue.ts"
import type { AuthenticatorShape } from "./Authenticator.ts"
import { recordDenial } from "./denials.ts"
import type { PermissionDenied } from "./errors.ts"
import { hasRole, isRole, type Principal } from "./Principal.ts"

export const onBehalfOfHeader = "dcent-on-behalf-of"
export const onBehalfRolesHeader = "dcent-on-behalf-roles"

const principals = new WeakMap<AbortSignal, { readonly principal: Principal; readonly caller: Principal }>()

/** Who the call acts for (the on-behalf principal, else the caller); UNAUTHENTICATED when unknown. */
export const callPrincipal = (context: CallContext): Principal => {
  const found = principals.get(context.signal)
  if (found === undefined) throw new ServerError(Status.UNAUTHENTICATED, "no credentials")
  return found.principal
}

/** The authenticated caller itself (the requestor's service principal for forwarded calls). */
export const callCaller = (context: CallContext): Principal => {
  const found = principals.get(context.signal)
  if (found === undefined) throw new ServerError(Status.UNAUTHENTICATED, "no credentials")
  return found.caller
}

/** A policy refusal as the gRPC status (trailer `dcent-error-code` = its reason), counted and logged. */
export const permissionDenied = (
  catalogue: Catalogue,
  context: CallContext,
  route: string,
  principal: Principal,
  denied: PermissionDenied,
): Effect.Effect<ServerError> =>
  recordDenial(catalogue, {
    entry: AuthEntries.Grpc,
    route,
    status: 403,
    reason: denied.reason,
    detail: denied.detail,
    principal,
  }).pipe(
    Effect.map(() => {
      return grpcError(context, { status: Status.PERMISSION_DENIED, code: denied.reason, message: denied.detail })
    }),
  )

/** Metadata carrying the principal a service calls for. */
export const onBehalfMetadata = (principal: Principal, metadata: Metadata = Metadata()): Metadata => {
  metadata.set(onBehalfOfHeader, principal.sub)
  metadata.set(onBehalfRolesHeader, principal.roles.join(","))
  return metadata
}

const onBehalfOf = (caller: Principal, metadata: Metadata): Principal => {
  if (!hasRole(caller, "service")) return caller
  const sub = metadata.get(onBehalfOfHeader)
  if (sub === undefined || sub === "") return caller
  const roles = (metadata.get(onBehalfRolesHeader) ?? "").split(",").filter(isRole)
  return { sub, roles, via: caller.via }
}

/** A server stage (`../grpc/stages.ts`) inside admission control (a refused call does no verification). */
export const rpcServerAuthentication = (
  authenticator: AuthenticatorShape,
  catalogue: Catalogue,
  context: Context.Context<never>,
): ServerStage => {
  const run = Effect.runPromiseExitWith(context)
  return {
    enter: async (call, callContext) => {
      if (isHealthOrReflection(call.method.path)) return undefined
      const exit = await run(
        authenticator
          .authenticate({
            authorization: callContext.metadata.get("authorization"),
            apiKey: callContext.metadata.get("x-api-key"),
          })
          .pipe(
            Effect.tapError((error) =>
              recordDenial(catalogue, {
                entry: AuthEntries.Grpc,
                route: call.method.path,
                status: 401,
                reason: error.reason,
                detail: error.detail,
              }),
            ),
          ),
      )
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
        const error = reason?._tag === "Fail" ? reason.error : undefined
        throw grpcError(callContext, {
          status: Status.UNAUTHENTICATED,
          code: error?.reason ?? "unauthenticated",
          message: error?.detail ?? "authentication failed",
        })
      }
      const caller = exit.value
      principals.set(callContext.signal, { caller, principal: onBehalfOf(caller, callContext.metadata) })
      return undefined
    },
  }
}
