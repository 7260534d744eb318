/** Assertions on the REST surface every service shares: probes and API documents. */
import { expect } from "vitest"
import { waitForHttp } from "./processes.ts"
import type { RunningService } from "./services.ts"

export interface ReadyBody {
  readonly status: "ready"
  readonly checks: ReadonlyArray<{ readonly name: string; readonly ok: boolean; readonly problem?: string }>
}

export interface ErrorBody {
  readonly error: {
    readonly code: string
    readonly message: string
    readonly details: ReadonlyArray<{ readonly path: string; readonly problem: string }>
  }
}

/** Waits until `/readyz` answers 200 (topics may take a moment on a fresh Kafka) and returns its body. */
export const readyz = async (service: RunningService, timeoutMs = 45_000): Promise<ReadyBody> => {
  const response = await waitForHttp(`${service.httpUrl}/readyz`, { process: service, status: 200, timeoutMs })
  return (await response.json()) as ReadyBody
}

/** `/docs` is HTML; `/openapi.json` is an OpenAPI 3 document with the health paths. */
export const expectApiDocuments = async (baseUrl: string, title: string) => {
  const docs = await fetch(`${baseUrl}/docs`)
  expect(docs.status).toBe(200)
  expect(docs.headers.get("content-type")).toMatch(/^text\/html/)
  expect(await docs.text()).toMatch(/<html/i)

  const response = await fetch(`${baseUrl}/openapi.json`)
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toMatch(/^application\/json/)
  const document = (await response.json()) as {
    openapi: string
    info: { title: string; version: string }
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
  }
  expect(document.openapi).toMatch(/^3\.\d+\.\d+$/)
  expect(document.info.title).toBe(title)
  expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/healthz", "/readyz"]))
  expect(Object.keys(document.paths["/healthz"]?.get?.responses ?? {})).toContain("200")
  expect(Object.keys(document.paths["/readyz"]?.get?.responses ?? {})).toEqual(expect.arrayContaining(["200", "503"]))
}

/** With Redis unreachable: alive, but `/readyz` is 503 naming `redis` (and only redis), with `Retry-After`. */
export const expectNotReadyWithoutRedis = async (service: RunningService) => {
  const alive = await fetch(`${service.httpUrl}/healthz`)
  expect(alive.status).toBe(200)

  // Kafka and the topics become ready; Redis never does.
  const deadline = Date.now() + 45_000
  let body: ErrorBody | undefined
  let response: Response | undefined
  while (Date.now() < deadline) {
    response = await fetch(`${service.httpUrl}/readyz`)
    expect(response.status, service.output()).toBe(503)
    body = (await response.json()) as ErrorBody
    if (body.error.details.length === 1) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  expect(response?.headers.get("retry-after")).toMatch(/^\d+$/)
  expect(body?.error.code).toBe("not_ready")
  expect(body?.error.details).toEqual([{ path: "redis", problem: expect.stringMatching(/unreachable/) }])
  expect(service.hasExited()).toBe(false)
}
