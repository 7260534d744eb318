/**
 * The OpenAPI documents both services serve (`/openapi.json`, `OpenApi.fromApi`) against the
 * validation the servers run (the endpoints' own schemas, found through `HttpApi.reflect`, and the
 * one rule a handler checks: the requestor's inline order details).
 *
 * - Accepted: values generated from each request body, path, query and header schema of the
 *   documents (fast-check, from the JSON Schema; kept only when Ajv finds them valid) all decode.
 *   A client generated from the documents is never refused for its data.
 * - Rejected: a valid body with one field broken the way the document forbids (pattern, length,
 *   enum, range, required, type), when Ajv agrees it is invalid, is refused.
 */

import { Ajv2020 } from "ajv/dist/2020.js"
import formats from "ajv-formats"
import { Exit, Schema } from "effect"
import { HttpApi, OpenApi } from "effect/http-api"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ProcessorApi } from "../../processor/src/http/Api.ts"
import { RequestorApi } from "../../requestor/src/http/Api.ts"
import { InitiateBody, toInitiateCommand } from "../../requestor/src/orders/schemas.ts"

type Json = Record<string, unknown>
type Validate = (value: unknown) => boolean

interface Operation {
  readonly service: string
  readonly method: string
  /** As in the document: `/api/v1/orders/{OrderReqID}`. */
  readonly path: string
  readonly body?: { readonly schema: Json; readonly accepts: Validate }
  readonly parameters: ReadonlyArray<{ readonly name: string; readonly schema: Json; readonly accepts: Validate }>
}

// --- the servers' validators, from the APIs themselves ------------------------------------------

const accepts =
  (schema: Schema.Top): Validate =>
  (value) =>
    Exit.isSuccess(Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>)(value, { errors: "all" }))

/** Rules the handlers check after the schema (none but the requestor's inline order details). */
const handlerRules: Record<string, Validate> = {
  "requestor POST /api/v1/initiate": (value) => {
    const decoded = Schema.decodeUnknownExit(InitiateBody)(value)
    return Exit.isSuccess(decoded) && toInitiateCommand(decoded.value)._tag === "Success"
  },
}

/** The field schemas of an endpoint's params/query/headers (a struct, possibly wrapped). */
const fields = (schema: Schema.Top | undefined): Record<string, Schema.Top> => {
  const struct = schema as unknown as
    | {
        readonly fields?: Record<string, Schema.Top>
        readonly schema?: { readonly fields?: Record<string, Schema.Top> }
      }
    | undefined
  return struct?.fields ?? struct?.schema?.fields ?? {}
}

const operationsOf = (service: string, api: unknown, document: Json): Array<Operation> => {
  const paths = document.paths as Record<string, Record<string, Json>>
  const operations: Array<Operation> = []
  HttpApi.reflect(api as never, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const path = endpoint.path.replace(/:(\w+)/g, "{$1}")
      const method = endpoint.method.toLowerCase()
      const documented = paths[path]?.[method]
      if (documented === undefined) throw new Error(`${service}: ${method} ${path} is not in the document`)
      const schemas = {
        path: fields(endpoint.params),
        query: fields(endpoint.query),
        header: fields(endpoint.headers),
      } as Record<string, Record<string, Schema.Top>>
      const parameters = ((documented.parameters ?? []) as Array<Json>).map((parameter) => {
        const schema = schemas[parameter.in as string]?.[parameter.name as string]
        if (schema === undefined) throw new Error(`${service}: no schema for parameter ${String(parameter.name)}`)
        return { name: String(parameter.name), schema: parameter.schema as Json, accepts: accepts(schema) }
      })
      const json = endpoint.payload.get("application/json")
      const key = `${service} ${endpoint.method} ${path}`
      const body =
        json === undefined
          ? undefined
          : {
              schema: ((documented.requestBody as Json).content as Record<string, Json>)["application/json"]
                ?.schema as Json,
              accepts:
                handlerRules[key] ??
                accepts(json.schemas.length === 1 ? json.schemas[0] : Schema.Union(json.schemas as never)),
            }
      operations.push({ service, method, path, parameters, ...(body === undefined ? {} : { body }) })
    },
  })
  return operations
}

