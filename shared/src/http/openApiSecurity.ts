/**
 * What the OpenAPI documents state beyond the endpoints' schemas (an `OpenApi.annotations`
 * `transform` on each service's API): the bearer scheme carries a JWT, and every operation may
 * answer 414 (URL too long) and 431 (headers too large), every operation with a body 413 (body too
 * large), with the limits' defaults and the variables that change them (`limits.ts`).
 */
import { defaultHttpLimits } from "./limits.ts"

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document as Effect hands it to a transform
type Json = Record<string, any>

const errorResponse = (description: string): Json => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
})

const tooLarge = errorResponse(
  `The body is larger than HTTP_MAX_BODY_BYTES (default ${defaultHttpLimits.maxBodyBytes} bytes): \`payload_too_large\``,
)
const uriTooLong = errorResponse(
  `The URL is longer than HTTP_MAX_URL_LENGTH (default ${defaultHttpLimits.maxUrlLength} characters): \`uri_too_long\``,
)
const headersTooLarge: Json = {
  description: `Request line and headers larger than HTTP_MAX_HEADER_BYTES (default ${defaultHttpLimits.maxHeaderBytes} bytes)`,
}

const methods = ["get", "put", "post", "delete", "patch"] as const

export const documentInputLimits = (spec: Json): Json => {
  const schemes = spec.components?.securitySchemes as Json | undefined
  if (schemes?.bearer !== undefined) schemes.bearer = { ...schemes.bearer, bearerFormat: "JWT" }
  const hasErrorBody = spec.components?.schemas?.ErrorBody !== undefined
  for (const path of Object.values(spec.paths ?? {}) as Array<Json>) {
    for (const method of methods) {
      const operation = path[method] as Json | undefined
      if (operation === undefined) continue
      operation.responses ??= {}
      const responses = operation.responses as Json
      if (hasErrorBody) {
        responses["414"] ??= uriTooLong
        if (operation.requestBody !== undefined) responses["413"] ??= tooLarge
      }
      responses["431"] ??= headersTooLarge
    }
  }
  return spec
}
