/**
 * The wire bodies: the seed's spellings and nesting, GeoJSON, numeric strings and their edge
 * cases, and the field paths named in 400 responses (`body.Location.Lat`, ...).
 */
import { issueDetails } from "@dcent/shared/http/errors"
import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { toApiError } from "../../src/http/errors.ts"
import {
  FinaliseBody,
  FollowUpBody,
  InitiateBody,
  PauseBody,
  RegisterOrderBody,
  SeqString,
  toFinaliseCommand,
  toFollowUpCommand,
  toInitiateCommand,
  toOrderDetails,
  toPauseCommand,
} from "../../src/orders/schemas.ts"

/** Decodes like the HTTP layer does (all errors) and returns the value or the `{path, problem}` details. */
const decode = <S extends Schema.Decoder<unknown>>(schema: S, input: unknown) => {
  const result = Schema.decodeUnknownResult(schema)(input, { errors: "all" })
  return Result.isSuccess(result)
    ? { ok: true as const, value: result.success as S["Type"] }
    : { ok: false as const, details: issueDetails(result.failure.issue, "body") }
}

const ok = <S extends Schema.Decoder<unknown>>(schema: S, input: unknown): S["Type"] => {
  const result = decode(schema, input)
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.details)}`)
  return result.value
}

const paths = <S extends Schema.Decoder<unknown>>(schema: S, input: unknown) => {
  const result = decode(schema, input)
  if (result.ok) throw new Error("expected a failure")
  return result.details.map((detail) => detail.path)
}

const problems = <S extends Schema.Decoder<unknown>>(schema: S, input: unknown) => {
  const result = decode(schema, input)
  if (result.ok) throw new Error("expected a failure")
  return result.details
}

const order = {
  OrderReqID: "ORD-100",
  BuyerID: "BUYER-1",
  Industry: "Electronics",
  Location: { Lat: 12.9716, Lng: 77.5946 },
  Products: [{ Name: "LED panel", Quantity: 50, Unit: "pcs" }],
  DeliveryDate: "2025-11-01",
}

describe("register body", () => {
  it("normalises a complete body; Priority defaults to MEDIUM", () => {
    expect(toOrderDetails(ok(RegisterOrderBody, order))).toEqual({
      orderReqId: "ORD-100",
      buyerId: "BUYER-1",
      industry: "Electronics",
      location: { lat: 12.9716, lng: 77.5946 },
      products: [{ name: "LED panel", quantity: 50, unit: "pcs", attributes: {} }],
      deliveryDate: "2025-11-01",
      priority: "MEDIUM",
    })
  })

  it('accepts the seed\'s OrderReqId and "Notification type", trimmed, any letter case', () => {
    const { OrderReqID: _, ...rest } = order
    const details = toOrderDetails(
      ok(RegisterOrderBody, {
        ...rest,
        OrderReqId: " ORD-100 ",
        "Notification type": "gchat",
        Priority: "high",
        SessionID: "SESSION-1",
      }),
    )
    expect(details).toMatchObject({
      orderReqId: "ORD-100",
      notificationType: "GChat",
      priority: "HIGH",
      sessionId: "SESSION-1",
    })
  })

  it("accepts GeoJSON: a position [lng, lat] (altitude ignored) and a Point", () => {
    expect(toOrderDetails(ok(RegisterOrderBody, { ...order, Location: [77.5946, 12.9716] })).location).toEqual({
      lat: 12.9716,
      lng: 77.5946,
    })
    expect(toOrderDetails(ok(RegisterOrderBody, { ...order, Location: [77.5946, 12.9716, 900] })).location).toEqual({
      lat: 12.9716,
      lng: 77.5946,
    })
    expect(
      toOrderDetails(ok(RegisterOrderBody, { ...order, Location: { type: "Point", coordinates: [-0.1276, 51.5072] } }))
        .location,
    ).toEqual({ lat: 51.5072, lng: -0.1276 })
  })

  it("accepts numeric strings and the boundaries", () => {
    const details = toOrderDetails(
      ok(RegisterOrderBody, {
        ...order,
        Location: { Lat: "-90", Lng: "180.0" },
        Products: [{ Name: "x", Quantity: "2.5" }, { Name: "y", Quantity: "1e3" }, "cement"],
      }),
    )
    expect(details.location).toEqual({ lat: -90, lng: 180 })
    expect(details.products.map((product) => product.quantity)).toEqual([2.5, 1000, 1])
    expect(details.products[2]).toEqual({ name: "cement", quantity: 1, attributes: {} })
  })

  it.each([
    [{ Lat: 90.0001, Lng: 0 }, "body.Location.Lat", "between -90 and 90"],
    [{ Lat: 0, Lng: -180.5 }, "body.Location.Lng", "between -180 and 180"],
    [{ Lat: "abc", Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: "", Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: "NaN", Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: "Infinity", Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: "0x10", Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: "1e400", Lng: 0 }, "body.Location.Lat", "finite"],
    [{ Lat: null, Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: true, Lng: 0 }, "body.Location.Lat", "number or a numeric string"],
    [{ Lat: 1 }, "body.Location.Lng", "Missing key"],
    [[200, 10], "body.Location[0]", "between -180 and 180"],
    [[10, 95], "body.Location[1]", "between -90 and 90"],
    [[10], "body.Location[1]", "Missing key"],
    ["here", "body.Location", "GeoJSON"],
  ])("rejects Location %j at %s", (location, path, problem) => {
    const details = problems(RegisterOrderBody, { ...order, Location: location })
    expect(details).toEqual([{ path, problem: expect.stringContaining(problem) }])
  })

  it("names every bad product field with its index", () => {
    expect(
      problems(RegisterOrderBody, {
        ...order,
        Products: [
          { Name: "a", Quantity: 0 },
          { Name: " ", Quantity: "x" },
          { Name: "b", Quantity: -1 },
        ],
      }),
    ).toEqual([
      { path: "body.Products[0].Quantity", problem: "Expected a value greater than 0" },
      { path: "body.Products[1].Name", problem: "Expected a non-empty string" },
      { path: "body.Products[1].Quantity", problem: "Expected a number or a numeric string" },
      { path: "body.Products[2].Quantity", problem: "Expected a value greater than 0" },
    ])
    expect(paths(RegisterOrderBody, { ...order, Products: [] })).toEqual(["body.Products"])
    expect(paths(RegisterOrderBody, { ...order, Products: [42] })).toEqual(["body.Products[0]"])
  })

  it("accepts past delivery dates and the date part of a date-time; rejects impossible dates", () => {
    expect(toOrderDetails(ok(RegisterOrderBody, { ...order, DeliveryDate: "2001-01-01" })).deliveryDate).toBe(
      "2001-01-01",
    )
    expect(
      toOrderDetails(ok(RegisterOrderBody, { ...order, DeliveryDate: "2025-11-01T00:00:00+05:30" })).deliveryDate,
    ).toBe("2025-11-01")
    expect(toOrderDetails(ok(RegisterOrderBody, { ...order, DeliveryDate: "2024-02-29" })).deliveryDate).toBe(
      "2024-02-29",
    )
    for (const bad of ["2025-02-29", "2025-13-01", "01/11/2025", "", "2025-11-01T25:00:00Z"]) {
      expect(paths(RegisterOrderBody, { ...order, DeliveryDate: bad }), bad).toEqual(["body.DeliveryDate"])
    }
  })

  it("reports every missing field at once, and the OrderReqID with both spellings", () => {
    // BuyerID may be left out: it defaults to the authenticated buyer (400 in the handler otherwise).
    expect(problems(RegisterOrderBody, {})).toEqual([
      { path: "body.Industry", problem: "Missing key" },
      { path: "body.Location", problem: "Missing key" },
      { path: "body.Products", problem: "Missing key" },
      { path: "body.DeliveryDate", problem: "Missing key" },
    ])
    const { OrderReqID: _, ...withoutId } = order
    expect(problems(RegisterOrderBody, withoutId)).toEqual([
      { path: "body.OrderReqID", problem: 'Missing key (send "OrderReqID" or "OrderReqId")' },
    ])
    expect(problems(RegisterOrderBody, { ...order, OrderReqId: "ORD-200" })).toEqual([
      { path: "body.OrderReqId", problem: 'Differs from "OrderReqID"' },
    ])
  })

  it.each(["ORD 1", "ORD/1", "ORD..1", ".ORD", "ORD*", "x".repeat(129)])("rejects OrderReqID %j", (id) => {
    expect(paths(RegisterOrderBody, { ...order, OrderReqID: id })).toEqual(["body.OrderReqID"])
  })

  it("rejects unknown Priority and NotificationType values", () => {
    expect(problems(RegisterOrderBody, { ...order, Priority: "URGENT", NotificationType: "Fax" })).toEqual([
      { path: "body.Priority", problem: "Expected HIGH, MEDIUM or LOW" },
      { path: "body.NotificationType", problem: "Expected GChat, Email or SMS" },
    ])
  })

  it("rejects a body that is not an object", () => {
    expect(paths(RegisterOrderBody, [order])).toEqual(["body"])
    expect(paths(RegisterOrderBody, "ORD-1")).toEqual(["body"])
  })
})

describe("initiate body", () => {
  it("accepts the seed README's body exactly", () => {
    const body = ok(InitiateBody, {
      OrderReqId: "ORD-001",
      SessionID: "SESSION-123",
      "Notification type": "GChat",
    })
    expect(toInitiateCommand(body)).toEqual(
      Result.succeed({ orderReqId: "ORD-001", sessionId: "SESSION-123", notificationType: "GChat" }),
    )
  })

  it("takes complete inline details", () => {
    const { OrderReqID: _, ...details } = order
    const command = toInitiateCommand(
      ok(InitiateBody, { OrderReqID: "ORD-100", SessionID: "S-1", NotificationType: "Email", ...details }),
    )
    if (Result.isFailure(command)) throw new Error("expected success")
    expect(command.success.details).toMatchObject({
      orderReqId: "ORD-100",
      industry: "Electronics",
      notificationType: "Email",
      sessionId: "S-1",
      priority: "MEDIUM",
    })
  })

  it("names the missing fields of incomplete inline details", () => {
    const command = toInitiateCommand(
      ok(InitiateBody, { OrderReqID: "ORD-100", SessionID: "S-1", Industry: "Electronics", Priority: "LOW" }),
    )
    if (Result.isSuccess(command)) throw new Error("expected a failure")
    expect(command.failure.missing).toEqual(["BuyerID", "Location", "Products", "DeliveryDate"])
    expect(toApiError(command.failure).details.map((detail) => detail.path)).toEqual([
      "body.BuyerID",
      "body.Location",
      "body.Products",
      "body.DeliveryDate",
    ])
  })

  it("requires SessionID and an order id; conflicting spellings are rejected", () => {
    expect(problems(InitiateBody, { OrderReqId: "ORD-1" })).toEqual([
      { path: "body.SessionID", problem: "Missing key" },
    ])
    expect(problems(InitiateBody, { SessionID: "S" })).toEqual([
      { path: "body.OrderReqID", problem: 'Missing key (send "OrderReqID" or "OrderReqId")' },
    ])
    expect(
      problems(InitiateBody, {
        OrderReqID: "A",
        SessionID: "S",
        NotificationType: "SMS",
        "Notification type": "Email",
      }),
    ).toEqual([{ path: "body.Notification type", problem: 'Differs from "NotificationType"' }])
    // The same value in both spellings is fine.
    ok(InitiateBody, {
      OrderReqID: "A",
      OrderReqId: "A",
      SessionID: "S",
      NotificationType: "SMS",
      "Notification type": "sms",
    })
  })
})

describe("follow-up body", () => {
  const uuid = () => "generated-uuid"

  it("accepts the seed README's nested Message and generates a TransactionUUID", () => {
    const body = ok(FollowUpBody, {
      OrderReqID: "ORD-001",
      Audience: ["PROP-001"],
      Message: { content: { URLs: [], MessageType: "text", Message: "Please clarify delivery terms" } },
    })
    expect(toFollowUpCommand(body, uuid)).toEqual({
      orderReqId: "ORD-001",
      transactionUuid: "generated-uuid",
      transactionUuidGiven: false,
      audience: ["PROP-001"],
      message: { urls: [], messageType: "text", text: "Please clarify delivery terms" },
    })
  })

  it("accepts the flat Message, plain text, one ProposalID, and keeps a given TransactionUUID", () => {
    const flat = toFollowUpCommand(
      ok(FollowUpBody, {
        OrderReqId: "ORD-001",
        TransactionUUID: "tx-1",
        Audience: ["PROP-001", "PROP-002", "PROP-001"],
        Message: { URLs: ["https://example.com/spec.pdf"], MessageType: "Markdown", Message: "**when?**" },
      }),
      uuid,
    )
    expect(flat).toMatchObject({
      transactionUuid: "tx-1",
      transactionUuidGiven: true,
      audience: ["PROP-001", "PROP-002"],
      message: { urls: ["https://example.com/spec.pdf"], messageType: "markdown", text: "**when?**" },
    })
    const text = toFollowUpCommand(ok(FollowUpBody, { OrderReqID: "O", Audience: "PROP-9", Message: "hi" }), uuid)
    expect(text).toMatchObject({ audience: ["PROP-9"], message: { urls: [], messageType: "text", text: "hi" } })
  })

  it("reports problems inside the seed's nesting at their own paths", () => {
    expect(
      problems(FollowUpBody, {
        OrderReqID: "ORD-001",
        Audience: [],
        Message: { content: { URLs: ["ftp://x", "not a url"], MessageType: "video", Message: "" } },
      }),
    ).toEqual([
      { path: "body.Audience", problem: "Expected a value with a length of at least 1" },
      { path: "body.Message.content.URLs[0]", problem: "Expected an absolute http(s) URL" },
      { path: "body.Message.content.URLs[1]", problem: "Expected an absolute http(s) URL" },
      { path: "body.Message.content.MessageType", problem: "Expected text, html or markdown" },
      { path: "body.Message.content.Message", problem: "Expected a non-empty string" },
    ])
    expect(problems(FollowUpBody, { OrderReqID: "O", Audience: ["P"], Message: { URLs: [] } })).toEqual([
      {
        path: "body.Message.Message",
        problem: 'Missing key (send "Message", or the seed\'s "content": {"Message": ...})',
      },
    ])
    expect(paths(FollowUpBody, { OrderReqID: "O", Audience: ["P"], Message: 5 })).toEqual(["body.Message"])
    expect(paths(FollowUpBody, { OrderReqID: "O", Audience: ["P"], Message: "x", TransactionUUID: "a b" })).toEqual([
      "body.TransactionUUID",
    ])
  })
})

describe("finalise / pause bodies", () => {
  const uuid = () => "u-1"

  it("are optional (empty body, null or {})", () => {
    for (const body of [undefined, null, ok(FinaliseBody, {})]) {
      expect(toFinaliseCommand("ORD-1", body, uuid)).toEqual({
        orderReqId: "ORD-1",
        transactionUuid: "u-1",
      })
    }
  })

  it("carry ProposalID / Reason / TransactionUUID", () => {
    expect(toFinaliseCommand("ORD-1", ok(FinaliseBody, { ProposalID: "PROP-1", TransactionUUID: "t" }), uuid)).toEqual({
      orderReqId: "ORD-1",
      proposalId: "PROP-1",
      transactionUuid: "t",
    })
    expect(toPauseCommand("ORD-1", ok(PauseBody, { Reason: "holiday" }), uuid)).toEqual({
      orderReqId: "ORD-1",
      reason: "holiday",
      transactionUuid: "u-1",
    })
    expect(paths(FinaliseBody, { ProposalID: "" })).toEqual(["body.ProposalID"])
  })
})

describe("seq parameters", () => {
  it.each(["0", "12", "900719925474099"])("accept %s", (value) => {
    expect(ok(SeqString, value)).toBe(value)
  })
  it.each(["-1", "1.5", "abc", "", "1e3"])("reject %j", (value) => {
    expect(paths(SeqString, value)).toEqual(["body"])
  })
})
