/**
 * The requestor's request bodies as they arrive on the wire (PascalCase, as in the seed README),
 * and their translation into the domain commands of `domain.ts`.
 *
 * Lenient where the seed and real clients differ, strict about values:
 * - `OrderReqID` or the seed's `OrderReqId`; `NotificationType` or the seed's `"Notification type"`
 *   (values `GChat`, `Email`, `SMS`, any letter case).
 * - `Location`: `{Lat, Lng}`, a GeoJSON position `[lng, lat]`, or a GeoJSON `Point`.
 * - Numbers may be sent as numeric strings (`"12.5"`); `NaN`, `Infinity`, `"abc"`, `""` are rejected.
 * - `Products[]`: objects `{Name, Quantity?, Unit?, ProductID?, Attributes?}` or plain names.
 * - Follow-up `Message`: the seed's `{"content": {URLs, MessageType, Message}}`, the flat
 *   `{URLs, MessageType, Message}`, or just the text.
 *
 * Schema problems become 400 responses whose `details` name the field (`body.Location.Lat`).
 *
 * The OpenAPI document states each rule in its canonical form (`@dcent/shared/http/wireForm`):
 * ids and texts without surrounding spaces, enum values as listed, numbers as numbers or plain
 * decimal strings; what it allows is always accepted here.
 */
import type { ErrorDetail } from "@dcent/shared/http/errors"
import {
  aliasForm,
  canonicalTextPattern,
  dateOrDateTimeForm,
  decimalStringPattern,
  documented,
  latitudeStringPattern,
  longitudeStringPattern,
  patternOf,
  positiveDecimalStringPattern,
  type WireForm,
} from "@dcent/shared/http/wireForm"
import {
  defaultPriority,
  type NotificationType,
  NotificationType as NotificationTypeSchema,
  type Priority,
  Priority as PrioritySchema,
} from "@dcent/shared/orders/domain"
import { orderLimits } from "@dcent/shared/orders/limits"
import { Result, Schema, SchemaGetter, SchemaTransformation } from "effect"
import type {
  FinaliseCommand,
  FollowUpCommand,
  FollowUpMessageType,
  InitiateCommand,
  Location,
  OrderDetails,
  PauseCommand,
  Product,
  ResumeCommand,
} from "./domain.ts"
import { followUpMessageTypes } from "./domain.ts"
import { InvalidRequest } from "./errors.ts"

// --- building blocks ---------------------------------------------------------------------------

