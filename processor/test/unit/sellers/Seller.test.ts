import { issueDetails } from "@dcent/shared/http/errors"
import { Exit, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { industryKey, industryKeys, Seller, SellerJson } from "../../../src/sellers/Seller.ts"

const decode = (input: unknown) => Schema.decodeUnknownExit(Seller)(input, { errors: "all" })

/** The `{path, problem}` details a 400 would carry (as the shared error rendering builds them). */
const problems = (input: unknown) => {
  const exit = decode(input)
  if (Exit.isSuccess(exit)) throw new Error("expected the seller to be rejected")
  const reason = exit.cause.reasons[0]
  if (reason?._tag !== "Fail") throw new Error("expected a schema failure")
  return issueDetails(reason.error.issue)
}

const valid = {
  SellerID: "SELLER-001",
  Name: "Acme Traders",
  Industries: ["Electronics"],
  Location: { Lat: 12.9716, Lng: 77.5946 },
}

describe("Seller schema", () => {
  it("accepts the minimal seller and defaults Active to true", () => {
    const exit = decode(valid)
    expect(Exit.isSuccess(exit) && exit.value).toEqual({ ...valid, Active: true })
  })

  it("keeps optional fields and an explicit Active", () => {
    const full = {
      ...valid,
      ChatWebhookURL: "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t",
      Email: "sales@acme.example",
      Active: false,
    }
    const exit = decode(full)
    expect(Exit.isSuccess(exit) && exit.value).toEqual(full)
  })

  it("accepts a GeoJSON position [lng, lat] and normalises it to {Lat, Lng}", () => {
    const exit = decode({ ...valid, Location: [77.5946, 12.9716] })
    expect(Exit.isSuccess(exit) && exit.value.Location).toEqual({ Lat: 12.9716, Lng: 77.5946 })
  })

  it("encodes (and stores) Location as {Lat, Lng}", () => {
    const seller = Schema.decodeUnknownSync(Seller)({ ...valid, Location: [77.5946, 12.9716] })
    expect(Schema.encodeSync(Seller)(seller).Location).toEqual({ Lat: 12.9716, Lng: 77.5946 })
    expect(JSON.parse(Schema.encodeSync(SellerJson)(seller)).Location).toEqual({ Lat: 12.9716, Lng: 77.5946 })
  })

  it("rejects a latitude out of range at path Location.Lat", () => {
    expect(problems({ ...valid, Location: { Lat: 91, Lng: 77 } })).toEqual([
      { path: "Location.Lat", problem: "Expected a value between -90 and 90" },
    ])
  })

  it("rejects a longitude out of range, and out-of-range GeoJSON coordinates by index", () => {
    expect(problems({ ...valid, Location: { Lat: 12, Lng: -181 } })).toEqual([
      { path: "Location.Lng", problem: "Expected a value between -180 and 180" },
    ])
    // GeoJSON order: [lng, lat], so a bad latitude is at index 1.
    expect(problems({ ...valid, Location: [77, 95] })).toEqual([
      { path: "Location[1]", problem: "Expected a value between -90 and 90" },
    ])
  })

  it("rejects non-finite coordinates and a Location that is neither form", () => {
    expect(new Set(problems({ ...valid, Location: { Lat: Number.NaN, Lng: 0 } }).map((d) => d.path))).toEqual(
      new Set(["Location.Lat"]),
    )
    expect(problems({ ...valid, Location: "12.9,77.5" }).map((d) => d.path)).toEqual(["Location"])
    expect(problems({ ...valid, Location: [77] }).map((d) => d.path)[0]).toMatch(/^Location/)
  })

  it("reports every bad field with its path", () => {
    const paths = problems({
      SellerID: "",
      Name: "  ",
      Industries: [],
      Location: { Lat: 0, Lng: 0 },
      ChatWebhookURL: "ftp://example.com/hook",
      Email: "not-an-email",
      Active: "yes",
    }).map((detail) => detail.path)
    expect(paths).toEqual(["SellerID", "Name", "Industries", "ChatWebhookURL", "Email", "Active"])
  })

  it("rejects ids with whitespace, blank industries, and relative URLs", () => {
    expect(problems({ ...valid, SellerID: "SELLER 1" }).map((d) => d.path)).toEqual(["SellerID"])
    expect(problems({ ...valid, Industries: ["Electronics", " "] }).map((d) => d.path)).toEqual(["Industries[1]"])
    expect(problems({ ...valid, ChatWebhookURL: "/v1/spaces/AAA" }).map((d) => d.path)).toEqual(["ChatWebhookURL"])
  })

  it("requires SellerID, Name, Industries and Location", () => {
    expect(problems({}).map((d) => d.path)).toEqual(["SellerID", "Name", "Industries", "Location"])
  })
})

describe("industry keys", () => {
  it("trims and lower-cases, without duplicates", () => {
    expect(industryKey("  Electronics ")).toBe("electronics")
    expect(industryKeys({ Industries: ["Electronics", "electronics", "Textiles"] })).toEqual([
      "electronics",
      "textiles",
    ])
  })
})