const documents: Record<string, Json> = {
  requestor: OpenApi.fromApi(RequestorApi) as unknown as Json,
  processor: OpenApi.fromApi(ProcessorApi) as unknown as Json,
}
const operations = [
  ...operationsOf("requestor", RequestorApi, documents.requestor as Json),
  ...operationsOf("processor", ProcessorApi, documents.processor as Json),
]

// --- the documents' validators ------------------------------------------------------------------

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
// ajv-formats is CommonJS: its plugin is the default export of the default export.
;(formats as unknown as { default: (instance: Ajv2020) => void }).default(ajv)

/** A validator of `schema` (its `$ref`s point into `document`'s components). */
const documentValidator = (service: string, schema: Json): Validate =>
  ajv.compile({ ...schema, components: documents[service]?.components }) as Validate

// --- values from a JSON Schema ------------------------------------------------------------------

const resolve = (service: string, schema: Json): Json => {
  if (typeof schema.$ref !== "string") return schema
  const name = schema.$ref.replace("#/components/schemas/", "")
  const components = (documents[service]?.components ?? {}) as { readonly schemas?: Record<string, Json> }
  const target = components.schemas?.[name]
  if (target === undefined) throw new Error(`unresolved ${schema.$ref}`)
  const { $ref: _, ...rest } = schema
  return resolve(service, { ...target, ...rest })
}

/** `a` and `b` together: properties and `required` merged, other keywords of `b` win. */
const merge = (a: Json, b: Json): Json => ({
  ...a,
  ...b,
  ...(a.properties !== undefined || b.properties !== undefined
    ? { properties: { ...(a.properties as Json), ...(b.properties as Json) } }
    : {}),
  ...(a.required !== undefined || b.required !== undefined
    ? { required: [...((a.required as Array<string>) ?? []), ...((b.required as Array<string>) ?? [])] }
    : {}),
})

const iso = (date: Date) => date.toISOString()
const dates = fc.date({ min: new Date("1990-01-01"), max: new Date("2100-12-31"), noInvalidDate: true })

/** Values of `schema`, most of them valid (the caller keeps those the document accepts). */
const arbitrary = (service: string, input: Json): fc.Arbitrary<unknown> => {
  const schema = resolve(service, input)
  if (Array.isArray(schema.allOf)) {
    const { allOf, ...rest } = schema
    return arbitrary(
      service,
      (allOf as Array<Json>).reduce((merged, part) => merge(merged, resolve(service, part)), rest),
    )
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    if (Array.isArray(schema[key])) {
      const { [key]: branches, ...rest } = schema
      return fc.oneof(...(branches as Array<Json>).map((branch) => arbitrary(service, merge(rest, branch))))
    }
  }
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as Array<unknown>))
  if (schema.dependentRequired !== undefined) {
    // All of a dependent group or none of it.
    const { dependentRequired, ...rest } = schema
    const group = [
      ...new Set(Object.entries(dependentRequired as Record<string, Array<string>>).flat(2) as Array<string>),
    ]
    const without = Object.fromEntries(
      Object.entries((rest.properties as Json) ?? {}).filter(([name]) => !group.includes(name)),
    )
    return fc.oneof(
      arbitrary(service, { ...rest, properties: without }),
      arbitrary(service, merge(rest, { required: group })),
    )
  }
  const type = schema.type ?? (schema.properties !== undefined ? "object" : undefined)
  switch (type) {
    case "string": {
      const min = (schema.minLength as number) ?? 0
      const max = (schema.maxLength as number) ?? 64
      const base =
        schema.format === "date"
          ? dates.map((date) => iso(date).slice(0, 10))
          : schema.format === "date-time"
            ? dates.map(iso)
            : schema.format === "uri"
              ? fc.webUrl({ validSchemes: ["http", "https"] })
              : schema.format === "email"
                ? fc.emailAddress()
                : typeof schema.pattern === "string"
                  ? fc.stringMatching(new RegExp(schema.pattern, "u"), { maxLength: Math.min(max, 40) })
                  : fc.string({ minLength: min, maxLength: Math.min(max, 40) })
      return base.filter((value) => value.length >= min && value.length <= max)
    }
    case "integer":
      return fc.integer({ min: (schema.minimum as number) ?? -1e6, max: (schema.maximum as number) ?? 1e6 })
    case "number": {
      const min = (schema.minimum as number) ?? (schema.exclusiveMinimum as number) ?? -1e9
      const max = (schema.maximum as number) ?? 1e9
      return fc
        .double({ min, max, noNaN: true, noDefaultInfinity: true })
        .filter((value) => schema.exclusiveMinimum === undefined || value > (schema.exclusiveMinimum as number))
    }
    case "boolean":
      return fc.boolean()
    case "null":
      return fc.constant(null)
    case "array": {
      if (Array.isArray(schema.prefixItems)) {
        return fc.tuple(...(schema.prefixItems as Array<Json>).map((item) => arbitrary(service, item)))
      }
      return fc.array(arbitrary(service, (schema.items as Json) ?? {}), {
        minLength: (schema.minItems as number) ?? 0,
        maxLength: Math.min((schema.maxItems as number) ?? 4, Math.max((schema.minItems as number) ?? 0, 4)),
      })
    }
    case "object": {
      const properties = (schema.properties as Record<string, Json>) ?? {}
      const required = (schema.required as Array<string>) ?? []
      return fc.record(
        Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, arbitrary(service, property)])),
        { requiredKeys: required.filter((name) => name in properties) },
      )
    }
    default:
      return fc.constantFrom("text", 1, true, null)
  }
}

