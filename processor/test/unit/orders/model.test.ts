/**
 * `encodeOrderState` (the commit's fast path: `JSON.stringify`) writes what the schema would:
 * for any state the schema describes, the JSON documents are the same (key order aside), and what
 * it writes reads back through `OrderStateJson` to a state that is written the same way again.
 */
import { isDeepStrictEqual } from "node:util"
import { Arbitrary, Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { encodeOrderState, OrderState, OrderStateJson } from "../../../src/orders/model.ts"

const encodeWithSchema = Schema.encodeSync(OrderStateJson)
const decode = Schema.decodeUnknownSync(OrderStateJson)

const check = (property: (state: OrderState) => boolean) =>
  Effect.runPromise(Arbitrary.checkEffect(Arbitrary.schema(OrderState), property, { runs: 200, seed: 42 }))

/** NaN and ±Infinity have no JSON form (both encoders write `null`); states never hold them. */
const finite = (text: string) => !/[:,[]null\b/.test(text)

describe("encodeOrderState", () => {
  it("writes the same JSON document as OrderStateJson (key order aside), for any state", async () => {
    const result = await check((state) =>
      isDeepStrictEqual(JSON.parse(encodeOrderState(state)), JSON.parse(encodeWithSchema(state))),
    )
    expect(result._tag, Arbitrary.formatCheckFailure(result)).toBe("Passed")
  })

  it("reads back through OrderStateJson to a state written the same way again", async () => {
    const result = await check((state) => {
      const text = encodeOrderState(state)
      return !finite(text) || isDeepStrictEqual(JSON.parse(encodeOrderState(decode(text))), JSON.parse(text))
    })
    expect(result._tag, Arbitrary.formatCheckFailure(result)).toBe("Passed")
  })
})
