/**
 * What the OpenAPI documents say about a request field, derived from the rules the servers
 * enforce (the same constants), for the rules Effect cannot turn into JSON Schema by itself.
 *
 * The documents (`/openapi.json`, from `effect/http-api`'s `OpenApi.fromApi`) describe the
 * encoded side of each schema: a check after a transformation (`Schema.Trim`, a numeric string
 * decoded to a number) and a `Schema.makeFilter` without `toJsonSchema` leave no trace in them,
 * and a `RegExp` is exported only with the `u` flag. So:
 *
 * - a real filter states its JSON Schema with `toJsonSchema` (an enum, a pattern, an alias rule);
 * - a rule the decoded side enforces is stated on the wire side with `documented`, a check that
 *   never fails and only carries the JSON Schema fragment.
 *
 * A fragment states the canonical form of what is accepted (no surrounding spaces, upper-case
 * enum values, numbers as numbers): a value valid per the document is always accepted; the
 * servers are more lenient than the documents, never stricter. `test/unit/openapi.test.ts` checks
 * that, generating values from the documents and decoding them with the servers' own schemas.
 */
import { type JsonSchema, Schema } from "effect"

export type WireForm = JsonSchema.JsonSchema

/** A check that never fails and tells the OpenAPI document `fragment` (and a description, examples). */
export const documented = <T>(
  fragment: WireForm,
  annotations: { readonly description?: string; readonly examples?: ReadonlyArray<T> } = {},
) => Schema.makeFilter<T>(() => undefined, { toJsonSchema: () => fragment, ...annotations })

/** A trimmed string with at least one character: its canonical wire form, no surrounding whitespace. */
export const canonicalTextPattern = "^\\S(?:[\\s\\S]*\\S)?$"

/** The JSON Schema `pattern` of `regExp` (ECMA-262 with the `u` flag, as JSON Schema validators read it). */
export const patternOf = (regExp: RegExp): string => {
  if (regExp.flags !== "" && regExp.flags !== "u") throw new Error(`pattern ${regExp} has flags JSON Schema lacks`)
  return regExp.source
}

/**
 * Alias rule of a struct: `canonical` or its `alias` (the original dCent README's spelling). Required: exactly one
 * of them (the servers also accept both when they agree); optional: not both.
 */
export const aliasForm = (canonical: string, alias: string, required: boolean): WireForm =>
  required ? { oneOf: [{ required: [canonical] }, { required: [alias] }] } : { not: { required: [canonical, alias] } }

/**
 * A decimal number written as a string, canonical form: no exponent, no surrounding spaces, at
 * most 15 digits on either side of the point (a value that converts to a number exactly enough).
 */
export const decimalStringPattern = "^[+-]?(?:0|[1-9][0-9]{0,14})(?:\\.[0-9]{1,15})?$"

/** A decimal string greater than 0, canonical form. */
export const positiveDecimalStringPattern = "^\\+?(?:[1-9][0-9]{0,14}(?:\\.[0-9]{1,15})?|0\\.[0-9]{0,14}[1-9])$"

/** A decimal string in [-90, 90] (latitude), canonical form. */
export const latitudeStringPattern = "^[+-]?(?:90(?:\\.0{1,15})?|[1-8]?[0-9](?:\\.[0-9]{1,15})?)$"

/** A decimal string in [-180, 180] (longitude), canonical form. */
export const longitudeStringPattern = "^[+-]?(?:180(?:\\.0{1,15})?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\\.[0-9]{1,15})?)$"

/** ISO 8601 date (`2025-11-01`) or date-time with a zone (`2025-11-01T10:00:00Z`). */
export const dateOrDateTimeForm: WireForm = { anyOf: [{ format: "date" }, { format: "date-time" }] }