/** Valid values of `schema` (a fixed seed: the same every run). */
const samples = (service: string, schema: Json, valid: Validate): Array<unknown> =>
  fc.sample(arbitrary(service, schema).filter(valid), { numRuns: 10, seed: 42 })

// --- breaking one field of a valid value --------------------------------------------------------

/** Values of `schema`'s own kind that break one of its stated constraints. */
const breakers = (service: string, input: Json): Array<unknown> => {
  const schema = resolve(service, input)
  const out: Array<unknown> = [true, { unexpected: 1 }]
  if (typeof schema.pattern === "string" || schema.format !== undefined) out.push("not valid/!", "2025-13-45")
  if (typeof schema.maxLength === "number") out.push("x".repeat(schema.maxLength + 1))
  if (schema.minLength === 1) out.push("")
  if (Array.isArray(schema.enum)) out.push("NOT_LISTED")
  if (typeof schema.maximum === "number") out.push(schema.maximum + 1)
  if (typeof schema.minimum === "number") out.push(schema.minimum - 1)
  if (typeof schema.exclusiveMinimum === "number") out.push(schema.exclusiveMinimum, "0")
  if (typeof schema.maxItems === "number") out.push([])
  return out
}

/** `value` with one field (at any depth, first array item) replaced or removed. */
function* mutations(service: string, input: Json, value: unknown, path: string): Generator<[string, unknown]> {
  const schema = resolve(service, input)
  for (const branch of ((schema.anyOf ?? schema.oneOf) as Array<Json>) ?? []) {
    yield* mutations(service, branch, value, path)
  }
  const parts = [schema, ...((schema.allOf as Array<Json>) ?? [])].map((part) => resolve(service, part))
  const properties = Object.assign({}, ...parts.map((part) => part.properties ?? {})) as Record<string, Json>
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Json
    for (const [name, property] of Object.entries(properties)) {
      if (!(name in record)) continue
      const { [name]: _, ...without } = record
      yield [`${path}.${name} removed`, without]
      for (const replacement of breakers(service, property)) {
        yield [`${path}.${name} = ${JSON.stringify(replacement)}`, { ...record, [name]: replacement }]
      }
      for (const [where, inner] of mutations(service, property, record[name], `${path}.${name}`)) {
        yield [where, { ...record, [name]: inner }]
      }
    }
  }
  if (Array.isArray(value) && value.length > 0) {
    const items = (schema.prefixItems as Array<Json>) ?? [schema.items as Json]
    for (const [index, item] of items.entries()) {
      if (item === undefined || index >= value.length) continue
      for (const replacement of breakers(service, item)) {
        const copy = [...value]
        copy[index] = replacement
        yield [`${path}[${index}] = ${JSON.stringify(replacement)}`, copy]
      }
    }
  }
}

