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
import {
  aliasForm,
  decimalStringPattern,
  documented,
  positiveDecimalStringPattern,
  type WireForm,
} from "@dcent/shared/http/wireForm"
import { defaultPriority, type NotificationType, type Priority } from "@dcent/shared/orders/domain"
import { orderLimits } from "@dcent/shared/orders/limits"
import {
  IdText,
  IsoDate,
  isId,
  isPositive,
  Latitude,
  Longitude,
  MessageText,
  MessageTypeInput,
  NotificationTypeInput,
  numberLike,
  PauseReason,
  PriorityInput,
  Text,
  TransactionText,
  Urls,
} from "@dcent/shared/orders/wire"
import { Result, Schema } from "effect"
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
import { InlineDetailsIncomplete } from "./errors.ts"

// --- building blocks ---------------------------------------------------------------------------

export { NotificationTypeInput, PriorityInput, Text }

/** The order id `value` names once trimmed (as `OrderReqId` decodes it), or `undefined` when it is not a valid one. */
export const validOrderReqId = (value: string): string | undefined => {
  const id = value.trim()
  return isId(id) ? id : undefined
}

const orderIdDoc = (description: string, example: string) => ({
  description: `${description}: letters, digits, \`_\`, \`-\`, single \`.\` or \`:\` between them`,
  examples: [example],
})

export const OrderReqId = IdText(orderIdDoc("The order request id", "ORD-001")).annotate({
  description: "The order request id, e.g. `ORD-001`",
  examples: ["ORD-001"],
})

/** A ProposalID: the same rules as an order id. */
export const ProposalId = IdText(orderIdDoc("A proposal id", "PROP-001")).annotate({
  description: "A proposal id, e.g. `PROP-001`",
  examples: ["PROP-001"],
})

/** An idempotency key chosen by the client (a UUID is recommended). */
export const TransactionUuid = TransactionText({
  description: "Idempotency key (a UUID is recommended); generated when absent",
}).annotate({ description: "Idempotency key; generated when absent" })

export const NumberLike = numberLike(decimalStringPattern)

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
  if ("Lat" in input) return { lat: input.Lat, lng: input.Lng }
  if ("coordinates" in input) return { lat: input.coordinates[1], lng: input.coordinates[0] }
  return { lat: input[1], lng: input[0] }
}

const toPriority = (value: Priority | undefined): Priority => value ?? defaultPriority

/** A calendar date as written (`2025-11-01`, or the date part of `2025-11-01T00:00:00Z`); past dates are fine. */
export const DeliveryDate = IsoDate.annotate({
  description: "ISO 8601 date or date-time; the calendar date is kept (past dates are accepted)",
  examples: ["2025-11-01"],
})

const toDeliveryDate = (value: string): string => value.trim().slice(0, 10)

const Quantity = numberLike(positiveDecimalStringPattern)
  .check(isPositive)
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

/** The order id of a body that accepts both spellings (one is required by its `aliasCheck`). */
const orderReqIdOf = (body: { readonly OrderReqID?: string; readonly OrderReqId?: string }): string =>
  body.OrderReqID ?? body.OrderReqId ?? ""

const notificationTypeOf = (body: {
  readonly NotificationType?: NotificationType
  readonly "Notification type"?: NotificationType
}): NotificationType | undefined => body.NotificationType ?? body["Notification type"]

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
export const toInitiateCommand = (body: InitiateBody): Result.Result<InitiateCommand, InlineDetailsIncomplete> => {
  const orderReqId = orderReqIdOf(body)
  const notificationType = notificationTypeOf(body)
  const given = requiredInlineFields.filter((field) => body[field] !== undefined)
  const command = {
    orderReqId,
    sessionId: body.SessionID,
    ...(notificationType === undefined ? {} : { notificationType }),
  }
  if (given.length === 0 && body.Priority === undefined) return Result.succeed(command)
  const { BuyerID, Industry, Location, Products, DeliveryDate } = body
  if (
    BuyerID === undefined ||
    Industry === undefined ||
    Location === undefined ||
    Products === undefined ||
    DeliveryDate === undefined
  ) {
    const missing = requiredInlineFields.filter((field) => body[field] === undefined)
    return Result.fail(new InlineDetailsIncomplete({ orderReqId, missing, required: requiredInlineFields }))
  }
  const details = toOrderDetails({
    OrderReqID: orderReqId,
    BuyerID,
    Industry,
    Location,
    Products,
    DeliveryDate,
    ...(body.Priority === undefined ? {} : { Priority: body.Priority }),
    ...(notificationType === undefined ? {} : { NotificationType: notificationType }),
    SessionID: body.SessionID,
  })
  return Result.succeed({ ...command, details })
}

// --- POST /api/v1/followup --------------------------------------------------------------------

const FlatMessage = Schema.Struct({
  URLs: Schema.optionalKey(Urls),
  MessageType: Schema.optionalKey(MessageTypeInput),
  Message: MessageText,
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
  Message: Schema.optionalKey(MessageText),
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
    Schema.Array(ProposalId).check(Schema.isMinLength(1), Schema.isMaxLength(orderLimits.audience)),
    ProposalId,
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
  const flat: {
    readonly URLs?: ReadonlyArray<string>
    readonly MessageType?: FollowUpMessageType
    readonly Message: string
  } =
    typeof raw === "string"
      ? { Message: raw }
      : raw.content !== undefined
        ? raw.content
        : // `MessageObject` requires `Message` when there is no `content`.
          { ...raw, Message: raw.Message ?? "" }
  const audience = typeof body.Audience === "string" ? [body.Audience] : [...new Set(body.Audience)]
  return {
    orderReqId: orderReqIdOf(body),
    transactionUuid: body.TransactionUUID ?? generateUuid(),
    transactionUuidGiven: body.TransactionUUID !== undefined,
    audience,
    message: {
      urls: flat.URLs ?? [],
      messageType: flat.MessageType ?? "text",
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
  Reason: Schema.optionalKey(PauseReason),
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