/** What the OpenAPI document says of a `Text` beyond its length: its pattern, description, examples. */
interface TextDoc {
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

const orderReqIdPattern = /^[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*$/u

/** `ORD-001`: letters, digits, `_`, `-`, and single `.` or `:` between them; at most 128 characters. */
/** Id rule (an empty value is reported once, by `Text`). */
const idCheck = Schema.makeFilter((value: string) =>
  value === "" || orderReqIdPattern.test(value)
    ? undefined
    : 'Expected letters, digits, "_" or "-" (single "." or ":" allowed between them)',
)

/** The order id `value` names once trimmed (as `OrderReqId` decodes it), or `undefined` when it is not a valid one. */
export const validOrderReqId = (value: string): string | undefined => {
  const id = value.trim()
  return id.length > 0 && id.length <= 128 && orderReqIdPattern.test(id) ? id : undefined
}

const orderIdDoc = (description: string, example: string): TextDoc => ({
  pattern: patternOf(orderReqIdPattern),
  description: `${description}: letters, digits, \`_\`, \`-\`, single \`.\` or \`:\` between them`,
  examples: [example],
})

export const OrderReqId = Text(128, orderIdDoc("The order request id", "ORD-001"))
  .check(idCheck)
  .annotate({ description: "The order request id, e.g. `ORD-001`", examples: ["ORD-001"] })

/** A ProposalID: the same rules as an order id. */
export const ProposalId = Text(128, orderIdDoc("A proposal id", "PROP-001"))
  .check(idCheck)
  .annotate({ description: "A proposal id, e.g. `PROP-001`", examples: ["PROP-001"] })

const transactionUuidPattern = /^[A-Za-z0-9._:-]+$/u

/** An idempotency key chosen by the client (a UUID is recommended). */
export const TransactionUuid = Text(128, {
  pattern: patternOf(transactionUuidPattern),
  description: "Idempotency key (a UUID is recommended); generated when absent",
})
  .check(Schema.isPattern(transactionUuidPattern, { message: 'Expected letters, digits, ".", "_", ":" or "-"' }))
  .annotate({ description: "Idempotency key; generated when absent" })

const numericString = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/

const numberMessage = "Expected a number or a numeric string"

/**
 * A finite number, or a string holding one (`"12.5"`, `"1e3"`); never `NaN`/`Infinity`/`"abc"`/`""`.
 * The document states the string form as `stringPattern` (a plain decimal within the range).
 */
const numberLike = (stringPattern: string) =>
  Schema.Union([
    Schema.Finite,
    Schema.String.check(
      Schema.isPattern(numericString, { message: numberMessage }),
      documented<string>({ pattern: stringPattern }),
    ).pipe(
      Schema.decodeTo(Schema.Finite, {
        decode: SchemaGetter.transform((value: string) => Number(value)),
        encode: SchemaGetter.transform((value: number) => String(value)),
      }),
    ),
  ]).annotate({ message: numberMessage })

export const NumberLike = numberLike(decimalStringPattern)

const Latitude = numberLike(latitudeStringPattern).check(Schema.isBetween({ minimum: -90, maximum: 90 }))
const Longitude = numberLike(longitudeStringPattern).check(Schema.isBetween({ minimum: -180, maximum: 180 }))

const LatLng = Schema.Struct({ Lat: Latitude, Lng: Longitude }).annotate({
  identifier: "LatLng",
  description: "Decimal degrees (WGS 84)",
})
/** GeoJSON order: longitude first. An altitude, if present, is ignored. */
const GeoJsonPosition = Schema.TupleWithRest(Schema.Tuple([Longitude, Latitude]), [NumberLike]).annotate({
  description: "GeoJSON position `[lng, lat]`",
})
const GeoJsonPoint = Schema.Struct({ type: Schema.Literal("Point"), coordinates: GeoJsonPosition }).annotate({
  description: 'GeoJSON `{"type": "Point", "coordinates": [lng, lat]}`',
})

export const LocationInput = Schema.Union([LatLng, GeoJsonPosition, GeoJsonPoint]).annotate({
  description: "`{Lat, Lng}`, GeoJSON `[lng, lat]` or a GeoJSON Point",
  message: 'Expected {"Lat": number, "Lng": number}, a GeoJSON position [lng, lat] or a GeoJSON Point',
})
type LocationInput = typeof LocationInput.Type

const toLocation = (input: LocationInput): Location => {
  if (Array.isArray(input)) return { lat: input[1] as number, lng: input[0] as number }
  if ("coordinates" in input) return { lat: input.coordinates[1], lng: input.coordinates[0] }
  return { lat: (input as { Lat: number }).Lat, lng: (input as { Lng: number }).Lng }
}

const priorities: ReadonlyArray<Priority> = PrioritySchema.literals

/** `HIGH`, `MEDIUM`, `LOW` in any letter case (the document lists them as written here). */
export const PriorityInput = Schema.String.check(
  Schema.makeFilter(
    (value: string) =>
      (priorities as ReadonlyArray<string>).includes(value.trim().toUpperCase())
        ? undefined
        : "Expected HIGH, MEDIUM or LOW",
    { toJsonSchema: () => ({ enum: [...priorities] }) },
  ),
).annotate({ description: "HIGH, MEDIUM (default) or LOW", examples: ["MEDIUM"] })

const toPriority = (value: string | undefined): Priority =>
  value === undefined ? defaultPriority : (value.trim().toUpperCase() as Priority)

const notificationTypes: ReadonlyArray<NotificationType> = NotificationTypeSchema.literals

/** `GChat`, `Email`, `SMS` in any letter case (the document lists them as written here). */
export const NotificationTypeInput = Schema.String.check(
  Schema.makeFilter(
    (value: string) =>
      notificationTypes.some((type) => type.toLowerCase() === value.trim().toLowerCase())
        ? undefined
        : "Expected GChat, Email or SMS",
    { toJsonSchema: () => ({ enum: [...notificationTypes] }) },
  ),
).annotate({ description: "GChat, Email or SMS", examples: ["GChat"] })

const toNotificationType = (value: string): NotificationType =>
  notificationTypes.find((type) => type.toLowerCase() === value.trim().toLowerCase()) as NotificationType

const isoDate = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i

/** Why `value` is not an ISO 8601 date or date-time, or `undefined`. */
const dateProblem = (value: string): string | undefined => {
  const match = isoDate.exec(value.trim())
  if (match === null) return "Expected an ISO 8601 date (YYYY-MM-DD) or date-time"
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return `${match[1]}-${match[2]}-${match[3]} is not a calendar date`
  }
  const [hour, minute, second] = [Number(match[4] ?? 0), Number(match[5] ?? 0), Number(match[6] ?? 0)]
  if (hour > 23 || minute > 59 || second > 60) return "Expected a valid time of day"
  return undefined
}

/** A calendar date as written (`2025-11-01`, or the date part of `2025-11-01T00:00:00Z`); past dates are fine. */
export const DeliveryDate = Schema.String.check(
  Schema.makeFilter(dateProblem, { toJsonSchema: () => dateOrDateTimeForm }),
).annotate({
  description: "ISO 8601 date or date-time; the calendar date is kept (past dates are accepted)",
  examples: ["2025-11-01"],
})

const toDeliveryDate = (value: string): string => value.trim().slice(0, 10)

const Quantity = numberLike(positiveDecimalStringPattern)
  .check(Schema.isGreaterThan(0))
  .annotate({ description: "Greater than 0 (default 1)" })

const AttributeValue = Schema.Union([Schema.String, Schema.Finite, Schema.Boolean])

const ProductObject = Schema.Struct({
  ProductID: Schema.optionalKey(Text(128)),
  Name: Text(200),
  Quantity: Schema.optionalKey(Quantity),
  Unit: Schema.optionalKey(Text(32)),
  Attributes: Schema.optionalKey(Schema.Record(Schema.String, AttributeValue)),
}).annotate({ identifier: "ProductInput" })

export const ProductInput = Schema.Union([ProductObject, Text(200)]).annotate({
  description: "A product object, or just its name",
  message: 'Expected a product {"Name": ..., "Quantity": ...} or a product name',
})

export const Products = Schema.Array(ProductInput).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(orderLimits.products),
)