// --- the checks ---------------------------------------------------------------------------------

describe("OpenAPI documents against the servers' validation", () => {
  it("cover every endpoint with a body or parameters, and state the constraints", () => {
    const withBody = operations.filter((operation) => operation.body !== undefined)
    expect(withBody.map((operation) => `${operation.service} ${operation.method} ${operation.path}`).sort()).toEqual([
      "processor post /api/v1/edit-lock",
      "processor post /api/v1/edit-lock/release",
      "processor post /api/v1/followup",
      "processor post /api/v1/proposal-submissions",
      "processor post /api/v1/sellers",
      "requestor post /api/v1/followup",
      "requestor post /api/v1/initiate",
      "requestor post /api/v1/orders",
      "requestor put /api/v1/finalize/{OrderReqID}",
      "requestor put /api/v1/pause/{OrderReqID}",
      "requestor put /api/v1/resume/{OrderReqID}",
    ])
    const text = JSON.stringify(documents)
    for (const stated of [
      "^[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*$",
      '"format":"date"',
      '"enum":["HIGH","MEDIUM","LOW"]',
    ]) {
      expect(text).toContain(stated)
    }
  })

  it("every 503 answer states its Retry-After header", () => {
    for (const [service, document] of Object.entries(documents)) {
      for (const [path, methods] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
        for (const [method, operation] of Object.entries(methods)) {
          const unavailable = (operation.responses as Record<string, Json>)["503"]
          if (unavailable === undefined) continue
          expect(Object.keys((unavailable.headers as Json) ?? {}), `${service} ${method} ${path}`).toContain(
            "retry-after",
          )
        }
      }
    }
  })

  for (const operation of operations) {
    const name = `${operation.service} ${operation.method.toUpperCase()} ${operation.path}`
    const body = operation.body
    if (body !== undefined) {
      const valid = documentValidator(operation.service, body.schema)
      it(`${name}: every body valid per the document is accepted`, () => {
        fc.assert(
          fc.property(arbitrary(operation.service, body.schema).filter(valid), (value) => {
            expect(body.accepts(value), JSON.stringify(value)).toBe(true)
          }),
          { numRuns: 150, seed: 11 },
        )
      }, 60_000)
      it(`${name}: a body broken the way the document forbids is refused`, () => {
        let checked = 0
        for (const base of samples(operation.service, body.schema, valid)) {
          expect(body.accepts(base)).toBe(true)
          for (const [where, broken] of mutations(operation.service, body.schema, base, "body")) {
            if (valid(broken)) continue
            checked++
            expect(body.accepts(broken), `${where}: ${JSON.stringify(broken)}`).toBe(false)
          }
        }
        expect(checked).toBeGreaterThan(0)
      }, 60_000)
    }
    for (const parameter of operation.parameters) {
      it(`${name}: parameter ${parameter.name} valid per the document is accepted, broken refused`, () => {
        const valid = documentValidator(operation.service, parameter.schema)
        fc.assert(
          fc.property(arbitrary(operation.service, parameter.schema).filter(valid), (value) => {
            expect(parameter.accepts(value), JSON.stringify(value)).toBe(true)
          }),
          { numRuns: 100, seed: 11 },
        )
        for (const broken of breakers(operation.service, parameter.schema)) {
          if (typeof broken !== "string" || valid(broken)) continue
          expect(parameter.accepts(broken), JSON.stringify(broken)).toBe(false)
        }
      }, 60_000)
    }
  }
})
