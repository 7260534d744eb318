/**
 * The field rules of the order wire types, defined once for every transport: the requestor's
 * REST bodies, the processor's REST bodies and the processor's gRPC requests decode with these
 * schemas, so a value one accepts the others accept too. Each decodes into its domain value
 * (`NotificationType`, `Priority`, a trimmed text, a number), so no cast is needed afterwards.
 *
 * The OpenAPI documents state each rule in its canonical form (`../http/wireForm.ts`); what they
 * allow is always accepted.
 */
import { Schema, SchemaGetter, SchemaTransformation } from "effect"
import {
  canonicalTextPattern,
  dateOrDateTimeForm,
  documented,
  latitudeStringPattern,
  longitudeStringPattern,
  patternOf,
} from "../http/wireForm.ts"
import { NotificationType, Priority } from "./domain.ts"
import { orderLimits } from "./limits.ts"

// --- identifiers -------------------------------------------------------------------------------

/**
 * Order and proposal ids travel as broker message keys (`<TOPIC>.<OrderReqID>`) and inside Redis
 * keys and timer members: letters, digits, `_`, `-`, and single `.` or `:` between them.
 */
export const idPattern = /^[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*$/u
/** Transaction uuids may also hold several `.` / `:` in a row. */
export const transactionPattern = /^[A-Za-z0-9._:-]+$/u
export const maxIdLength = 128

export const idRuleText = 'letters, digits, "_" or "-" (single "." or ":" allowed between them), at most 128 characters'
export const transactionRuleText = 'letters, digits, ".", "_", ":" or "-"'

/** Whether `value` is a valid order / proposal id (as written, not trimmed). */
export const isId = (value: string): boolean => value.length > 0 && value.length <= maxIdLength && idPattern.test(value)

// --- texts -------------------------------------------------------------------------------------

/** What the OpenAPI document says of a `Text` beyond its length: its pattern, description, examples. */
export interface TextDoc {
  readonly pattern?: string
  readonly description?: string
  readonly examples?: ReadonlyArray<string>
}

/**
 * A trimmed, non-empty string of at most `max` characters (`Schema.Trim` with those checks); the
 * document states it on the wire side: 1 to `max` characters, no surrounding whitespace.
 */
export const Text = (max: number, doc: TextDoc = {}) => {
  const { pattern = canonicalTextPattern, ...annotations } = doc
  return Schema.String.annotate({ expected: "a string that will be decoded as a trimmed string" })
    .check(documented<string>({ minLength: 1, maxLength: max, pattern }, annotations))
    .pipe(Schema.decodeTo(Schema.Trimmed, SchemaTransformation.trim()))
    .check(
      Schema.makeFilter((value: string) => (value.length > 0 ? undefined : "Expected a non-empty string")),
      Schema.isMaxLength(max),
    )
}

/** A trimmed string of at most `max` characters that may be empty (proto3's "not set"). */
export const OptionalText = (max: number) =>
  Schema.String.pipe(Schema.decodeTo(Schema.Trimmed, SchemaTransformation.trim())).check(Schema.isMaxLength(max))

/** The id rule on a trimmed text (an empty value is reported once, by `Text`). */
export const isIdText = Schema.makeFilter((value: string) =>
  value === "" || idPattern.test(value) ? undefined : `Expected ${idRuleText}`,
)

/** The transaction uuid rule on a trimmed text (an empty value is reported once, by `Text`). */
export const isTransactionText = Schema.makeFilter((value: string) =>
  value === "" || transactionPattern.test(value) ? undefined : `Expected ${transactionRuleText}`,
)

/** An order or proposal id: a trimmed `Text` of at most 128 characters following `idPattern`. */
export const IdText = (doc: Omit<TextDoc, "pattern"> = {}) =>
  Text(maxIdLength, { pattern: patternOf(idPattern), ...doc }).check(isIdText)

/** An idempotency key chosen by the client (a UUID is recommended). */
export const TransactionText = (doc: Omit<TextDoc, "pattern"> = {}) =>
  Text(maxIdLength, { pattern: patternOf(transactionPattern), ...doc }).check(isTransactionText)

// --- numbers -----------------------------------------------------------------------------------

/** A decimal number written as a string: `"12.5"`, `" 1000.50 "`, `"1e3"`. */
export const numericStringPattern = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/

export const numberMessage = "Expected a number or a numeric string"

/**
 * A finite number, or a string holding one (`"12.5"`, `"1e3"`); never `NaN`/`Infinity`/`"abc"`/`""`.
 * The document states the string form as `stringPattern` (a plain decimal within the range).
 */
export const numberLike = (stringPattern: string) =>
  Schema.Union([
    Schema.Finite,
    Schema.String.check(
      Schema.isPattern(numericStringPattern, { message: numberMessage }),
      documented<string>({ pattern: stringPattern }),
    ).pipe(
      Schema.decodeTo(Schema.Finite, {
        decode: SchemaGetter.transform((value: string) => Number(value)),
        encode: SchemaGetter.transform((value: number) => String(value)),
      }),
    ),
  ]).annotate({ message: numberMessage })

/** Greater than 0 (quantities, prices). */
export const isPositive = Schema.isGreaterThan(0)

/** Decimal degrees (WGS 84). */
export const Latitude = numberLike(latitudeStringPattern).check(Schema.isBetween({ minimum: -90, maximum: 90 }))
export const Longitude = numberLike(longitudeStringPattern).check(Schema.isBetween({ minimum: -180, maximum: 180 }))

// --- dates -------------------------------------------------------------------------------------

const isoDate = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i

/** Why `value` is not an ISO 8601 calendar date or date-time, or `undefined`. */
export const isoDateProblem = (value: string): string | undefined => {
  const match = isoDate.exec(value.trim())
  if (match === null) return "Expected an ISO 8601 date (YYYY-MM-DD) or date-time, e.g. 2025-11-01T00:00:00Z"
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return `${match[1]}-${match[2]}-${match[3]} is not a calendar date`
  }
  const [hour, minute, second] = [Number(match[4] ?? 0), Number(match[5] ?? 0), Number(match[6] ?? 0)]
  if (hour > 23 || minute > 59 || second > 60) return "Expected a valid time of day"
  return undefined
}