const toProduct = (input: typeof ProductInput.Type): Product => {
  if (typeof input === "string") return { name: input, quantity: 1, attributes: {} }
  return {
    ...(input.ProductID === undefined ? {} : { productId: input.ProductID }),
    name: input.Name,
    quantity: input.Quantity ?? 1,
    ...(input.Unit === undefined ? {} : { unit: input.Unit }),
    attributes: Object.fromEntries(Object.entries(input.Attributes ?? {}).map(([key, value]) => [key, String(value)])),
  }
}

/** Struct check: `a` and its alias `b` — at least one present when `required`, and never two different values. */
const aliasCheck = (
  canonical: string,
  alias: string,
  options: { readonly required: boolean; readonly same?: (a: string, b: string) => boolean },
) =>
  Schema.makeFilter(
    (input: Record<string, unknown>) => {
      const a = input[canonical]
      const b = input[alias]
      if (a === undefined && b === undefined) {
        return options.required
          ? { path: [canonical], issue: `Missing key (send "${canonical}" or "${alias}")` }
          : undefined
      }
      if (a !== undefined && b !== undefined) {
        const same = options.same ?? ((x, y) => x === y)
        if (!same(String(a), String(b))) return { path: [alias], issue: `Differs from "${canonical}"` }
      }
      return undefined
    },
    { toJsonSchema: () => aliasForm(canonical, alias, options.required) },
  )

const sameNotificationType = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase()

// --- POST /api/v1/orders ----------------------------------------------------------------------

const detailFields = {
  BuyerID: Text(128),
  Industry: Text(100),
  Location: LocationInput,
  Products,
  DeliveryDate,
}

export const RegisterOrderBody = Schema.Struct({
  OrderReqID: Schema.optionalKey(OrderReqId),
  OrderReqId: Schema.optionalKey(OrderReqId),
  ...detailFields,
  // Filled from the token's `sub` when a buyer leaves it out (`http.ts`); required otherwise.
  BuyerID: Schema.optionalKey(
    detailFields.BuyerID.annotate({ description: "The buyer; defaults to the authenticated buyer (`sub`)" }),
  ),
  Priority: Schema.optionalKey(PriorityInput),
  NotificationType: Schema.optionalKey(NotificationTypeInput),
  "Notification type": Schema.optionalKey(NotificationTypeInput),
  SessionID: Schema.optionalKey(Text(128)),
})
  .check(
    aliasCheck("OrderReqID", "OrderReqId", { required: true }),
    aliasCheck("NotificationType", "Notification type", { required: false, same: sameNotificationType }),
  )
  .annotate({
    identifier: "RegisterOrderBody",
    description: "The order's details, registered before `initiate`",
  })
export type RegisterOrderBody = typeof RegisterOrderBody.Type

const orderReqIdOf = (body: { readonly OrderReqID?: string; readonly OrderReqId?: string }): string =>
  (body.OrderReqID ?? body.OrderReqId) as string

const notificationTypeOf = (body: {
  readonly NotificationType?: string
  readonly "Notification type"?: string
}): NotificationType | undefined => {
  const value = body.NotificationType ?? body["Notification type"]
  return value === undefined ? undefined : toNotificationType(value)
}

export const toOrderDetails = (body: RegisterOrderBody): OrderDetails => {
  const notificationType = notificationTypeOf(body)
  return {
    orderReqId: orderReqIdOf(body),
    // Always set by the time the details are built (`http.ts` fills it or answers 400).
    buyerId: body.BuyerID ?? "",
    industry: body.Industry,
    location: toLocation(body.Location),
    products: body.Products.map(toProduct),
    deliveryDate: toDeliveryDate(body.DeliveryDate),
    priority: toPriority(body.Priority),
    ...(notificationType === undefined ? {} : { notificationType }),
    ...(body.SessionID === undefined ? {} : { sessionId: body.SessionID }),
  }
}

// --- POST /api/v1/initiate --------------------------------------------------------------------

const requiredInlineFields = ["BuyerID", "Industry", "Location", "Products", "DeliveryDate"] as const

/** Inline details are all or nothing (`toInitiateCommand` enforces it), and `Priority` comes with them. */
const inlineDetailsForm: WireForm = {
  dependentRequired: {
    ...Object.fromEntries(
      requiredInlineFields.map((field) => [field, requiredInlineFields.filter((other) => other !== field)]),
    ),
    Priority: [...requiredInlineFields],
  },
}

export const InitiateBody = Schema.Struct({
  OrderReqID: Schema.optionalKey(OrderReqId),
  OrderReqId: Schema.optionalKey(OrderReqId),
  SessionID: Text(128),
  NotificationType: Schema.optionalKey(NotificationTypeInput),
  "Notification type": Schema.optionalKey(NotificationTypeInput),
  BuyerID: Schema.optionalKey(detailFields.BuyerID),
  Industry: Schema.optionalKey(detailFields.Industry),
  Location: Schema.optionalKey(detailFields.Location),
  Products: Schema.optionalKey(detailFields.Products),
  DeliveryDate: Schema.optionalKey(detailFields.DeliveryDate),
  Priority: Schema.optionalKey(PriorityInput),
})
  .check(
    aliasCheck("OrderReqID", "OrderReqId", { required: true }),
    aliasCheck("NotificationType", "Notification type", { required: false, same: sameNotificationType }),
    documented(inlineDetailsForm),
  )
  .annotate({
    identifier: "InitiateBody",
    description:
      "Starts the order. Its details come from an earlier `POST /api/v1/orders`, or inline: then " +
      "BuyerID, Industry, Location, Products and DeliveryDate are all required.",
  })