/** An ISO 8601 date or date-time naming a real calendar day; dates in the past are accepted. */
export const IsoDate = Schema.String.check(
  Schema.makeFilter(isoDateProblem, { toJsonSchema: () => dateOrDateTimeForm }),
).annotate({ description: "ISO 8601 date or date-time (past dates are accepted)", examples: ["2025-11-01"] })

// --- enumerations ------------------------------------------------------------------------------

/**
 * One of `values` in any letter case, surrounding spaces ignored, decoded to its listed spelling
 * (the document lists the values as written there).
 */
const anyCase = <const L extends readonly [string, ...Array<string>]>(
  values: Schema.Literals<L>,
  doc: { readonly description?: string; readonly examples?: ReadonlyArray<L[number]> } = {},
) => {
  const canonical = (value: string): L[number] | undefined =>
    values.literals.find((candidate) => candidate.toLowerCase() === value.trim().toLowerCase())
  const expected = `Expected ${values.literals.slice(0, -1).join(", ")} or ${values.literals.at(-1)}`
  return Schema.String.check(
    Schema.makeFilter((value: string) => (canonical(value) === undefined ? expected : undefined), {
      toJsonSchema: () => ({ enum: [...values.literals] }),
    }),
  )
    .annotate(doc)
    .pipe(
      Schema.decodeTo(
        values,
        SchemaTransformation.transform<L[number], string>({
          // The filter above has refused anything else.
          decode: (value) => canonical(value) ?? values.literals[0],
          encode: (value) => value,
        }),
      ),
    )
}

/** `GChat`, `Email`, `SMS` in any letter case. */
export const NotificationTypeInput = anyCase(NotificationType, {
  description: "GChat, Email or SMS",
  examples: ["GChat"],
})

/** `HIGH`, `MEDIUM`, `LOW` in any letter case. */
export const PriorityInput = anyCase(Priority, { description: "HIGH, MEDIUM (default) or LOW", examples: ["MEDIUM"] })

export const MessageType = Schema.Literals(["text", "html", "markdown"])
export type MessageType = typeof MessageType.Type

/** `text`, `html`, `markdown` in any letter case. */
export const MessageTypeInput = anyCase(MessageType)

// --- follow-up content -------------------------------------------------------------------------

/** An absolute http(s) URL of at most `orderLimits.urlLength` characters. */
export const Url = Schema.String.annotate({ expected: "a string that will be decoded as a trimmed string" })
  .check(documented<string>({ format: "uri", pattern: "^https?://[^\\s]+$", maxLength: orderLimits.urlLength }))
  .pipe(Schema.decodeTo(Schema.Trimmed, SchemaTransformation.trim()))
  .check(
    Schema.makeFilter((value: string) => {
      if (!URL.canParse(value)) return "Expected an absolute http(s) URL"
      const protocol = new URL(value).protocol
      return protocol === "http:" || protocol === "https:" ? undefined : "Expected an absolute http(s) URL"
    }),
    Schema.isMaxLength(orderLimits.urlLength),
  )

export const Urls = Schema.Array(Url).check(Schema.isMaxLength(orderLimits.urls))

/** A follow-up's text: trimmed, 1 to `orderLimits.messageText` characters. */
export const MessageText = Text(orderLimits.messageText)

/** A pause reason shown to the sellers. */
export const PauseReason = Text(orderLimits.pauseReason, { description: "Shown to the sellers" })