export type InitiateBody = typeof InitiateBody.Type

/** Inline details must be complete; a partial set is a 400 naming what is missing. */
export const toInitiateCommand = (body: InitiateBody): Result.Result<InitiateCommand, InvalidRequest> => {
  const orderReqId = orderReqIdOf(body)
  const notificationType = notificationTypeOf(body)
  const given = requiredInlineFields.filter((field) => body[field] !== undefined)
  const command = {
    orderReqId,
    sessionId: body.SessionID,
    ...(notificationType === undefined ? {} : { notificationType }),
  }
  if (given.length === 0 && body.Priority === undefined) return Result.succeed(command)
  const missing = requiredInlineFields.filter((field) => body[field] === undefined)
  if (missing.length > 0) {
    const details: Array<ErrorDetail> = missing.map((field) => ({
      path: `body.${field}`,
      problem: `Missing key (inline order details need ${requiredInlineFields.join(", ")})`,
    }))
    return Result.fail(InvalidRequest.of("the inline order details are incomplete", details))
  }
  const details = toOrderDetails({
    OrderReqID: orderReqId,
    BuyerID: body.BuyerID as string,
    Industry: body.Industry as string,
    Location: body.Location as LocationInput,
    Products: body.Products as ReadonlyArray<typeof ProductInput.Type>,
    DeliveryDate: body.DeliveryDate as string,
    ...(body.Priority === undefined ? {} : { Priority: body.Priority }),
    ...(notificationType === undefined ? {} : { NotificationType: notificationType }),
    SessionID: body.SessionID,
  })
  return Result.succeed({ ...command, details })
}

// --- POST /api/v1/followup --------------------------------------------------------------------

const Url = Schema.String.annotate({ expected: "a string that will be decoded as a trimmed string" })
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

/** `text`, `html`, `markdown` in any letter case (default `text`). */
const MessageTypeInput = Schema.String.check(
  Schema.makeFilter(
    (value: string) =>
      (followUpMessageTypes as ReadonlyArray<string>).includes(value.trim().toLowerCase())
        ? undefined
        : "Expected text, html or markdown",
    { toJsonSchema: () => ({ enum: [...followUpMessageTypes] }) },
  ),
)

const FlatMessage = Schema.Struct({
  URLs: Schema.optionalKey(Schema.Array(Url).check(Schema.isMaxLength(orderLimits.urls))),
  MessageType: Schema.optionalKey(MessageTypeInput),
  Message: Text(orderLimits.messageText),
}).annotate({ identifier: "FollowUpMessage" })

/**
 * The seed's `{"content": {URLs, MessageType, Message}}`, the flat `{URLs, MessageType, Message}`,
 * or just the text. One struct (not a union of the two objects) so that a problem inside
 * `content` is reported once, at its own path.
 */
const MessageObject = Schema.Struct({
  content: Schema.optionalKey(FlatMessage),
  URLs: FlatMessage.fields.URLs,
  MessageType: FlatMessage.fields.MessageType,
  Message: Schema.optionalKey(Text(orderLimits.messageText)),
}).check(
  Schema.makeFilter(
    (input: { readonly content?: unknown; readonly Message?: unknown }) =>
      input.content === undefined && input.Message === undefined
        ? { path: ["Message"], issue: 'Missing key (send "Message", or the seed\'s "content": {"Message": ...})' }
        : undefined,
    { toJsonSchema: () => ({ anyOf: [{ required: ["content"] }, { required: ["Message"] }] }) },
  ),
)

export const MessageInput = Schema.Union([MessageObject, Text(orderLimits.messageText)]).annotate({
  description:
    'The seed\'s `{"content": {URLs, MessageType, Message}}`, the flat `{URLs, MessageType, Message}`, or text',
  message: "Expected a message object or text",
})

export const FollowUpBody = Schema.Struct({
  OrderReqID: Schema.optionalKey(OrderReqId),
  OrderReqId: Schema.optionalKey(OrderReqId),
  TransactionUUID: Schema.optionalKey(TransactionUuid),
  Audience: Schema.Union([
    Schema.Array(Text(128)).check(Schema.isMinLength(1), Schema.isMaxLength(orderLimits.audience)),
    Text(128),
  ]).annotate({
    description: "The ProposalIDs whose sellers receive the follow-up",
    message: "Expected a list of ProposalIDs",
  }),
  Message: MessageInput,
  SessionID: Schema.optionalKey(Text(128)),
})
  .check(aliasCheck("OrderReqID", "OrderReqId", { required: true }))
  .annotate({ identifier: "FollowUpBody" })
export type FollowUpBody = typeof FollowUpBody.Type

export const toFollowUpCommand = (body: FollowUpBody, generateUuid: () => string): FollowUpCommand => {
  const raw = body.Message
  const flat: { readonly URLs?: ReadonlyArray<string>; readonly MessageType?: string; readonly Message: string } =
    typeof raw === "string"
      ? { Message: raw }
      : raw.content !== undefined
        ? raw.content
        : { ...raw, Message: raw.Message as string }
  const audience = typeof body.Audience === "string" ? [body.Audience] : [...new Set(body.Audience)]
  return {
    orderReqId: orderReqIdOf(body),
    transactionUuid: body.TransactionUUID ?? generateUuid(),
    transactionUuidGiven: body.TransactionUUID !== undefined,
    audience,
    message: {
      urls: flat.URLs ?? [],
      messageType: (flat.MessageType?.trim().toLowerCase() ?? "text") as FollowUpMessageType,
      text: flat.Message,
    },
    ...(body.SessionID === undefined ? {} : { sessionId: body.SessionID }),
  }
}

// --- PUT finalize / pause / resume ------------------------------------------------------------

/*
 * The bodies of these are optional: the endpoints also accept `null`, which is what an empty
 * body decodes to (`payload: [Body, Schema.Null]` in `api.ts`).
 */

export const FinaliseBody = Schema.Struct({
  ProposalID: Schema.optionalKey(ProposalId.annotate({ description: "The winning proposal (optional)" })),
  TransactionUUID: Schema.optionalKey(TransactionUuid),
}).annotate({ identifier: "FinaliseBody" })

export const PauseBody = Schema.Struct({
  Reason: Schema.optionalKey(Text(500, { description: "Shown to the sellers" })),
  TransactionUUID: Schema.optionalKey(TransactionUuid),
}).annotate({ identifier: "PauseBody" })

export const ResumeBody = Schema.Struct({ TransactionUUID: Schema.optionalKey(TransactionUuid) }).annotate({
  identifier: "ResumeBody",
})

/** An optional body: absent (empty) or `null` reads as `{}`. */
type Optional<S extends Schema.Top> = S["Type"] | null | undefined

export const toFinaliseCommand = (
  orderReqId: string,
  body: Optional<typeof FinaliseBody>,
  generateUuid: () => string,
): FinaliseCommand => ({
  orderReqId,
  transactionUuid: body?.TransactionUUID ?? generateUuid(),
  ...(body?.ProposalID === undefined ? {} : { proposalId: body.ProposalID }),
})

export const toPauseCommand = (
  orderReqId: string,
  body: Optional<typeof PauseBody>,
  generateUuid: () => string,
): PauseCommand => ({
  orderReqId,
  transactionUuid: body?.TransactionUUID ?? generateUuid(),
  ...(body?.Reason === undefined ? {} : { reason: body.Reason }),
})

export const toResumeCommand = (
  orderReqId: string,
  body: Optional<typeof ResumeBody>,
  generateUuid: () => string,
): ResumeCommand => ({ orderReqId, transactionUuid: body?.TransactionUUID ?? generateUuid() })

// --- path and query ---------------------------------------------------------------------------

/** `{OrderReqID}` in paths. */
export const OrderPathParams = { OrderReqID: OrderReqId }

const nonNegativeInt = /^\d{1,15}$/u

/** `from_seq` / `Last-Event-ID`: the last seq the client has seen (0 = from the start). */
export const SeqString = Schema.String.check(
  Schema.isPattern(nonNegativeInt, { message: "Expected a non-negative integer (the last seq seen)" }),
)
